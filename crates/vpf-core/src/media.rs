//! What ffprobe told us about a source (filled by vpf-media), and what a
//! job can make of it.

use serde::{Deserialize, Serialize};

use crate::format::{Format, Profile};
use crate::ladder::Rendition;

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

#[cfg(test)]
mod tests {
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
}
