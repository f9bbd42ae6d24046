//! The plan split writes to the job folder: how the source was cut, which
//! tracks and renditions the job makes.

use serde::{Deserialize, Serialize};

use crate::format::Format;
use crate::ladder::Rendition;
use crate::media::{MediaInfo, Skipped, VideoInfo};
use crate::request::JobRequest;
use crate::watermark::MarkImage;

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
