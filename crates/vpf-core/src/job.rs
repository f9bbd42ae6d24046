//! The payloads that travel through the workflow, and the records a job keeps
//! in its NAS folder. Workflow state is small by design (CloudFlow limits it):
//! keys, ids and numbers only; the plan and the media stay on NAS.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ladder::{Ladder, Rendition};
use crate::overrides::{SettingRecord, SettingSource};
use crate::watermark::{MarkImage, Watermark};

/// Output formats. Every one is packaged from the same single encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// H.264/AAC in MP4 with the index up front (faststart).
    Mp4,
    /// H.264/AAC in FLV.
    Flv,
    /// H.264/AAC in MPEG-TS segments with a VOD m3u8 playlist.
    Hls,
    /// H.264/AAC in AVI (a remux; players that want MPEG-4 Part 2 in AVI are not served).
    Avi,
    /// An animated GIF preview of the first seconds.
    Gif,
    /// A JPEG thumbnail.
    Jpg,
    /// Seek previews: a sprite sheet of thumbnails and the WebVTT file
    /// players read it through (`sprite/thumbnails.vtt`).
    Sprite,
    /// Adaptive streaming: the ladder's renditions as CMAF (fragmented MP4)
    /// segments, with an HLS master playlist (`abr/master.m3u8`) and a
    /// DASH manifest (`abr/manifest.mpd`) over the same segments.
    Abr,
    /// The default audio track alone: AAC in MP4 (`<stem>.m4a`).
    M4a,
    /// The default audio track alone: MP3 (`<stem>.mp3`).
    Mp3,
}

impl Format {
    pub const ALL: [Format; 10] = [
        Format::Mp4,
        Format::Flv,
        Format::Hls,
        Format::Avi,
        Format::Gif,
        Format::Jpg,
        Format::Sprite,
        Format::Abr,
        Format::M4a,
        Format::Mp3,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Mp4 => "mp4",
            Format::Flv => "flv",
            Format::Hls => "hls",
            Format::Avi => "avi",
            Format::Gif => "gif",
            Format::Jpg => "jpg",
            Format::Sprite => "sprite",
            Format::Abr => "abr",
            Format::M4a => "m4a",
            Format::Mp3 => "mp3",
        }
    }

    /// Parse a comma- or space-separated list such as `"mp4, flv, hls"`.
    /// Duplicates are dropped; order is kept.
    pub fn parse_list(s: &str) -> Result<Vec<Format>> {
        let mut out = Vec::new();
        for part in s.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
            let f: Format = part.parse()?;
            if !out.contains(&f) {
                out.push(f);
            }
        }
        if out.is_empty() {
            return Err(Error::invalid(format!(
                "no output format given; choose from {}",
                Format::names()
            )));
        }
        Ok(out)
    }

    pub fn names() -> String {
        Format::ALL.map(Format::as_str).join(", ")
    }

    /// Whether the format carries several audio tracks.
    pub fn carries_audio_tracks(self) -> bool {
        matches!(self, Format::Mp4 | Format::Hls | Format::Abr)
    }

    /// Whether the format is cut into segments at key frames (players fetch
    /// and switch segment by segment), so its video needs key frames at
    /// most a segment apart.
    pub fn cut_into_segments(self) -> bool {
        matches!(self, Format::Hls | Format::Abr)
    }

    /// Whether the format is sound alone (made from the default audio track).
    pub fn is_audio(self) -> bool {
        matches!(self, Format::M4a | Format::Mp3)
    }

    /// Whether the format can be made from a source without video: the
    /// audio formats, and HLS (an audio-only playlist).
    pub fn from_audio_alone(self) -> bool {
        matches!(self, Format::M4a | Format::Mp3 | Format::Hls)
    }

    /// Whether the format carries text subtitles.
    pub fn carries_subtitles(self) -> bool {
        matches!(self, Format::Mp4 | Format::Hls)
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mp4" => Ok(Format::Mp4),
            "flv" => Ok(Format::Flv),
            "hls" | "m3u8" => Ok(Format::Hls),
            "avi" => Ok(Format::Avi),
            "gif" => Ok(Format::Gif),
            "jpg" | "jpeg" => Ok(Format::Jpg),
            "sprite" | "thumbnails" => Ok(Format::Sprite),
            "abr" | "cmaf" | "dash" | "ladder" => Ok(Format::Abr),
            "m4a" | "aac" => Ok(Format::M4a),
            "mp3" => Ok(Format::Mp3),
            other => Err(Error::invalid(format!(
                "unknown output format {other:?}; choose from {}",
                Format::names()
            ))),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Video encoding settings: one H.264 encode shared by every format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Profile {
    /// libx264 constant rate factor (0-51; lower is better and larger).
    pub crf: u8,
    /// libx264 preset (ultrafast ... veryslow).
    pub preset: String,
    /// Scale down to at most this height (never up). `None` keeps the size.
    pub max_height: Option<u32>,
    /// AAC bitrate for the audio track, in kbit/s.
    pub audio_kbps: u32,
    /// Seconds of the GIF preview.
    pub gif_seconds: f64,
    /// The adaptive-streaming ladder (`abr` output).
    pub ladder: Ladder,
    /// An image laid over every video output; `None` for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
    /// Resample every audio output to this rate (Hz). `None` keeps the
    /// source's rate where AAC carries it (else 48 kHz).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Mix every audio output down or up to this many channels (1 or 2).
    /// `None` keeps mono and stereo and mixes more channels to stereo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    /// Normalise loudness to this integrated level (LUFS, EBU R128),
    /// measured first and applied in a second pass. `None` leaves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loudness_lufs: Option<f64>,
    /// Reduce steady background noise (ffmpeg's afftdn) before anything else.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub denoise: bool,
}

/// The audio sample rates an output can ask for: every one both AAC and
/// MP3 carry.
pub const SAMPLE_RATES: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];

