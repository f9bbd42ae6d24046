//! The execution input: what oss-trigger (or the simple function) asks a
//! job to do with one source object.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::{Format, Profile};
use crate::setting::SettingSource;

pub const DEFAULT_MAX_PIECES: u32 = 100;

/// The execution input: what oss-trigger starts the workflow with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequest {
    /// Also the execution name: derived from bucket, key and eTag.
    pub job_id: String,
    pub bucket: String,
    /// The source object key, exactly as stored.
    pub key: String,
    #[serde(default)]
    pub etag: String,
    #[serde(default)]
    pub size: u64,
    /// Where outputs go: `<outputPrefix>/<relative dir>/<stem>`.
    pub output_base: String,
    /// File stem used to name outputs.
    pub stem: String,
    pub formats: Vec<Format>,
    pub segment_seconds: f64,
    #[serde(default = "default_max_pieces")]
    pub max_pieces: u32,
    #[serde(default)]
    pub profile: Profile,
    /// Where after-process POSTs this job's manifest, in place of its
    /// `WEBHOOK_URL` (a job file's `webhookUrl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Where the settings came from, by setting name, as oss-trigger knew
    /// it (the environment or a job file); after-process records every
    /// setting in the manifest ([`crate::overrides::record`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, SettingSource>,
}

fn default_max_pieces() -> u32 {
    DEFAULT_MAX_PIECES
}

impl JobRequest {
    /// Check everything a handler relies on; a request that passes cannot
    /// make a path escape its folder.
    pub fn validate(&self) -> Result<()> {
        crate::keys::validate_job_id(&self.job_id)?;
        crate::keys::validate_bucket(&self.bucket)?;
        crate::keys::validate_key(&self.key)?;
        crate::keys::validate_key(&self.output_base)?;
        crate::keys::validate_segment(&self.stem)?;
        if self.formats.is_empty() {
            return Err(Error::invalid("no output format requested"));
        }
        if !(self.segment_seconds.is_finite()
            && self.segment_seconds >= 1.0
            && self.segment_seconds <= 3600.0)
        {
            return Err(Error::invalid(format!(
                "segmentSeconds {} is out of range 1-3600",
                self.segment_seconds
            )));
        }
        if !(1..=1000).contains(&self.max_pieces) {
            return Err(Error::invalid(format!(
                "maxPieces {} is out of range 1-1000",
                self.max_pieces
            )));
        }
        self.profile.validate()
    }

    /// The object key of one output format.
    pub fn output_key(&self, format: Format) -> String {
        match format {
            Format::Hls => format!("{}/hls/index.m3u8", self.output_base),
            Format::Sprite => format!("{}/sprite/thumbnails.vtt", self.output_base),
            Format::Abr => format!("{}/abr/master.m3u8", self.output_base),
            f => format!("{}/{}.{}", self.output_base, self.stem, f.as_str()),
        }
    }

    pub fn manifest_key(&self) -> String {
        format!("{}/manifest.json", self.output_base)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn request() -> JobRequest {
        JobRequest {
            job_id: "a-0123456789abcdef0123".into(),
            bucket: "media".into(),
            key: "source/a.mp4".into(),
            etag: "E".into(),
            size: 1,
            output_base: "dest/a".into(),
            stem: "a".into(),
            formats: vec![Format::Mp4, Format::Hls],
            segment_seconds: 10.0,
            max_pieces: 100,
            profile: Profile::default(),
            webhook_url: None,
            sources: BTreeMap::new(),
        }
    }

    #[test]
    fn output_keys_are_predictable() {
        let r = request();
        assert_eq!(r.output_key(Format::Mp4), "dest/a/a.mp4");
        assert_eq!(r.output_key(Format::Hls), "dest/a/hls/index.m3u8");
        assert_eq!(r.output_key(Format::M4a), "dest/a/a.m4a");
        assert_eq!(r.output_key(Format::Mp3), "dest/a/a.mp3");
        assert_eq!(r.manifest_key(), "dest/a/manifest.json");
    }

    #[test]
    fn request_validation_catches_bad_fields() {
        assert!(request().validate().is_ok());
        let mut r = request();
        r.key = "source/../../etc/passwd".into();
        assert!(r.validate().is_err());
        let mut r = request();
        r.job_id = "../x".into();
        assert!(r.validate().is_err());
        let mut r = request();
        r.segment_seconds = f64::NAN;
        assert!(r.validate().is_err());
        let mut r = request();
        r.profile.preset = "warp".into();
        assert!(r.validate().is_err());
        let mut r = request();
        r.formats.clear();
        assert!(r.validate().is_err());
    }

    #[test]
    fn audio_options_are_validated() {
        let mut r = request();
        r.profile.sample_rate = Some(44100);
        r.profile.channels = Some(1);
        r.profile.loudness_lufs = Some(-16.0);
        r.profile.denoise = true;
        assert!(r.validate().is_ok());
        for bad in [
            Profile {
                sample_rate: Some(96000),
                ..Profile::default()
            },
            Profile {
                channels: Some(6),
                ..Profile::default()
            },
            Profile {
                loudness_lufs: Some(3.0),
                ..Profile::default()
            },
            Profile {
                loudness_lufs: Some(f64::NAN),
                ..Profile::default()
            },
        ] {
            let mut r = request();
            r.profile = bad;
            let e = r.validate().unwrap_err();
            assert!(e.message.contains("out of range") || e.message.contains("choose from"));
        }
        // Omitted on the wire when unset; read back the same.
        let v = serde_json::to_value(&r.profile).unwrap();
        assert_eq!(v["loudnessLufs"], -16.0);
        assert_eq!(v["sampleRate"], 44100);
        let plain = serde_json::to_value(Profile::default()).unwrap();
        assert!(plain.get("loudnessLufs").is_none() && plain.get("denoise").is_none());
    }

    #[test]
    fn camel_case_on_the_wire() {
        let v = serde_json::to_value(request()).unwrap();
        assert!(v.get("jobId").is_some() && v.get("segmentSeconds").is_some());
        assert_eq!(v["formats"][1], "hls");
    }
}
