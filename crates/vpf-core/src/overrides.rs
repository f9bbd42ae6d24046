//! Per-video settings from a job file: a JSON object uploaded under the
//! trigger prefix that names a video already in the bucket and the settings
//! of that video's job (README, "Per-video settings (job files)"). Users
//! check their files against `schemas/job-file.schema.json`; a test checks
//! that the schema and [`JobFile`] accept and refuse the same files.
//!
//! Every setting a job file may give is one line of the table at the
//! [`overridable!`] call below: the parser, the merge into the
//! [`JobRequest`], the manifest's record of where each value came from and
//! the list of setting names all come from that line.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::error::Category;

use crate::config;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::keys;
use crate::ladder::Ladder;
use crate::request::JobRequest;
use crate::watermark::Watermark;

// Job files are where most settings get a source, so their readers find
// the setting records here too; the types live below the request.
pub use crate::setting::{SettingRecord, SettingSource};

/// Objects under the trigger prefix with this extension (any case) are job files.
pub const EXTENSION: &str = "json";

/// The largest job file read. A settings object is a few hundred bytes; the
/// bound keeps a stray upload from being read whole into a small function.
pub const MAX_BYTES: u64 = 64 * 1024;

/// A field that is present must hold a value: `null` is refused like any
/// other wrong type, so that leaving a field out is the one way to keep
/// the default.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The table of overridable settings. Each row: the name in job files and
/// manifests, the [`JobFile`] field and its type, the [`JobRequest`] field it
/// sets (a value of the type, or `Some` of it), and the environment variable
/// that sets it when no job file does.
macro_rules! overridable {
    ($($(#[doc = $doc:literal])* $name:literal $field:ident: $ty:ty => $($path:ident).+, $env:path;)*) => {
        /// A job file, as uploaded. Every field but `source` may be left out
        /// (the video's job then has the value s.yaml or the default gives);
        /// unknown fields and `null`s are refused.
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct JobFile {
            /// The key of the video, in the job file's bucket, under the
            /// trigger prefix.
            pub source: String,
            $(
                $(#[doc = $doc])*
                #[serde(rename = $name, default, deserialize_with = "present")]
                pub $field: Option<$ty>,
            )*
        }

        /// Every setting a job file may give: its name and the environment
        /// variable that sets it otherwise.
        pub const SETTINGS: &[(&str, &str)] = &[$(($name, $env)),*];

        impl JobFile {
            /// Write the settings the file gives into `req`, noting the source.
            fn write(&self, req: &mut JobRequest, from: &SettingSource) {
                $(if let Some(v) = &self.$field {
                    req.$($path).+ = v.clone().into();
                    req.sources.insert($name.into(), from.clone());
                })*
            }
        }

        /// Each setting's value in `req`, in table order.
        fn values(req: &JobRequest) -> Vec<serde_json::Value> {
            vec![$(serde_json::to_value(&req.$($path).+).unwrap_or_default()),*]
        }
    };
}

overridable! {
    /// Output formats.
    "formats" formats: Vec<Format> => formats, config::FORMATS;
    /// Requested piece length, seconds.
    "segmentSeconds" segment_seconds: f64 => segment_seconds, config::SEGMENT_SECONDS;
    /// Most pieces.
    "maxPieces" max_pieces: u32 => max_pieces, config::MAX_PIECES;
    /// libx264 constant rate factor.
    "crf" crf: u8 => profile.crf, config::CRF;
    /// libx264 preset.
    "preset" preset: String => profile.preset, config::PRESET;
    /// Scale down to at most this height.
    "maxHeight" max_height: u32 => profile.max_height, config::MAX_HEIGHT;
    /// AAC rate, kbit/s.
    "audioKbps" audio_kbps: u32 => profile.audio_kbps, config::AUDIO_KBPS;
    /// Seconds of the GIF preview.
    "gifSeconds" gif_seconds: f64 => profile.gif_seconds, config::GIF_SECONDS;
    /// The `abr` ladder, as in `LADDER`.
    "ladder" ladder: Ladder => profile.ladder, config::LADDER;
    /// Every audio output's sample rate, Hz.
    "sampleRate" sample_rate: u32 => profile.sample_rate, config::AUDIO_SAMPLE_RATE;
    /// Every audio output's channels (1 or 2).
    "channels" channels: u32 => profile.channels, config::AUDIO_CHANNELS;
    /// Integrated loudness target, LUFS (EBU R128, two passes).
    "loudnessLufs" loudness_lufs: f64 => profile.loudness_lufs, config::LOUDNESS_LUFS;
    /// Reduce steady background noise first.
    "denoise" denoise: bool => profile.denoise, config::DENOISE;
    /// An image from the bucket laid over every video output.
    "watermark" watermark: Watermark => profile.watermark, config::WATERMARK_KEY;
    /// Receives this job's manifest instead of `WEBHOOK_URL`.
    "webhookUrl" webhook_url: String => webhook_url, config::WEBHOOK_URL;
}

/// Settings whose value may hold a secret (a webhook's token in its path or
/// query): the manifest shows only the scheme and host.
const SECRET_SETTINGS: &[&str] = &["webhookUrl"];

impl JobFile {
    /// Read a job file. Every mistake is an `InvalidInput` error that names
    /// the field and what it takes.
    pub fn parse(bytes: &[u8]) -> Result<JobFile> {
        if bytes.len() as u64 > MAX_BYTES {
            return Err(Error::invalid(format!(
                "the job file is {} bytes; at most {MAX_BYTES} are read",
                bytes.len()
            )));
        }
        // Serde would also take a struct as an array of its fields.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            first => {
                return Err(Error::invalid(format!(
                    "the job file is {}: write one JSON object such as {{\"source\": \"source/clip.mp4\", \"formats\": [\"mp4\"]}}",
                    if first.is_none() {
                        "empty"
                    } else {
                        "not a JSON object"
                    }
                )));
            }
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let file: JobFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let e = e.into_inner();
            match (path.as_str(), e.classify()) {
                (_, Category::Syntax | Category::Eof) => not_json(e),
                ("." | "", _) => Error::invalid(format!("{e} (allowed fields: {})", field_names())),
                (p, _) => Error::invalid(format!("field {p}: {e}")),
            }
        })?;
        de.end().map_err(not_json)?;
        file.validate()?;
        Ok(file)
    }

    /// What serde cannot say: values each field allows on its own (the
    /// rest is checked on the merged request, with the same messages as the
    /// environment's values).
    fn validate(&self) -> Result<()> {
        if self.source.trim().is_empty() {
            return Err(Error::invalid(
                "field source is empty: name the video's key, e.g. \"source/clip.mp4\"",
            ));
        }
        if let Some(formats) = &self.formats {
            if formats.is_empty() {
                return Err(Error::invalid(format!(
                    "field formats is empty; list one or more of {}",
                    Format::names()
                )));
            }
            for (i, f) in formats.iter().enumerate() {
                if formats[..i].contains(f) {
                    return Err(Error::invalid(format!("field formats lists {f} twice")));
                }
            }
        }
        if let Some(url) = &self.webhook_url {
            validate_webhook_url(url).map_err(|e| e.context("field webhookUrl"))?;
        }
        Ok(())
    }

    /// The request for the file's video: `video` is the request its own
    /// upload would start (s.yaml/env and defaults), `key` and `etag` are the
    /// job file's. The job id names the video and the job file, so the same
    /// file uploaded again is the same execution and a changed one is a new
    /// one; the outputs go where the video's own job puts them.
    pub fn apply(&self, video: JobRequest, key: &str, etag: &str) -> Result<JobRequest> {
        let mut req = video;
        self.write(&mut req, &SettingSource::JobFile(key.to_string()));
        req.job_id = keys::job_file_job_id(&req.bucket, &req.key, &req.etag, key, etag);
        req.validate()?;
        Ok(req)
    }
}