/// The loudness targets accepted (LUFS): from very quiet to louder than
/// any broadcast or streaming norm.
pub const LOUDNESS_RANGE: (f64, f64) = (-70.0, -5.0);

pub const PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

impl Default for Profile {
    fn default() -> Self {
        Profile {
            crf: 23,
            preset: "veryfast".into(),
            max_height: None,
            audio_kbps: 128,
            gif_seconds: 3.0,
            ladder: Ladder::default(),
            watermark: None,
            sample_rate: None,
            channels: None,
            loudness_lufs: None,
            denoise: false,
        }
    }
}

impl Profile {
    pub fn validate(&self) -> Result<()> {
        if self.crf > 51 {
            return Err(Error::invalid(format!(
                "crf {} is out of range 0-51",
                self.crf
            )));
        }
        if !PRESETS.contains(&self.preset.as_str()) {
            return Err(Error::invalid(format!(
                "unknown x264 preset {:?}; choose from {}",
                self.preset,
                PRESETS.join(", ")
            )));
        }
        if let Some(h) = self.max_height
            && !(16..=8640).contains(&h)
        {
            return Err(Error::invalid(format!(
                "maxHeight {h} is out of range 16-8640"
            )));
        }
        if !(16..=1024).contains(&self.audio_kbps) {
            return Err(Error::invalid(format!(
                "audioKbps {} is out of range 16-1024",
                self.audio_kbps
            )));
        }
        if !(self.gif_seconds > 0.0 && self.gif_seconds <= 30.0) {
            return Err(Error::invalid(format!(
                "gifSeconds {} is out of range (0, 30]",
                self.gif_seconds
            )));
        }
        if let Some(w) = &self.watermark {
            w.validate()?;
        }
        if let Some(r) = self.sample_rate
            && !SAMPLE_RATES.contains(&r)
        {
            return Err(Error::invalid(format!(
                "sampleRate {r} is not one AAC and MP3 both carry; choose from {}",
                SAMPLE_RATES.map(|r| r.to_string()).join(", ")
            )));
        }
        if let Some(c) = self.channels
            && !(1..=2).contains(&c)
        {
            return Err(Error::invalid(format!(
                "channels {c} is out of range 1-2 (mono or stereo)"
            )));
        }
        let (low, high) = LOUDNESS_RANGE;
        if let Some(l) = self.loudness_lufs
            && !(l.is_finite() && (low..=high).contains(&l))
        {
            return Err(Error::invalid(format!(
                "loudnessLufs {l} is out of range {low} to {high} LUFS"
            )));
        }
        Ok(())
    }
}

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
        crate::nas::validate_job_id(&self.job_id)?;
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

