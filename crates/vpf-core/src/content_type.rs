//! The Content-Type of every kind of file this project writes or reads, by
//! extension: the OSS client sends it with an upload that names none, the
//! packager labels each output file with it, and OSS serves it back to
//! players and browsers.

/// A Content-Type from the key's (or file name's) extension, any case.
pub fn content_type_for(key: &str) -> &'static str {
    let ext = key
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "flv" => "video/x-flv",
        "avi" => "video/x-msvideo",
        "mov" => "video/quicktime",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "ts" => "video/mp2t",
        "m4s" => "video/iso.segment",
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "vtt" => "text/vtt",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "json" => "application/json",
        "txt" | "log" => "text/plain",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type_for("out/a/a.MP4"), "video/mp4");
        assert_eq!(
            content_type_for("out/a/hls/index.m3u8"),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(content_type_for("hls/index00001.ts"), "video/mp2t");
        assert_eq!(content_type_for("abr/manifest.mpd"), "application/dash+xml");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
    }
}