fn not_json(e: serde_json::Error) -> Error {
    Error::invalid(format!("the job file is not valid JSON: {e}"))
}

fn field_names() -> String {
    std::iter::once("source")
        .chain(SETTINGS.iter().map(|(n, _)| *n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A webhook must be an http or https URL with a host.
pub fn validate_webhook_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty() && !r.starts_with('/') && !url.chars().any(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(Error::invalid(format!(
            "webhook URL {url:?} must be http:// or https:// followed by a host"
        ))),
    }
}

/// The sources of the settings whose variable is set here (the names of
/// [`SETTINGS`] whose environment variable is set).
pub fn env_sources() -> BTreeMap<String, SettingSource> {
    SETTINGS
        .iter()
        .filter(|(_, var)| config::var(var).is_some())
        .map(|(name, _)| (name.to_string(), SettingSource::Env))
        .collect()
}

/// Every setting of the job with its value and where it came from, for the
/// manifest. The request carries the sources oss-trigger recorded; a setting
/// it has no value for (the webhook, which after-process's own `env` may
/// set) or no source for is the function's environment's when `env` has
/// the variable, else the default.
pub fn record(
    req: &JobRequest,
    env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, SettingRecord> {
    SETTINGS
        .iter()
        .zip(values(req))
        .map(|(&(name, var), value)| {
            let (value, source) = match (value, req.sources.get(name)) {
                (serde_json::Value::Null, None) => match env(var) {
                    Some(v) => (serde_json::Value::String(v), SettingSource::Env),
                    None => (serde_json::Value::Null, SettingSource::Default),
                },
                (value, Some(source)) => (value, source.clone()),
                (value, None) => (
                    value,
                    match env(var) {
                        Some(_) => SettingSource::Env,
                        None => SettingSource::Default,
                    },
                ),
            };
            let value = match (&value, SECRET_SETTINGS.contains(&name)) {
                (serde_json::Value::String(url), true) => serde_json::Value::String(origin(url)),
                _ => value,
            };
            (name.to_string(), SettingRecord { value, source })
        })
        .collect()
}

/// `https://hooks.example.com/t/SECRET?k=v` gives `https://hooks.example.com/…`.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}/…")
}

/// What oss-trigger did with one job file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptOutcome {
    /// Its job was started.
    Started,
    /// Its job had been started already (the same file uploaded again, or
    /// the event delivered again): nothing new was started.
    Duplicate,
    /// The file has a mistake: nothing was started.
    Rejected,
}

/// The answer to a job file, written where the uploader finds it
/// ([`receipt_key`]): outside the trigger prefix, so it starts nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub job_file: String,
    pub etag: String,
    pub outcome: ReceiptOutcome,
    /// The execution (= job id), when one was started or already existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// Where the job's manifest will be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_key: Option<String>,
    /// Why the file was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where the receipt of the job file `key` goes: its own folder under the
/// output prefix, as a video's outputs do (`source/a.json` gives
/// `dest/a.json/receipt.json`), never under the trigger prefix.
pub fn receipt_key(key: &str, input_prefix: &str, output_prefix: &str) -> Result<String> {
    let (base, _) = keys::output_base(key, input_prefix, output_prefix)?;
    Ok(format!("{base}/receipt.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::request;

    fn parse(s: &str) -> Result<JobFile> {
        JobFile::parse(s.as_bytes())
    }

    fn refused(s: &str, words: &[&str]) {
        let e = parse(s)
            .and_then(|f| f.apply(request(), "source/a.json", "J1"))
            .unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidInput, "{s}");
        for w in words {
            assert!(e.message.contains(w), "{s}: {:?} lacks {w:?}", e.message);
        }
    }

    #[test]
    fn every_field_is_read_into_the_request() {
        let f = parse(
            r#"{"source": "source/a.mp4", "formats": ["mp4", "gif"], "segmentSeconds": 12,
                "maxPieces": 7, "crf": 30, "preset": "fast", "maxHeight": 480, "audioKbps": 96,
                "gifSeconds": 2.5, "ladder": "720:3000, 360:700",
                "webhookUrl": "https://hooks.example.com/t/secret?x=1",
                "sampleRate": 44100, "channels": 1, "loudnessLufs": -16, "denoise": true,
                "watermark": {"key": "marks/logo.png", "corner": "top-left", "scale": 0.2}}"#,
        )
        .unwrap();
        let r = f.apply(request(), "source/jobs/a.json", "J1").unwrap();
        let mark = r.profile.watermark.as_ref().expect("the file's watermark");
        assert_eq!(mark.key, "marks/logo.png");
        assert_eq!(mark.corner, crate::watermark::Corner::TopLeft);
        assert_eq!(mark.scale, 0.2);
        assert_eq!(r.profile.sample_rate, Some(44100));
        assert_eq!(r.profile.channels, Some(1));
        assert_eq!(r.profile.loudness_lufs, Some(-16.0));
        assert!(r.profile.denoise);
        assert_eq!(r.formats, [Format::Mp4, Format::Gif]);
        assert_eq!(r.segment_seconds, 12.0);
        assert_eq!(r.max_pieces, 7);
        assert_eq!(r.profile.crf, 30);
        assert_eq!(r.profile.preset, "fast");
        assert_eq!(r.profile.max_height, Some(480));
        assert_eq!(r.profile.audio_kbps, 96);
        assert_eq!(r.profile.gif_seconds, 2.5);
        assert_eq!(r.profile.ladder, "720:3000, 360:700".parse().unwrap());
        assert_eq!(
            r.webhook_url.as_deref(),
            Some("https://hooks.example.com/t/secret?x=1")
        );
        // Every setting of the table is given and recorded as the file's.
        assert_eq!(r.sources.len(), SETTINGS.len());
        assert!(
            r.sources
                .values()
                .all(|s| s.to_string() == "job file source/jobs/a.json")
        );
        // The video's identity and output folder stay; the job id is new.
        let video = request();
        assert_eq!(
            (&r.key, &r.etag, &r.output_base),
            (&video.key, &video.etag, &video.output_base)
        );
        assert_ne!(r.job_id, video.job_id);
    }

    #[test]
    fn left_out_fields_keep_the_request_and_its_sources() {
        let mut video = request();
        video.sources.insert("crf".into(), SettingSource::Env);
        let r = parse(r#"{"source": "source/a.mp4", "preset": "slow"}"#)
            .unwrap()
            .apply(video.clone(), "source/a.json", "J1")
            .unwrap();
        assert_eq!(r.formats, video.formats);
        assert_eq!(r.profile.crf, video.profile.crf);
        assert_eq!(r.sources["crf"], SettingSource::Env);
        assert_eq!(
            r.sources["preset"],
            SettingSource::JobFile("source/a.json".into())
        );
        assert_eq!(r.sources.len(), 2);
    }

    #[test]
    fn the_job_id_names_the_video_and_the_job_file_version() {
        let f = parse(r#"{"source": "source/a.mp4"}"#).unwrap();
        let a = f.apply(request(), "source/a.json", "J1").unwrap().job_id;
        assert_eq!(a, f.apply(request(), "source/a.json", "J1").unwrap().job_id);
        assert_ne!(a, f.apply(request(), "source/a.json", "J2").unwrap().job_id);
        assert_ne!(a, f.apply(request(), "source/b.json", "J1").unwrap().job_id);
        let mut other_video = request();
        other_video.etag = "E2".into();
        assert_ne!(
            a,
            f.apply(other_video, "source/a.json", "J1").unwrap().job_id
        );
        assert!(a.starts_with("v-a-"), "{a}");
        crate::keys::validate_job_id(&a).unwrap();
    }

    #[test]
    fn each_mistake_is_named() {
        let documents: &[(&str, &[&str])] = &[
            ("", &["empty"]),
            ("[1]", &["not a JSON object"]),
            ("\"source/a.mp4\"", &["not a JSON object"]),
            ("{\"source\": \"source/a.mp4\"", &["not valid JSON"]),
            ("{\"source\": \"source/a.mp4\"} x", &["not valid JSON"]),
            (
                "{}",
                &["missing field `source`", "allowed fields: source, formats"],
            ),
            (r#"{"source": ""}"#, &["source is empty"]),
            (r#"{"source": 3}"#, &["field source", "invalid type"]),
        ];
        for (text, words) in documents {
            refused(text, words);
        }
        // One field beside a good source.
        let fields: &[(&str, &[&str])] = &[
            (r#""colour": "red""#, &["unknown field `colour`", "crf"]),
            (r#""Formats": ["mp4"]"#, &["unknown field `Formats`"]),
            (r#""formats": "mp4""#, &["field formats", "invalid type"]),
            (
                r#""formats": ["mp4", "webm"]"#,
                &["field formats[1]", "webm", "gif"],
            ),
            (r#""formats": []"#, &["formats is empty", "sprite"]),
            (r#""formats": ["gif", "gif"]"#, &["gif twice"]),
            (
                r#""segmentSeconds": "10""#,
                &["field segmentSeconds", "invalid type"],
            ),
            (
                r#""segmentSeconds": 0.5"#,
                &["segmentSeconds 0.5", "1-3600"],
            ),
            (r#""maxPieces": 0"#, &["maxPieces 0", "1-1000"]),
            (r#""maxPieces": -1"#, &["field maxPieces"]),
            (r#""crf": 52"#, &["crf 52", "0-51"]),
            (r#""crf": 300"#, &["field crf", "u8"]),
            (r#""crf": "23""#, &["field crf", "invalid type"]),
            (r#""crf": null"#, &["field crf", "null"]),
            (r#""crf": 22.5"#, &["field crf"]),
            (r#""preset": "warp""#, &["preset \"warp\"", "veryslow"]),
            (r#""maxHeight": 8"#, &["maxHeight 8", "16-8640"]),
            (r#""audioKbps": 2000"#, &["audioKbps 2000", "16-1024"]),
            (r#""gifSeconds": 0"#, &["gifSeconds 0", "(0, 30]"]),
            (r#""ladder": "720""#, &["field ladder"]),
            (
                r#""ladder": ["720:3000"]"#,
                &["field ladder", "invalid type"],
            ),
            (
                r#""webhookUrl": "ftp://x.example""#,
                &["webhookUrl", "http:// or https://"],
            ),
            (r#""webhookUrl": "https://""#, &["webhookUrl", "host"]),
        ];
        for (field, words) in fields {
            refused(&format!(r#"{{"source": "source/a.mp4", {field}}}"#), words);
        }
        let big = format!(
            r#"{{"source": "source/a.mp4", "preset": "{}"}}"#,
            "x".repeat(MAX_BYTES as usize)
        );
        refused(&big, &["65536"]);
    }

    #[test]
    fn sources_are_written_as_documented() {
        for (s, text) in [
            (SettingSource::Default, "default"),
            (SettingSource::Env, "s.yaml/env"),
            (
                SettingSource::JobFile("source/a.json".into()),
                "job file source/a.json",
            ),
        ] {
            let v = serde_json::to_value(&s).unwrap();
            assert_eq!(v, text);
            assert_eq!(serde_json::from_value::<SettingSource>(v).unwrap(), s);
        }
        assert!(serde_json::from_value::<SettingSource>("job file ".into()).is_err());
        assert!(serde_json::from_value::<SettingSource>("yaml".into()).is_err());
    }

    #[test]
    fn the_record_lists_every_setting_with_value_and_source() {
        let mut video = request();
        video.sources.insert("formats".into(), SettingSource::Env);
        let r = parse(r#"{"source": "source/a.mp4", "crf": 30, "webhookUrl": "https://u:p@h.example:8443/t/SECRET?k=v"}"#)
            .unwrap()
            .apply(video, "source/a.json", "J1")
            .unwrap();
        let env = |var: &str| (var == config::GIF_SECONDS).then(|| "9".to_string());
        let m = record(&r, env);
        assert_eq!(m.len(), SETTINGS.len());
        assert_eq!(m["crf"].value, 30);
        assert_eq!(m["crf"].source.to_string(), "job file source/a.json");
        assert_eq!(m["formats"].value, serde_json::json!(["mp4", "hls"]));
        assert_eq!(m["formats"].source, SettingSource::Env);
        assert_eq!(m["preset"].source, SettingSource::Default);
        // No source recorded and the variable set here: the environment's.
        assert_eq!(m["gifSeconds"].source, SettingSource::Env);
        assert_eq!(m["maxHeight"].value, serde_json::Value::Null);
        assert_eq!(m["webhookUrl"].value, "https://h.example:8443/…");
        // A webhook only the environment names is the environment's.
        let m = record(&request(), |v: &str| {
            (v == config::WEBHOOK_URL).then(|| "http://hook.example/x".into())
        });
        assert_eq!(m["webhookUrl"].value, "http://hook.example/…");
        assert_eq!(m["webhookUrl"].source, SettingSource::Env);
        let m = record(&request(), |_: &str| None);
        assert_eq!(m["webhookUrl"].value, serde_json::Value::Null);
        assert_eq!(m["webhookUrl"].source, SettingSource::Default);
    }

    #[test]
    fn receipts_go_under_the_output_prefix() {
        assert_eq!(
            receipt_key("source/jobs/a.json", "source/", "dest").unwrap(),
            "dest/jobs/a.json/receipt.json"
        );
    }
}