/// What ffprobe told us about the source (filled by vpf-media).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MediaInfo {
    pub format_name: String,
    pub duration_seconds: f64,
    pub size_bytes: u64,
    pub bit_rate: Option<u64>,
    pub video: Option<VideoInfo>,
    /// The main audio track: the one the source flags as default, else the
    /// first. Single-track outputs (FLV, AVI) carry it. Also in
    /// `audio_tracks`; kept here for readers of the manifest's `probe`.
    pub audio: Option<AudioInfo>,
    /// Every audio track, in source order: `audio_tracks[n]` is ffmpeg's
    /// `0:a:n`. Empty in plans written before tracks were recorded, which
    /// held the first track only, in `audio` (see [`MediaInfo::audio_track`]).
    #[serde(default)]
    pub audio_tracks: Vec<AudioInfo>,
    /// Every subtitle track, text or bitmap, in source order:
    /// `subtitle_tracks[n]` is ffmpeg's `0:s:n`.
    #[serde(default)]
    pub subtitle_tracks: Vec<SubtitleInfo>,
}

impl MediaInfo {
    /// Audio track `n` (ffmpeg's `0:a:n`).
    pub fn audio_track(&self, n: u32) -> Option<&AudioInfo> {
        match (self.audio_tracks.is_empty(), n) {
            (true, 0) => self.audio.as_ref(),
            _ => self.audio_tracks.get(n as usize),
        }
    }

    /// How many audio tracks the source has.
    pub fn audio_count(&self) -> u32 {
        match self.audio_tracks.len() {
            0 => u32::from(self.audio.is_some()),
            n => n as u32,
        }
    }

    /// The zero of every output on the source's timeline: the first shown
    /// video frame; without video, the main audio track's first sample.
    pub fn zero_seconds(&self) -> f64 {
        match (&self.video, &self.audio) {
            (Some(v), _) => v.start_seconds,
            (None, Some(a)) => a.start_seconds,
            (None, None) => 0.0,
        }
    }

    /// Where audio track `n` ends on the output's timeline
    /// ([`MediaInfo::zero_seconds`]), which is how long its encode lasts;
    /// `None` when it ends before the video starts (nothing of it can be
    /// heard).
    pub fn audio_end_seconds(&self, n: u32) -> Option<f64> {
        let a = self.audio_track(n)?;
        let end = a.start_seconds + a.duration_seconds - self.zero_seconds();
        (end > 0.0).then_some(end)
    }

    /// The source has sound and no picture: an audio job.
    pub fn audio_only(&self) -> bool {
        self.video.is_none() && self.audio_count() > 0
    }

    /// The formats of `formats` a job can make from this source: all of
    /// them when it has video; from audio alone, only those that are
    /// sound (m4a, mp3) or carry it by themselves (HLS).
    pub fn makes(&self, formats: &[Format]) -> Vec<Format> {
        formats
            .iter()
            .copied()
            .filter(|f| self.video.is_some() || f.from_audio_alone())
            .collect()
    }

    /// The formats of `formats` this source cannot give, each with why.
    pub fn skipped(&self, formats: &[Format]) -> Vec<Skipped> {
        let made = self.makes(formats);
        formats
            .iter()
            .filter(|f| !made.contains(f))
            .map(|&format| Skipped {
                format,
                reason: format!(
                    "the source has no video stream; {format} needs a picture (an audio-only source gives m4a, mp3 and audio-only hls)"
                ),
            })
            .collect()
    }

    /// The audio tracks a job encodes: every one heard after the first
    /// video frame, in source order.
    pub fn audio_plan(&self) -> Vec<u32> {
        (0..self.audio_count())
            .filter(|&n| self.audio_end_seconds(n).is_some())
            .collect()
    }

    /// The subtitle tracks a job carries: the text ones, in source order.
    pub fn subtitle_plan(&self) -> Vec<u32> {
        (0..self.subtitle_tracks.len() as u32)
            .filter(|&n| self.subtitle_tracks[n as usize].unsupported().is_none())
            .collect()
    }

    /// The audio tracks a job asking for `formats` encodes: all of
    /// [`MediaInfo::audio_plan`] when an output carries several (MP4, HLS, ABR);
    /// only the default one when the outputs carry one (FLV, AVI); none
    /// when no output has sound (GIF, JPEG, sprite). Nothing is encoded
    /// that no output carries.
    ///
    /// An audio-only source encodes its default track only: its outputs
    /// (m4a, mp3, audio-only HLS) carry one track each.
    pub fn audio_plan_for(&self, formats: &[Format]) -> Vec<u32> {
        let all = self.audio_plan();
        let formats = self.makes(formats);
        if self.video.is_some() && formats.iter().any(|f| f.carries_audio_tracks()) {
            return all;
        }
        if !formats
            .iter()
            .any(|f| matches!(f, Format::Flv | Format::Avi) || f.from_audio_alone())
        {
            return Vec::new();
        }
        let default = all
            .iter()
            .copied()
            .find(|&n| self.audio_track(n).is_some_and(|a| a.default))
            .or(all.first().copied());
        default.into_iter().collect()
    }

