//! Audio and subtitle tracks: which outputs carry which track, and the
//! account of it the manifest gives ([`JobPlan::track_outcomes`]); and the
//! cleaning of the language and title tags a source brings, which end up
//! in ffmpeg arguments and playlist attributes.

use serde::{Deserialize, Serialize};

use crate::format::Format;
use crate::plan::JobPlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Audio,
    Subtitle,
}

/// One requested format that carries a track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptIn {
    pub format: Format,
    /// As what: `aac`, `mov_text`, `webvtt`.
    pub codec: String,
    /// Marked as the default track of its kind there.
    pub default: bool,
}

/// One requested format that does not carry a track the job kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeftOut {
    pub format: Format,
    pub reason: String,
}

/// What the source had, and what the job did with it: the manifest's
/// `tracks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackOutcome {
    pub kind: TrackKind,
    /// Its place among the source's tracks of its kind (ffmpeg's `0:a:n`, `0:s:n`).
    pub number: u32,
    /// The stream's index in the source.
    pub stream_index: u32,
    /// The source's codec.
    pub codec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Audio channels in the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    /// The source flags it as the default track.
    pub source_default: bool,
    pub kept_in: Vec<KeptIn>,
    /// Requested formats that cannot carry it, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<LeftOut>,
    /// Why no output carries it (the track was not processed at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}

impl JobPlan {
    /// Every audio and subtitle track of the source, with the outputs that
    /// carry it or the reason none does. Formats: MP4 and HLS carry every
    /// track kept (HLS as alternate renditions); FLV and AVI carry one audio
    /// track, the default, and no subtitles; GIF and JPEG are pictures.
    pub fn track_outcomes(&self) -> Vec<TrackOutcome> {
        let formats = &self.formats();
        let audio_only = self.info.audio_only();
        let mut out = Vec::new();
        let audio_plan = self.audio_plan();
        let default_at = self.default_audio();
        for n in 0..self.info.audio_count() {
            let Some(a) = self.info.audio_track(n) else {
                continue;
            };
            let at = audio_plan.iter().position(|&k| k == n);
            let is_default = at.is_some() && at == default_at;
            let (mut kept_in, mut left_out) = (Vec::new(), Vec::new());
            if at.is_some() {
                for &f in formats {
                    match f {
                        Format::Mp4 | Format::Abr => kept_in.push(KeptIn {
                            format: f,
                            codec: "aac".into(),
                            default: is_default,
                        }),
                        Format::Hls if !audio_only => kept_in.push(KeptIn {
                            format: f,
                            codec: "aac".into(),
                            default: is_default,
                        }),
                        Format::Hls | Format::M4a | Format::Mp3 if is_default => {
                            kept_in.push(KeptIn {
                                format: f,
                                codec: if f == Format::Mp3 { "mp3" } else { "aac" }.into(),
                                default: true,
                            })
                        }
                        Format::Hls | Format::M4a | Format::Mp3 => left_out.push(LeftOut {
                            format: f,
                            reason: format!(
                                "{} carries one audio track: the default one",
                                f.as_str().to_ascii_uppercase()
                            ),
                        }),
                        Format::Flv | Format::Avi if is_default => kept_in.push(KeptIn {
                            format: f,
                            codec: "aac".into(),
                            default: true,
                        }),
                        Format::Flv | Format::Avi => left_out.push(LeftOut {
                            format: f,
                            reason: format!(
                                "{} carries one audio track: the default one",
                                f.as_str().to_ascii_uppercase()
                            ),
                        }),
                        Format::Gif | Format::Jpg | Format::Sprite => {}
                    }
                }
            }
            out.push(TrackOutcome {
                kind: TrackKind::Audio,
                number: n,
                stream_index: a.stream_index,
                codec: a.codec.clone(),
                language: a.language.clone(),
                title: a.title.clone(),
                channels: Some(a.channels),
                source_default: a.default,
                kept_in,
                left_out,
                dropped: at.is_none().then(|| {
                    if self.info.audio_end_seconds(n).is_none() {
                        "it ends before the first video frame: nothing of it would be heard".into()
                    } else if audio_only {
                        "an audio job's outputs (m4a, mp3, audio-only HLS) carry one audio track: the default one".into()
                    } else if formats
                        .iter()
                        .any(|f| matches!(f, Format::Flv | Format::Avi) || f.is_audio())
                    {
                        "no requested format carries more than one audio track (FLV, AVI, M4A and MP3 carry the default one)".into()
                    } else {
                        "no requested format carries sound".into()
                    }
                }),
            });
        }
        for (n, s) in self.info.subtitle_tracks.iter().enumerate() {
            let n = n as u32;
            let at = self.subtitle_tracks.iter().position(|&k| k == n);
            let kept = at.is_some();
            let (mut kept_in, mut left_out) = (Vec::new(), Vec::new());
            if kept {
                for &f in formats {
                    match f {
                        // No subtitle track is flagged default, but ffmpeg's
                        // MP4 muxer enables the first track of each kind
                        // when none is, and readers take "enabled" for it.
                        Format::Mp4 => kept_in.push(KeptIn {
                            format: f,
                            codec: "mov_text".into(),
                            default: at == Some(0),
                        }),
                        Format::Hls => kept_in.push(KeptIn {
                            format: f,
                            codec: "webvtt".into(),
                            default: false,
                        }),
                        Format::Flv | Format::Avi | Format::M4a | Format::Mp3 => left_out.push(LeftOut {
                            format: f,
                            reason: format!(
                                "{} has no text subtitle track",
                                f.as_str().to_ascii_uppercase()
                            ),
                        }),
                        Format::Abr => left_out.push(LeftOut {
                            format: f,
                            reason: "the adaptive-streaming presentation carries no subtitles yet (the MP4 and the TS HLS do)".into(),
                        }),
                        Format::Gif | Format::Jpg | Format::Sprite => {}
                    }
                }
            }
            out.push(TrackOutcome {
                kind: TrackKind::Subtitle,
                number: n,
                stream_index: s.stream_index,
                codec: s.codec.clone(),
                language: s.language.clone(),
                title: s.title.clone(),
                channels: None,
                source_default: s.default,
                kept_in,
                left_out,
                dropped: match kept {
                    true => None,
                    false => Some(s.unsupported().unwrap_or_else(|| {
                        "no requested format carries subtitles (MP4 and HLS do)".to_string()
                    })),
                },
            });
        }
        out
    }
}

