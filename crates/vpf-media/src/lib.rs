//! The media engine: the one place where ffmpeg and ffprobe commands are
//! built and run. The split, transcode and merge handlers call these steps:
//!
//! 1. [`probe`] the source (frames counted, start, rate, rotation, audio;
//!    a source of sound alone makes an audio job with no pieces);
//! 2. [`piece_seconds`] and [`split_video`]: video-only pieces cut at key
//!    frames by stream copy, each with its real start and frame count;
//! 3. [`transcode_piece`] for each piece: H.264, every frame kept; and,
//!    beside the pieces, [`extract_audio`] for each audio track: the whole
//!    track encoded once to AAC (and the default one to MP3 beside it when
//!    asked), aligned with the first video frame, denoised and normalised
//!    to a loudness target in two passes when the profile asks ([`sound`]); and
//!    [`extract_subtitles`]: every text subtitle track as WebVTT on the
//!    same timeline (bitmap ones cannot become text and are dropped);
//! 4. [`merge`]: pieces joined in order with the audio and subtitles,
//!    verified ([`verify`], [`verify_hls`]), and packaged into every format
//!    from that one encode (HLS with alternate renditions when there are
//!    several audio tracks or subtitles), and the ladder's renditions as
//!    CMAF HLS and DASH ([`abr`]).
//!
//! Argument lists are built by pure functions (`*_args`) so they can be
//! tested without ffmpeg. Every output is written under a temporary name and
//! renamed into place only when complete and checked. Errors carry stable
//! kinds: unreadable input is `CorruptMedia`, an ffmpeg failure on input that
//! probed fine is `EncodeFailed`, an output that fails its checks is
//! `VerifyFailed`.

pub mod abr;
mod audio;
pub mod cmaf;
mod decode;
mod hls;
mod hls_check;
mod join;
mod output;
mod package;
mod probe;
mod run;
pub mod sound;
mod split;
mod sprite;
mod step;
mod subtitles;
mod temp;
mod tools;
mod transcode;
mod verify;
mod watermark;

#[cfg(feature = "testmedia")]
pub mod testmedia;

pub use audio::{
    audio_args, extract_audio, extract_audio_with_mp3, has_audio, mp3_rate, output_rate, track_rate,
};
pub use decode::{Decoded, decode, decode_at};
pub use hls::{
    MASTER, MasterPlaylist, Media, VIDEO, Variant, audio_playlist, avc1_codec, has_renditions,
    rendition_args, subtitle_playlist, verify_master,
};
pub use hls_check::{HlsContent, Playlist, SegmentScan, verify_hls, verify_media_playlist};
pub use join::{MuxTrack, Pictures, concat_list, merge_args};
pub use output::{Packaged, PackagedFile, main_rel};
pub use package::{
    GIF_FPS, GIF_WIDTH, THUMBNAIL_AT, audio_hls_args, merge, package_args, thumbnail_seconds,
};
pub use probe::{MAX_SIDE, Probed, expected_audio_seconds, probe, probe_source};
pub use split::{piece_seconds, split_args, split_video};
pub use sprite::{SpriteGrid, sprite_args, sprite_grid, thumbnails_vtt};
pub use step::{StepSettings, elapsed_ms};
pub use subtitles::{
    Cue, align_cues, extract_subtitles, flatten_cues, mov_text_cues, parse_vtt, read_vtt,
    subtitle_args, write_vtt,
};
pub use tools::{LAYER_BIN, Tools};
pub use transcode::{
    HLS_SEGMENT_SECONDS, KEYFRAME_SECONDS, KeyFrames, encoded_size, encoder_time_base,
    keyframe_interval, ladder_graph, output_size, piece_muxer, transcode_args, transcode_piece,
    video_filter,
};
pub use verify::{AAC_FRAME, Counted, verify};
pub use watermark::{overlay_graph, plan_mark, probe_mark};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use vpf_core::job::{JobPlan, MediaInfo, Profile};
    use vpf_core::nas::JobDir;

    use super::*;

    fn send<T: Send>(_: &T) {}

    /// Handlers run on a multi-threaded runtime (axum): every step's future
    /// must be `Send`. This only has to compile.
    #[allow(dead_code, unused_must_use)]
    fn futures_are_send(
        t: &Tools,
        p: &Path,
        i: &MediaInfo,
        pr: &Profile,
        plan: &JobPlan,
        j: &JobDir,
        pd: &Probed,
    ) {
        send(&probe(t, p));
        send(&probe_source(t, p));
        send(&split_video(t, p, pd, 1.0, j));
        send(&extract_audio(t, p, i, 0, pr, p));
        send(&extract_subtitles(t, p, i, &[0], |_| p.to_path_buf()));
        send(&transcode_piece(t, p, Some(p), p, plan, 0));
        send(&probe_mark(t, p, "m"));
        send(&merge(t, plan, j));
        send(&verify(t, p, plan));
        send(&decode_at(t, p, &[0.0]));
        send(&t.version());
    }
}