    /// The adaptive-streaming renditions a job asking for `formats` with
    /// `profile` encodes: the ladder's, planned for this picture, when
    /// `abr` is asked for; else none.
    pub fn renditions_for(&self, formats: &[Format], profile: &Profile) -> Vec<Rendition> {
        match (&self.video, formats.contains(&Format::Abr)) {
            (Some(v), true) => profile.ladder.plan(v.upright_size(), profile.max_height),
            _ => Vec::new(),
        }
    }

    /// The subtitle tracks a job asking for `formats` carries: the text ones
    /// when an output holds subtitles (MP4, HLS), else none.
    /// An audio job carries none: its outputs are sound alone.
    pub fn subtitle_plan_for(&self, formats: &[Format]) -> Vec<u32> {
        if self.video.is_some() && formats.iter().any(|f| f.carries_subtitles()) {
            self.subtitle_plan()
        } else {
            Vec::new()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VideoInfo {
    pub codec: String,
    /// Coded size, before rotation.
    pub width: u32,
    pub height: u32,
    /// Frame rate as a fraction (`30000/1001`).
    pub frame_rate_num: u32,
    pub frame_rate_den: u32,
    /// Degrees clockwise that players rotate the picture by (0, 90, 180, 270).
    pub rotation: i32,
    /// Counted frames (every video packet the demuxer does not discard), not estimated.
    pub frames: u64,
    pub duration_seconds: f64,
    pub pix_fmt: String,
    /// First shown frame's time in the source's timeline, seconds (the zero of every output).
    #[serde(default)]
    pub start_seconds: f64,
    /// Every frame sits on the frame-rate grid: outputs keep exact frame durations.
    #[serde(default)]
    pub constant_frame_rate: bool,
    /// The stream's field order as ffprobe reports it: `progressive`, or for
    /// interlaced video `tt`/`bb` (top/bottom field first) or `tb`/`bt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_order: Option<String>,
    /// The field order was measured (ffmpeg's idet), not read from the
    /// stream, whose flag was missing or said progressive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub field_order_measured: bool,
    /// The colour description, as ffprobe names it (`bt709`, `bt2020`...).
    #[serde(default, skip_serializing_if = "Colour::is_unknown")]
    pub colour: Colour,
}

/// A stream's colour description (ffprobe's `color_*` fields; `None` where
/// the stream does not say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Colour {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primaries: Option<String>,
    /// The transfer function: `smpte2084` is PQ, `arib-std-b67` is HLG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<String>,
    /// The YUV matrix (`bt709`, `bt2020nc`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<String>,
    /// `tv` (limited) or `pc` (full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

/// High dynamic range transfer functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hdr {
    /// SMPTE ST 2084 (HDR10, Dolby Vision's base layer, most cameras' "HDR").
    Pq,
    /// ARIB STD-B67 hybrid log-gamma (iPhone and broadcast HDR).
    Hlg,
}

impl Colour {
    pub fn is_unknown(&self) -> bool {
        self == &Colour::default()
    }

    /// The HDR transfer function, if the stream uses one.
    pub fn hdr(&self) -> Option<Hdr> {
        match self.transfer.as_deref() {
            Some("smpte2084") => Some(Hdr::Pq),
            Some("arib-std-b67") => Some(Hdr::Hlg),
            _ => None,
        }
    }
}

impl Hdr {
    pub fn name(self) -> &'static str {
        match self {
            Hdr::Pq => "PQ (SMPTE ST 2084)",
            Hdr::Hlg => "HLG (ARIB STD-B67)",
        }
    }
}

impl VideoInfo {
    /// The picture's size as players show it: the coded size, turned by
    /// the rotation.
    pub fn upright_size(&self) -> (u32, u32) {
        match self.rotation % 180 {
            0 => (self.width, self.height),
            _ => (self.height, self.width),
        }
    }

    /// One frame at the stream's rate, seconds.
    pub fn frame_seconds(&self) -> f64 {
        self.frame_rate_den.max(1) as f64 / self.frame_rate_num.max(1) as f64
    }

    /// Interlaced: each frame holds two fields, which players that show
    /// progressive pictures (every browser and phone) display combed.
    pub fn interlaced(&self) -> bool {
        matches!(self.field_order.as_deref(), Some("tt" | "bb" | "tb" | "bt"))
    }