/// A source's `language` tag as we keep it: an ISO 639 code (2 or 3
/// letters, lower case) with optional subtags (`pt-BR`); `und`
/// (undetermined) and anything else are dropped. The tag comes from the
/// uploaded file and goes into ffmpeg arguments and playlists.
pub fn clean_language(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let mut parts = raw.split('-');
    let primary = parts.next()?.to_ascii_lowercase();
    let primary_ok = (2..=3).contains(&primary.len())
        && primary.bytes().all(|c| c.is_ascii_alphabetic())
        && primary != "und";
    let subtags_ok = parts
        .clone()
        .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphanumeric()));
    if !primary_ok || !subtags_ok || raw.len() > 35 {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    Some(if rest.is_empty() {
        primary
    } else {
        format!("{primary}-{}", rest.join("-"))
    })
}

/// A source's `title` tag as we keep it: control characters and double
/// quotes removed (it becomes a quoted playlist attribute), at most 100
/// characters; `None` when nothing is left.
pub fn clean_title(raw: &str) -> Option<String> {
    let t: String = raw
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(100)
        .collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// ISO 639-2 codes (bibliographic and terminologic) with a two-letter
/// ISO 639-1 code and an English name, for the languages subtitles and dubs
/// come in most.
const LANGUAGES: [(&str, &str, &str); 44] = [
    ("ara", "ar", "Arabic"),
    ("bul", "bg", "Bulgarian"),
    ("cat", "ca", "Catalan"),
    ("ces", "cs", "Czech"),
    ("cze", "cs", "Czech"),
    ("chi", "zh", "Chinese"),
    ("zho", "zh", "Chinese"),
    ("dan", "da", "Danish"),
    ("deu", "de", "German"),
    ("ger", "de", "German"),
    ("dut", "nl", "Dutch"),
    ("nld", "nl", "Dutch"),
    ("ell", "el", "Greek"),
    ("gre", "el", "Greek"),
    ("eng", "en", "English"),
    ("fin", "fi", "Finnish"),
    ("fra", "fr", "French"),
    ("fre", "fr", "French"),
    ("heb", "he", "Hebrew"),
    ("hin", "hi", "Hindi"),
    ("hrv", "hr", "Croatian"),
    ("hun", "hu", "Hungarian"),
    ("ind", "id", "Indonesian"),
    ("ita", "it", "Italian"),
    ("jpn", "ja", "Japanese"),
    ("kor", "ko", "Korean"),
    ("may", "ms", "Malay"),
    ("msa", "ms", "Malay"),
    ("nor", "no", "Norwegian"),
    ("pol", "pl", "Polish"),
    ("por", "pt", "Portuguese"),
    ("ron", "ro", "Romanian"),
    ("rum", "ro", "Romanian"),
    ("rus", "ru", "Russian"),
    ("slk", "sk", "Slovak"),
    ("slo", "sk", "Slovak"),
    ("spa", "es", "Spanish"),
    ("srp", "sr", "Serbian"),
    ("swe", "sv", "Swedish"),
    ("tha", "th", "Thai"),
    ("tur", "tr", "Turkish"),
    ("ukr", "uk", "Ukrainian"),
    ("vie", "vi", "Vietnamese"),
    ("tam", "ta", "Tamil"),
];

/// A kept language as an HLS `LANGUAGE` attribute wants it (RFC 5646:
/// the shortest ISO 639 code): `eng` becomes `en`; codes without a
/// two-letter form stay as they are.
pub fn bcp47(language: &str) -> String {
    let (primary, rest) = match language.split_once('-') {
        Some((p, r)) => (p, Some(r)),
        None => (language, None),
    };
    let primary = LANGUAGES
        .iter()
        .find(|(three, _, _)| *three == primary)
        .map_or(primary, |(_, two, _)| two);
    match rest {
        Some(r) => format!("{primary}-{r}"),
        None => primary.to_string(),
    }
}

/// The English name of a kept language (`fre`: French), for players'
/// track menus; `None` for codes outside the table.
pub fn language_name(language: &str) -> Option<&'static str> {
    let primary = language.split('-').next().unwrap_or(language);
    LANGUAGES
        .iter()
        .find(|(three, two, _)| *three == primary || *two == primary)
        .map(|(_, _, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AudioInfo, MediaInfo, SubtitleInfo, VideoInfo};

    #[test]
    fn languages_and_titles_are_cleaned() {
        assert_eq!(clean_language(" ENG ").as_deref(), Some("eng"));
        assert_eq!(clean_language("pt-BR").as_deref(), Some("pt-BR"));
        assert_eq!(clean_language("und"), None);
        assert_eq!(clean_language("e\"n"), None);
        assert_eq!(clean_language("english"), None);
        assert_eq!(clean_language("en-"), None);
        assert_eq!(
            clean_title("Director's \"cut\"\n").as_deref(),
            Some("Director's cut")
        );
        assert_eq!(clean_title(" \t"), None);
        assert_eq!(clean_title(&"x".repeat(300)).map(|t| t.len()), Some(100));
        assert_eq!(bcp47("eng"), "en");
        assert_eq!(bcp47("fre"), "fr");
        assert_eq!(bcp47("pt-BR"), "pt-BR");
        assert_eq!(bcp47("haw"), "haw");
        assert_eq!(language_name("fre"), Some("French"));
        assert_eq!(language_name("pt-BR"), Some("Portuguese"));
        assert_eq!(language_name("haw"), None);
    }

    fn audio(language: &str, default: bool, start: f64) -> AudioInfo {
        AudioInfo {
            codec: "aac".into(),
            sample_rate: 48000,
            channels: 2,
            duration_seconds: 4.0,
            start_seconds: start,
            language: Some(language.into()),
            default,
            ..Default::default()
        }
    }

    fn plan(
        formats: Vec<Format>,
        audio_tracks: Vec<AudioInfo>,
        subs: Vec<SubtitleInfo>,
    ) -> JobPlan {
        let request = crate::request::JobRequest {
            job_id: "j".into(),
            bucket: "b".into(),
            key: "k.mkv".into(),
            etag: String::new(),
            size: 1,
            output_base: "o".into(),
            stem: "k".into(),
            formats,
            segment_seconds: 10.0,
            max_pieces: 10,
            profile: Default::default(),
            webhook_url: None,
            sources: Default::default(),
        };
        let info = MediaInfo {
            video: Some(VideoInfo {
                start_seconds: 1.0,
                ..Default::default()
            }),
            audio: audio_tracks.first().cloned(),
            audio_tracks,
            subtitle_tracks: subs,
            ..Default::default()
        };
        // As split plans it.
        let audio_tracks = info.audio_plan_for(&request.formats);
        let subtitle_tracks = info.subtitle_plan_for(&request.formats);
        JobPlan {
            request,
            source_file: "source.mkv".into(),
            has_audio: !audio_tracks.is_empty(),
            audio_tracks,
            subtitle_tracks,
            info,
            piece_seconds: 10.0,
            pieces: vec![],
            cutting: Default::default(),
            renditions: vec![],
            watermark_image: None,
        }
    }

    #[test]
    fn nothing_is_encoded_that_no_output_carries() {
        let sub = SubtitleInfo {
            codec: "subrip".into(),
            stream_index: 3,
            ..Default::default()
        };
        let tracks = || vec![audio("eng", false, 0.0), audio("fra", true, 0.0)];
        // FLV and AVI carry the default track only, and no subtitles.
        let p = plan(vec![Format::Flv, Format::Avi], tracks(), vec![sub.clone()]);
        assert_eq!(p.audio_plan(), [1]);
        assert!(p.subtitle_tracks.is_empty());
        let t = p.track_outcomes();
        assert!(
            t[0].dropped
                .as_deref()
                .unwrap()
                .contains("more than one audio track")
        );
        assert_eq!(t[1].kept_in.len(), 2);
        assert!(
            t[2].dropped
                .as_deref()
                .unwrap()
                .contains("carries subtitles")
        );
        // Pictures only: no sound at all.
        let p = plan(vec![Format::Gif, Format::Sprite], tracks(), vec![]);
        assert!(p.audio_plan().is_empty() && !p.has_audio);
        assert!(
            p.track_outcomes()[1]
                .dropped
                .as_deref()
                .unwrap()
                .contains("carries sound")
        );
        // MP4: everything.
        let p = plan(vec![Format::Mp4, Format::Flv], tracks(), vec![sub]);
        assert_eq!(
            (p.audio_plan(), p.subtitle_tracks.clone()),
            (vec![0, 1], vec![0])
        );
    }

    #[test]
    fn every_track_is_accounted_for() {
        let subs = vec![
            SubtitleInfo {
                codec: "subrip".into(),
                stream_index: 4,
                language: Some("eng".into()),
                ..Default::default()
            },
            SubtitleInfo {
                codec: "hdmv_pgs_subtitle".into(),
                stream_index: 5,
                ..Default::default()
            },
        ];
        let p = plan(
            vec![Format::Mp4, Format::Flv, Format::Hls, Format::Jpg],
            // The second is flagged default; the third ends before the video.
            vec![
                audio("eng", false, 0.0),
                audio("fra", true, 0.0),
                audio("deu", false, -4.0),
            ],
            subs,
        );
        assert_eq!(p.audio_plan(), [0, 1]);
        assert_eq!(p.default_audio(), Some(1));
        assert_eq!(p.subtitle_tracks, [0]);
        let t = p.track_outcomes();
        assert_eq!(t.len(), 5);
        let formats = |o: &TrackOutcome| o.kept_in.iter().map(|k| k.format).collect::<Vec<_>>();
        // English: MP4 and HLS, not the default; FLV has no room for it.
        assert_eq!(formats(&t[0]), [Format::Mp4, Format::Hls]);
        assert!(t[0].kept_in.iter().all(|k| !k.default));
        assert_eq!(t[0].left_out[0].format, Format::Flv);
        // French: the default everywhere, FLV included.
        assert_eq!(formats(&t[1]), [Format::Mp4, Format::Flv, Format::Hls]);
        assert!(t[1].kept_in.iter().all(|k| k.default && k.codec == "aac"));
        assert!(
            t[2].dropped
                .as_deref()
                .unwrap()
                .contains("before the first video frame")
        );
        assert!(t[2].kept_in.is_empty());
        // Text subtitles: mov_text in MP4, WebVTT in HLS; the bitmap one dropped.
        assert_eq!(t[3].kind, TrackKind::Subtitle);
        let codecs: Vec<&str> = t[3].kept_in.iter().map(|k| k.codec.as_str()).collect();
        assert_eq!(codecs, ["mov_text", "webvtt"]);
        let defaults: Vec<bool> = t[3].kept_in.iter().map(|k| k.default).collect();
        assert_eq!(defaults, [true, false], "the MP4 muxer enables the first");
        assert_eq!(t[3].left_out.len(), 1);
        assert!(t[4].dropped.as_deref().unwrap().contains("bitmap"));
        assert_eq!(t[4].stream_index, 5);
    }

    #[test]
    fn plans_from_before_tracks_were_recorded_keep_their_one_track() {
        let mut p = plan(vec![Format::Mp4], vec![audio("eng", false, 0.0)], vec![]);
        p.info.audio_tracks.clear();
        p.audio_tracks.clear();
        assert_eq!(p.info.audio_count(), 1);
        assert_eq!(p.audio_plan(), [0]);
        assert_eq!(p.default_audio(), Some(0));
        let old: JobPlan = serde_json::from_value({
            let mut v = serde_json::to_value(&p).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("audioTracks");
            o.remove("subtitleTracks");
            v
        })
        .unwrap();
        assert_eq!(old.audio_plan(), [0]);
        assert!(old.reads_source_later());
        assert_eq!(old.track_outcomes()[0].kept_in[0].format, Format::Mp4);
    }
}
