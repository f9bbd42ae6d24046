//! Object keys: what we accept from events, and how output keys and job ids
//! are derived from them. Nothing here touches a file system, but every key
//! that passes [`validate_key`] is safe to use as a relative path.

use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// OSS keys are at most 1023 bytes.
pub const MAX_KEY_BYTES: usize = 1023;

/// Refuse keys that OSS would refuse or that could escape a folder when used
/// as a path: empty, too long, NUL or control characters, a leading `/` or
/// `\`, or a `.`/`..` segment.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("object key is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(format!(
            "object key is {} bytes; OSS allows at most {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if key.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(format!(
            "object key {key:?} contains a control character"
        )));
    }
    if key.starts_with('/') || key.starts_with('\\') {
        return Err(Error::invalid(format!(
            "object key {key:?} starts with a slash"
        )));
    }
    if key.split(['/', '\\']).any(|seg| seg == ".." || seg == ".") {
        return Err(Error::invalid(format!(
            "object key {key:?} has a '.' or '..' segment; refused so that no path can escape its folder"
        )));
    }
    Ok(())
}

/// A single path segment (a file stem): a valid key without separators.
pub fn validate_segment(s: &str) -> Result<()> {
    validate_key(s)?;
    if s.contains(['/', '\\']) {
        return Err(Error::invalid(format!("{s:?} must not contain a slash")));
    }
    Ok(())
}

/// OSS bucket names: 3-63 of lowercase letters, digits and hyphens, not
/// starting or ending with a hyphen.
pub fn validate_bucket(b: &str) -> Result<()> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !b.starts_with('-')
        && !b.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "bucket name {b:?} is not valid: 3-63 lowercase letters, digits or '-'"
        )))
    }
}

/// The key as delivered, and its percent-decoded form when that differs.
/// Whether OSS events carry keys URL-encoded is not clearly documented
/// in OSS's event notification reference, so callers try both, raw first.
pub fn key_candidates(raw: &str) -> Vec<String> {
    let mut out = vec![raw.to_string()];
    if raw.contains('%')
        && let Ok(decoded) = percent_decode_str(raw).decode_utf8()
        && decoded != raw
    {
        out.push(decoded.into_owned());
    }
    out
}

/// Whether `key` starts with `prefix` and ends with `suffix` (empty matches all).
pub fn matches_filter(key: &str, prefix: &str, suffix: &str) -> bool {
    key.starts_with(prefix) && key.ends_with(suffix)
}

/// The file extension of a key, without the dot (`source/a.MOV` gives
/// `MOV`); `None` when the file name has none.
pub fn extension(key: &str) -> Option<&str> {
    let file = key.rsplit(['/', '\\']).next().unwrap_or(key);
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext),
        _ => None,
    }
}

/// Whether the key's extension is one of `allowed` (without dots), ignoring
/// case: phones and cameras write `.MP4` and `.MOV`.
pub fn has_extension(key: &str, allowed: &[String]) -> bool {
    extension(key).is_some_and(|e| allowed.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// Split a source key into the output base and the stem:
/// `source/shows/a.mov` with input prefix `source/` and output prefix `dest`
/// gives (`dest/shows/a.mov`, `a`). The output folder is the source's path
/// below the input prefix, file name and extension included, so two
/// sources never share outputs: not in different folders, and not when they
/// differ only in extension (`a.mp4`, `a.mov`).
pub fn output_base(key: &str, input_prefix: &str, output_prefix: &str) -> Result<(String, String)> {
    validate_key(key)?;
    let rel = key.strip_prefix(input_prefix).unwrap_or(key);
    let rel = rel.trim_start_matches('/');
    let file = rel.rsplit('/').next().unwrap_or(rel);
    let stem = match file.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => file,
    };
    if stem.is_empty() {
        return Err(Error::invalid(format!("object key {key:?} names no file")));
    }
    let out_prefix = output_prefix.trim_matches('/');
    let base = if out_prefix.is_empty() {
        rel.to_string()
    } else {
        format!("{out_prefix}/{rel}")
    };
    validate_key(&base)?;
    validate_segment(stem)?;
    Ok((base, stem.to_string()))
}

/// The job id, also the workflow execution name: deterministic in bucket,
/// key and eTag, so a re-delivered event maps to the same execution (and is
/// refused as a duplicate), while a new upload of the same key (new eTag)
/// starts a new one. Execution names allow letters, digits, `-` and `_`, at
/// most 128 characters, and must start with a letter or `_`.
pub fn job_id(bucket: &str, key: &str, etag: &str) -> String {
    id_of(key, &[bucket, key, etag])
}

/// Job ids become folder names: letters, digits, `-`, `_`, 1-128 long,
/// not starting with `-`.
pub fn validate_job_id(id: &str) -> Result<()> {
    let ok = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "job id {id:?} is not valid: 1-128 letters, digits, '-' or '_'"
        )))
    }
}