    /// What transcoding does to the picture beyond the encode, in words,
    /// for the manifest (empty when nothing).
    pub fn conversions(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(order) = self.field_order.as_deref().filter(|_| self.interlaced()) {
            out.push(format!(
                "deinterlaced (field order {order}{}): one progressive frame per source frame, at the source's frame rate",
                if self.field_order_measured {
                    ", measured by idet: the stream does not flag it"
                } else {
                    ""
                }
            ));
        }
        if let Some(hdr) = self.colour.hdr() {
            out.push(format!(
                "tone-mapped from HDR {} with {} primaries to SDR BT.709 (8-bit), tagged BT.709",
                hdr.name(),
                self.colour.primaries.as_deref().unwrap_or("unstated")
            ));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AudioInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    pub duration_seconds: f64,
    /// First sample's time in the source's timeline, seconds.
    #[serde(default)]
    pub start_seconds: f64,
    /// The stream's index in the source (ffprobe's `index`).
    #[serde(default)]
    pub stream_index: u32,
    /// ISO 639-2 code from the source's `language` tag (`und` left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The source's `title` tag (control characters and quotes removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The source flags it as the default track.
    #[serde(default)]
    pub default: bool,
}

/// A subtitle track of the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubtitleInfo {
    /// ffprobe's codec name (`subrip`, `ass`, `mov_text`, `hdmv_pgs_subtitle`...);
    /// empty when this ffmpeg does not know the codec.
    pub codec: String,
    /// The stream's index in the source (ffprobe's `index`).
    pub stream_index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub default: bool,
    /// Forced subtitles: shown even to viewers who turned subtitles off
    /// (foreign-language lines in a dubbed film).
    #[serde(default)]
    pub forced: bool,
}

/// Subtitle codecs whose cues are text: ffmpeg decodes each of them to ASS
/// events, which its WebVTT and mov_text encoders take.
const TEXT_SUBTITLES: [&str; 15] = [
    "mov_text",
    "subrip",
    "srt",
    "webvtt",
    "ass",
    "ssa",
    "text",
    "microdvd",
    "subviewer",
    "subviewer1",
    "sami",
    "realtext",
    "mpl2",
    "vplayer",
    "pjs",
];

/// Subtitle codecs that are pictures.
const BITMAP_SUBTITLES: [&str; 4] = ["dvd_subtitle", "hdmv_pgs_subtitle", "dvb_subtitle", "xsub"];

impl SubtitleInfo {
    /// Why this track cannot be carried (`None`: it is text and can).
    /// Outputs carry subtitles as text (mov_text, WebVTT); a picture cannot
    /// become text without OCR.
    pub fn unsupported(&self) -> Option<String> {
        let codec = self.codec.as_str();
        if TEXT_SUBTITLES.contains(&codec) {
            None
        } else if BITMAP_SUBTITLES.contains(&codec) {
            Some(format!(
                "bitmap subtitles ({codec}) are pictures and cannot become text without OCR; outputs carry text subtitles only"
            ))
        } else if codec.is_empty() {
            Some("the subtitle codec is not one this ffmpeg can read".into())
        } else {
            Some(format!(
                "{codec} is not a text subtitle codec this pipeline converts"
            ))
        }
    }
}

/// A requested output format the source cannot give, and why: recorded
/// in the manifest; the job makes the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub format: Format,
    pub reason: String,
}

/// One video-only piece cut at key frames by split, or, in a job of one
/// piece ([`Cutting::Uncut`]), the source's whole video read in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Piece {
    pub index: u32,
    /// Real start in the source's timeline (a key frame), seconds.
    pub start_seconds: f64,
    pub duration_seconds: f64,
    /// Frames this piece contributes to the output (counted).
    pub frames: u64,
    /// Frames at the start / end of the piece file (in display order) that the
    /// source's edit list hides; transcode decodes and drops them. Always 0
    /// for an uncut piece: read from the source, the demuxer applies the
    /// edit list itself and the decoder never hands those frames on.
    #[serde(default)]
    pub drop_head: u64,
    #[serde(default)]
    pub drop_tail: u64,
}

