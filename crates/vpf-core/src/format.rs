//! The vocabulary every job speaks: the output formats and the encoding
//! profile they all share.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ladder::Ladder;
use crate::watermark::Watermark;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