/// The job id of a job file's job: the video (bucket, key, eTag) and the job
/// file (key, eTag). The same file uploaded again names the same execution;
/// a changed file, or the same file over a changed video, a new one. Never
/// the id of the video's own upload, which hashes fewer parts.
pub fn job_file_job_id(
    bucket: &str,
    key: &str,
    etag: &str,
    job_file: &str,
    job_file_etag: &str,
) -> String {
    id_of(key, &[bucket, key, etag, job_file, job_file_etag])
}

/// `v-<readable stem of key>-<hash of parts>`.
fn id_of(key: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = hex::encode(h.finalize());
    let stem = key.rsplit('/').next().unwrap_or(key);
    let readable: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let readable = readable.trim_matches('-');
    format!("v-{readable}-{}", &digest[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_are_refused() {
        for bad in [
            "",
            "../a.mp4",
            "a/../../b",
            "/abs.mp4",
            "\\x",
            "a/./b",
            "a\0b",
            "a\nb",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} must be refused");
        }
        for good in ["source/a.mp4", "source/with space/ü+%20.mp4", "a..b/c..mp4"] {
            assert!(validate_key(good).is_ok(), "{good:?} must be accepted");
        }
        assert!(validate_key(&"a".repeat(1024)).is_err());
    }

    #[test]
    fn candidates_try_raw_then_decoded() {
        assert_eq!(key_candidates("source/a.mp4"), vec!["source/a.mp4"]);
        assert_eq!(
            key_candidates("source/my%20clip.mp4"),
            vec!["source/my%20clip.mp4", "source/my clip.mp4"]
        );
        // Invalid UTF-8 after decoding: only the raw key.
        assert_eq!(key_candidates("a%FF.mp4"), vec!["a%FF.mp4"]);
    }

    #[test]
    fn output_base_keeps_relative_folder_and_file_name() {
        assert_eq!(
            output_base("source/shows/a.mp4", "source/", "dest").unwrap(),
            ("dest/shows/a.mp4".into(), "a".into())
        );
        assert_eq!(
            output_base("source/a.b.mov", "source/", "dest/").unwrap(),
            ("dest/a.b.mov".into(), "a.b".into())
        );
        assert_eq!(
            output_base("x.mp4", "", "").unwrap(),
            ("x.mp4".into(), "x".into())
        );
        assert!(output_base("source/../x.mp4", "source/", "dest").is_err());
    }

    #[test]
    fn sources_differing_only_in_extension_get_separate_outputs() {
        let names = ["a.mp4", "a.mov", "a.MP4", "a.mp4.mov", "a-mp4.mov", "a"];
        let bases: std::collections::HashSet<String> = names
            .iter()
            .map(|n| {
                output_base(&format!("source/{n}"), "source/", "dest/")
                    .unwrap()
                    .0
            })
            .collect();
        assert_eq!(bases.len(), names.len(), "{bases:?}");
    }

    #[test]
    fn extensions_match_ignoring_case() {
        let allowed = vec!["mp4".to_string(), "mov".to_string()];
        assert_eq!(extension("source/a.MOV"), Some("MOV"));
        assert_eq!(extension("source/.hidden"), None);
        assert_eq!(extension("source/noext"), None);
        assert_eq!(extension("source/dir.mp4/noext"), None);
        assert!(has_extension("source/clip.MP4", &allowed));
        assert!(has_extension("source/clip.mov", &allowed));
        assert!(!has_extension("source/clip.mp4.txt", &allowed));
        assert!(!has_extension("source/mp4", &allowed));
    }

    #[test]
    fn job_id_is_deterministic_and_safe() {
        let a = job_id("b", "source/my clip+ü.mp4", "E1");
        assert_eq!(a, job_id("b", "source/my clip+ü.mp4", "E1"));
        assert_ne!(a, job_id("b", "source/my clip+ü.mp4", "E2"));
        assert_ne!(job_id("b", "ab", "c"), job_id("b", "a", "bc"));
        assert!(a.len() <= 128 && a.starts_with("v-"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        validate_job_id(&a).unwrap();
    }
}