/// How split cut the source into pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Cutting {
    /// At the source's key frames, by stream copy.
    #[default]
    KeyFrames,
    /// At any frame: key frames were too sparse for the piece length, so
    /// the video was decoded once into a lossless intermediate with a key
    /// frame at every cut.
    AnyFrame,
    /// Not at all: the job has one piece, and it is the source itself
    /// ([`crate::nas::JobDir::piece_input`]). Transcode reads the source's
    /// first video stream in place, timestamps shifted so that the first
    /// shown frame is at zero as in a cut piece, and merge takes the one
    /// encoded piece as the video without a join.
    Uncut,
}

/// The plan split writes to `job.json` in the job folder; the other steps
/// read it instead of carrying it through the workflow state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPlan {
    pub request: JobRequest,
    /// File name of the downloaded source inside the job folder.
    pub source_file: String,
    pub info: MediaInfo,
    /// The piece length actually used (the request's, raised to respect maxPieces).
    pub piece_seconds: f64,
    pub pieces: Vec<Piece>,
    /// How the pieces were cut.
    #[serde(default)]
    pub cutting: Cutting,
    /// Whether the job has audio: the audio tasks write `audio.m4a` (and
    /// `audio-<n>.m4a`), each track encoded once to AAC, from the source,
    /// which stays on NAS until then.
    pub has_audio: bool,
    /// The source audio tracks the job encodes (`0:a:n`), in output order.
    /// Empty in plans written before several tracks were kept: see
    /// [`JobPlan::audio_plan`].
    #[serde(default)]
    pub audio_tracks: Vec<u32>,
    /// The source subtitle tracks the job carries (`0:s:n`, text only), in
    /// output order.
    #[serde(default)]
    pub subtitle_tracks: Vec<u32>,
    /// The adaptive-streaming renditions, largest first (empty unless the
    /// job asks for `abr`). Each piece is decoded once and encoded to every
    /// one; the largest is also what every other format is made from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<Rendition>,
    /// The watermark image split fetched to the job folder
    /// ([`crate::nas::JobDir::watermark`]) and checked, when the profile
    /// asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_image: Option<MarkImage>,
}

impl JobPlan {
    /// The audio tracks the job encodes, in output order (a plan from
    /// before several tracks were kept encodes track 0 when it has audio).
    pub fn audio_plan(&self) -> Vec<u32> {
        match (self.audio_tracks.is_empty(), self.has_audio) {
            (true, true) => vec![0],
            _ => self.audio_tracks.clone(),
        }
    }

    /// The output's default audio track, as a position in [`JobPlan::audio_plan`]:
    /// the first the source flags as default, else the first. Single-track
    /// outputs (FLV, AVI) carry this one.
    pub fn default_audio(&self) -> Option<usize> {
        let plan = self.audio_plan();
        let flagged = plan
            .iter()
            .position(|&n| self.info.audio_track(n).is_some_and(|a| a.default));
        flagged.or((!plan.is_empty()).then_some(0))
    }

    /// Whether the one piece's task encodes the audio tracks, beside its
    /// video (both at once), instead of a task per track: a job of one
    /// piece gains nothing from more tasks, which cost another instance and
    /// hop in FC, and on a few cores an audio task would wait for the piece
    /// to free a slot.
    pub fn audio_beside_piece(&self) -> bool {
        self.pieces.len() == 1
    }

    /// The audio tracks that get Map tasks of their own.
    pub fn audio_tasks(&self) -> Vec<u32> {
        if self.audio_beside_piece() {
            Vec::new()
        } else {
            self.audio_plan()
        }
    }

    /// The requested formats this job makes ([`MediaInfo::makes`]).
    pub fn formats(&self) -> Vec<Format> {
        self.info.makes(&self.request.formats)
    }

    /// The requested formats this job skips, with why.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.info.skipped(&self.request.formats)
    }

    /// The source audio track (`0:a:n`) the MP3 output is encoded from,
    /// beside its AAC, when the job makes one: the default track.
    pub fn mp3_track(&self) -> Option<u32> {
        if !self.formats().contains(&Format::Mp3) {
            return None;
        }
        let plan = self.audio_plan();
        self.default_audio().and_then(|k| plan.get(k).copied())
    }

    /// Whether a task still has to read the source (it stays on NAS until
    /// the audio and subtitles are taken from it, and an uncut piece is
    /// encoded).
    pub fn reads_source_later(&self) -> bool {
        self.has_audio || !self.subtitle_tracks.is_empty() || self.uncut()
    }

    /// Whether the one piece is the source itself ([`Cutting::Uncut`]).
    pub fn uncut(&self) -> bool {
        self.cutting == Cutting::Uncut
    }
}

impl JobPlan {
    /// What the job does beyond the encode, in words, for the manifest:
    /// the picture's conversions and a cut at any frame.
    pub fn conversions(&self) -> Vec<String> {
        let mut out = self
            .info
            .video
            .as_ref()
            .map(VideoInfo::conversions)
            .unwrap_or_default();
        if self.cutting == Cutting::AnyFrame {
            out.push(format!(
                "cut at any frame into {} pieces of {} s through a lossless intermediate: the source's key frames are too sparse for that piece length",
                self.pieces.len(),
                self.piece_seconds
            ));
        }
        out
    }
}

/// What a transcode task encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    /// One video piece (`index`).
    #[default]
    Video,
    /// One whole audio track (`index`: ffmpeg's `0:a:n`), encoded once.
    Audio,
    /// Every text subtitle track the job carries, taken from the source at
    /// once (`index` 0).
    Subtitles,
}

/// One Map item: a video piece, or the audio track. The audio is encoded
/// beside the pieces rather than in split, so it costs no step of the
/// job's critical path (issue 6). Small on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscodeTask {
    pub job_id: String,
    #[serde(default)]
    pub track: Track,
    /// The piece; for the audio, the source track (`0:a:n`); 0 for the subtitles.
    #[serde(default)]
    pub index: u32,
}

/// Split's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitOutput {
    pub job_id: String,
    /// The Map runs over these: the audio tracks and the subtitles first
    /// (when there are any), so they start at once, then the pieces in order.
    pub tasks: Vec<TranscodeTask>,
    pub pieces: u32,
    pub piece_seconds: f64,
    pub duration_seconds: f64,
    pub has_audio: bool,
}

/// Transcode's answer for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscodeOutput {
    pub job_id: String,
    #[serde(default)]
    pub track: Track,
    pub index: u32,
    /// Video frames encoded (0 for the audio).
    pub frames: u64,
    pub bytes: u64,
}

/// Merge's input: the job and the Map's `Items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeInput {
    pub job_id: String,
    pub tasks: Vec<TranscodeOutput>,
}

/// One uploaded output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputObject {
    pub format: Format,
    /// The main object (for HLS, the playlist).
    pub key: String,
    /// Bytes uploaded for this format (for HLS, playlist plus segments).
    pub bytes: u64,
    /// Objects uploaded for this format (HLS: playlist plus segments).
    pub objects: u32,
    pub duration_seconds: Option<f64>,
    pub bitrate_kbps: Option<f64>,
    /// `abr`: each rendition, largest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<crate::ladder::RenditionOutcome>,
    /// Sound-only outputs (m4a, mp3, an audio job's HLS): the integrated
    /// loudness measured on the output (EBU R128, LUFS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loudness_lufs: Option<f64>,
}

/// Merge's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeOutput {
    pub job_id: String,
    pub outputs: Vec<OutputObject>,
}

/// The error a Catch hands on. CloudFlow names the fields `Error` and `Cause`;
/// the aliases accept the spellings of our own handlers too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowError {
    #[serde(alias = "Error", alias = "errorType", alias = "ErrorCode")]
    pub error: String,
    #[serde(
        default,
        alias = "Cause",
        alias = "errorMessage",
        alias = "ErrorMessage"
    )]
    pub cause: String,
}

/// After-process's input: the execution input, plus merge's answer on the
/// success path or the caught error on the failure path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AfterProcessInput {
    pub request: JobRequest,
    #[serde(default)]
    pub merge: Option<MergeOutput>,
    #[serde(default)]
    pub error: Option<FlowError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Succeeded,
    Failed,
}

/// Wall time of one step, recorded by the handler in the job folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTiming {
    pub step: String,
    /// Number of invocations folded into this line (transcode: one per piece).
    pub invocations: u32,
    /// Sum of the invocations' wall times.
    pub seconds: f64,
}

/// The job record after-process writes next to the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub job_id: String,
    pub status: JobStatus,
    pub source: SourceRef,
    pub probe: Option<MediaInfo>,
    pub outputs: Vec<OutputObject>,
    pub steps: Vec<StepTiming>,
    pub error: Option<FlowError>,
    /// What was done to the picture beyond the encode (deinterlacing...),
    /// from what the probe found ([`VideoInfo::conversions`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversions: Vec<String>,
    /// How split cut the source (absent when split did not finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutting: Option<Cutting>,
    /// Every audio and subtitle track of the source, with the outputs that
    /// carry it or why none does ([`JobPlan::track_outcomes`]); on success.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<crate::tracks::TrackOutcome>,
    /// Every overridable setting of the job: its value and where it came
    /// from (`default`, `s.yaml/env` or `job file <key>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, SettingRecord>,
    /// What the job cost in FC 3.0's billing terms, from each invocation's
    /// recorded seconds and each function's size (absent without
    /// `FUNCTION_SIZES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::JobCost>,
    /// Requested formats the source cannot give (video formats of an
    /// audio-only source), each with why; the job made the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// RFC 3339.
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub size: u64,
}

/// After-process's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AfterProcessOutput {
    pub job_id: String,
    pub status: JobStatus,
    pub manifest_key: String,
    pub webhook_delivered: Option<bool>,
    pub nas_cleaned: bool,
}

/// The simple function's answer to one OSS event: the record of every job
/// it ran (what after-process answers in the workflow) and every record it
/// skipped, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleOutput {
    pub jobs: Vec<AfterProcessOutput>,
    pub skipped: Vec<SkippedRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRecord {
    pub key: String,
    pub reason: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn only_interlaced_field_orders_are_converted() {
        for (order, interlaced) in [
            (None, false),
            (Some("progressive"), false),
            (Some("tt"), true),
            (Some("bb"), true),
            (Some("tb"), true),
            (Some("bt"), true),
        ] {
            let v = VideoInfo {
                field_order: order.map(str::to_string),
                ..Default::default()
            };
            assert_eq!(v.interlaced(), interlaced, "{order:?}");
            assert_eq!(v.conversions().len(), interlaced as usize, "{order:?}");
        }
    }

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
    fn format_lists_parse_and_refuse_unknown() {
        assert_eq!(
            Format::parse_list("mp4, flv,hls m3u8 MP4").unwrap(),
            vec![Format::Mp4, Format::Flv, Format::Hls]
        );
        let e = Format::parse_list("mp4, webm").unwrap_err();
        assert!(e.message.contains("webm") && e.message.contains("choose from"));
        assert!(Format::parse_list(" , ").is_err());
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
    fn a_source_of_sound_alone_makes_sound_formats_and_skips_the_others() {
        assert_eq!(
            Format::parse_list("m4a, MP3, aac").unwrap(),
            vec![Format::M4a, Format::Mp3]
        );
        let track = |default| AudioInfo {
            codec: "mp3".into(),
            sample_rate: 44100,
            channels: 2,
            duration_seconds: 10.0,
            start_seconds: 0.025,
            default,
            ..Default::default()
        };
        let sound = MediaInfo {
            audio: Some(track(true)),
            audio_tracks: vec![track(false), track(true)],
            ..Default::default()
        };
        assert!(sound.audio_only());
        let asked = [Format::Mp4, Format::Hls, Format::M4a, Format::Gif];
        assert_eq!(sound.makes(&asked), [Format::Hls, Format::M4a]);
        let skipped = sound.skipped(&asked);
        assert_eq!(skipped.len(), 2);
        assert_eq!(skipped[0].format, Format::Mp4);
        assert!(skipped[0].reason.contains("no video stream"));
        // Zero is the first sample: the whole track is heard.
        assert_eq!(sound.audio_end_seconds(1), Some(10.0));
        // One track out: the default one, even for HLS.
        assert_eq!(sound.audio_plan_for(&asked), [1]);
        // A video job asking only for mp3 encodes the default track.
        let video = MediaInfo {
            video: Some(VideoInfo::default()),
            ..sound.clone()
        };
        assert!(!video.audio_only());
        assert_eq!(video.audio_plan_for(&[Format::Mp3]), [1]);
        assert_eq!(video.audio_plan_for(&[Format::Mp4, Format::Mp3]), [0, 1]);
        assert!(video.skipped(&asked).is_empty());
    }

    #[test]
    fn camel_case_on_the_wire() {
        let v = serde_json::to_value(request()).unwrap();
        assert!(v.get("jobId").is_some() && v.get("segmentSeconds").is_some());
        assert_eq!(v["formats"][1], "hls");
    }

    #[test]
    fn flow_error_accepts_cloudflow_and_handler_spellings() {
        let a: FlowError = serde_json::from_str(r#"{"Error":"CorruptMedia","Cause":"x"}"#).unwrap();
        let b: FlowError =
            serde_json::from_str(r#"{"errorType":"CorruptMedia","errorMessage":"x"}"#).unwrap();
        assert_eq!(a, b);
    }
}
