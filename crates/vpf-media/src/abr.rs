//! Adaptive streaming: the ladder's renditions packaged as CMAF (fragmented
//! MP4) segments, with an HLS master playlist and a DASH manifest over the
//! same segments.
//!
//! ```text
//! abr/master.m3u8          HLS: one variant per video rendition, one audio group
//! abr/manifest.mpd         DASH: the same renditions and segments
//! abr/1080p/init.mp4       per rendition: the initialization segment,
//! abr/1080p/00001.m4s      its media segments (about 4 s, two key-frame intervals),
//! abr/1080p/index.m3u8     and its HLS media playlist
//! abr/audio-0/...          per audio track, the same
//! ```
//!
//! ffmpeg's DASH muxer cuts every rendition's pieces (joined by the concat
//! demuxer, stream copy) and every audio track in one pass. Its own manifest
//! and playlists are not used: it declares the encoder's nominal rates, not
//! what the segments hold, names audio renditions by number without their
//! language, and its HLS playlists carry wall-clock dates and no VOD type.
//! Both documents are written here from the segments themselves (read by
//! [`crate::cmaf`]): each segment's time and length, each rendition's peak
//! segment bit rate (`BANDWIDTH`, Apple's rule) and average. Before either is
//! written, the renditions are checked: every one holds the source's frames,
//! every segment opens on a key frame, and segment `n` starts at the same
//! time in every rendition, so a player can switch at any segment.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vpf_core::job::JobPlan;
use vpf_core::ladder::{Rendition, RenditionOutcome};
use vpf_core::nas::{JobDir, write_atomic};
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::cmaf::{Fragment, Init, delay_fragment, read_fragment, read_init};
use crate::hls::{AUDIO_GROUP, MasterPlaylist, Variant, audio_media, frame_rate};
use crate::join::concat_list;
pub use crate::output::{ABR_DIR as DIR, ABR_MASTER as MASTER};
use crate::run::{Stdout, args, ffmpeg_base, run};
use crate::temp::{Temp, create_dir};
use crate::verify::Counted;

/// The DASH manifest, in [`DIR`].
pub const MPD: &str = "manifest.mpd";
/// Each rendition's media playlist, in its folder.
pub const PLAYLIST: &str = "index.m3u8";
/// Each rendition's initialization segment, in its folder.
pub const INIT: &str = "init.mp4";
/// The DASH muxer's own manifest, removed once the segments are read.
const FFMPEG_MPD: &str = "ffmpeg.mpd";
/// Target segment length: two key-frame intervals.
pub const SEGMENT_SECONDS: u32 = 4;

/// An audio rendition's folder.
pub fn audio_folder(k: usize) -> String {
    format!("audio-{k}")
}

/// One media segment, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its file name in the rendition's folder (`00001.m4s`).
    pub file: String,
    pub fragment: Fragment,
    pub bytes: u64,
}

/// One packaged rendition, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Its folder under [`DIR`] (`720p`, `audio-0`).
    pub folder: String,
    pub init: Init,
    pub segments: Vec<Segment>,
}

impl Track {
    fn seconds(&self, ticks: u64) -> f64 {
        ticks as f64 / self.init.timescale as f64
    }

    pub fn duration_seconds(&self) -> f64 {
        self.seconds(self.segments.iter().map(|s| s.fragment.duration).sum())
    }

    pub fn samples(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.fragment.samples as u64)
            .sum()
    }

    /// When its first frame is shown, seconds (its first decode time plus
    /// that frame's composition offset).
    pub fn first_frame_seconds(&self) -> f64 {
        self.segments.first().map_or(0.0, |s| {
            (s.fragment.decode_time as f64 + s.fragment.first_offset as f64).max(0.0)
                / self.init.timescale as f64
        })
    }

    /// Segment `i`'s start, seconds.
    pub fn start_seconds(&self, i: usize) -> Option<f64> {
        self.segments
            .get(i)
            .map(|s| self.seconds(s.fragment.decode_time))
    }

    /// The highest bit rate of any segment, bits per second.
    pub fn peak_bps(&self) -> f64 {
        self.segments
            .iter()
            .filter(|s| s.fragment.duration > 0)
            .map(|s| s.bytes as f64 * 8.0 / self.seconds(s.fragment.duration))
            .fold(0.0, f64::max)
    }

    /// Bits per second over the whole rendition.
    pub fn average_bps(&self) -> f64 {
        let bytes: u64 = self.segments.iter().map(|s| s.bytes).sum();
        bytes as f64 * 8.0 / self.duration_seconds().max(1e-9)
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

/// What [`make`] packaged, in a temporary folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Presentation {
    /// Largest first, as `plan.renditions`.
    pub video: Vec<Track>,
    /// In the job's audio order.
    pub audio: Vec<Track>,
}

/// The video renditions' packaging: the pieces of each rendition joined by
/// the concat demuxer (`lists[k]`, stream `k`) through [`dash_muxer`] into
/// `dir`.
pub fn video_segment_args(lists: &[PathBuf], dir: &Path) -> Vec<OsString> {
    let mut a = ffmpeg_base();
    for l in lists {
        a.extend(args!["-f", "concat", "-safe", "0", "-i", l]);
    }
    for k in 0..lists.len() {
        a.extend(args!["-map", format!("{k}:V:0")]);
    }
    a.extend(dash_muxer(dir));
    a
}

/// The audio tracks' packaging (track `j`, stream `j`).
pub fn audio_segment_args(audio: &[PathBuf], dir: &Path) -> Vec<OsString> {
    let mut a = ffmpeg_base();
    for t in audio {
        a.extend(args!["-i", t]);
    }
    for j in 0..audio.len() {
        a.extend(args!["-map", format!("{j}:a:0")]);
    }
    a.extend(dash_muxer(dir));
    a
}

/// ffmpeg's DASH muxer as every presentation uses it: stream copy,
/// segments of about [`SEGMENT_SECONDS`] cut at key frames, into `dir`
/// with flat names (`init-<stream>.m4s`, `chunk-<stream>-<number>.m4s`);
/// its own manifest, `ffmpeg.mpd`, is not kept.
///
/// Timing: H.264 with B-frames is decoded ahead of display, so its first
/// frame is shown some frames after its first decode time. MP4 writers
/// usually hide that with an edit list, which dash.js and Chromium follow
/// and hls.js ignores: hls.js then places every segment those frames late
/// and, switching back to a rendition, appends a segment it already has
/// (its `bufferAppendNoProgress` error, seen in our browser test). With
/// `negative_cts_offsets`, ffmpeg 5.1 writes version-1 track runs whose
/// composition offsets go negative (CMAF's way): the first frame is shown
/// at its decode time, zero, and the edit list shifts nothing, so every
/// player puts every frame at the same time. (ffprobe, which shifts
/// negative offsets away, reports the first frame two frames late.) Should
/// a first frame still come after its decode time, [`make`] moves the audio
/// as much.
pub fn dash_muxer(dir: &Path) -> Vec<OsString> {
    args![
        "-c",
        "copy",
        // The pieces are NUT, which tags H.264 `H264`; the DASH muxer's
        // MP4 writer takes only MP4's own tag.
        "-tag:v",
        "avc1",
        "-f",
        "dash",
        "-format_options",
        "movflags=+negative_cts_offsets",
        "-seg_duration",
        SEGMENT_SECONDS.to_string(),
        "-use_template",
        "1",
        "-use_timeline",
        "1",
        "-init_seg_name",
        "init-$RepresentationID$.m4s",
        "-media_seg_name",
        "chunk-$RepresentationID$-$Number%05d$.m4s",
        dir.join(FFMPEG_MPD)
    ]
}

/// Package the ladder of `plan` from the encoded pieces in `jobdir` and the
/// audio tracks into a temporary folder beside `out_dir/abr`, and read
/// every segment. The caller checks it ([`finish`]) and keeps the folder.
pub(crate) async fn make(
    tools: &Tools,
    plan: &JobPlan,
    jobdir: &JobDir,
    out_dir: &Path,
) -> Result<(Temp, Presentation)> {
    if plan.renditions.is_empty() {
        return Err(Error::invalid(
            "the job plan has no ladder: split plans one when abr is asked for",
        ));
    }
    let tmp = Temp::beside(&out_dir.join(DIR));
    create_dir(tmp.path())?;
    let lists: Vec<Temp> = (0..plan.renditions.len())
        .map(|k| Temp::beside(&jobdir.path().join(format!("abr-{k}.ffconcat"))))
        .collect();
    for (k, l) in lists.iter().enumerate() {
        let text = concat_list(&plan.pieces, |i| jobdir.encoded_rendition(i, k))?;
        write_atomic(l.path(), text.as_bytes())?;
    }
    let audio: Vec<PathBuf> = plan
        .audio_plan()
        .iter()
        .map(|&n| jobdir.audio_track(n))
        .collect();
    let list_paths: Vec<PathBuf> = lists.iter().map(|l| l.path().to_path_buf()).collect();
    let dir = tmp.path();
    // The video first: the audio's delay is read from it.
    run(
        &tools.ffmpeg,
        &video_segment_args(&list_paths, dir),
        Stdout::Ignore,
    )
    .await?
    .check(ErrorKind::EncodeFailed, "packaging the video renditions")?;
    drop(lists);
    let video = plan
        .renditions
        .iter()
        .enumerate()
        .map(|(k, r)| gather(dir, k, &r.name, 0.0))
        .collect::<Result<Vec<_>>>()?;
    let audio = match audio.is_empty() {
        true => Vec::new(),
        false => {
            run(
                &tools.ffmpeg,
                &audio_segment_args(&audio, dir),
                Stdout::Ignore,
            )
            .await?
            .check(ErrorKind::EncodeFailed, "packaging the audio renditions")?;
            // ffmpeg's DASH muxer starts each stream at its own zero
            // (`-itsoffset` does not survive it): the audio is moved by the
            // video's reorder delay in its segments' decode times instead.
            let delay = video.first().map_or(0.0, Track::first_frame_seconds);
            (0..audio.len())
                .map(|j| gather(dir, j, &audio_folder(j), delay))
                .collect::<Result<Vec<_>>>()?
        }
    };
    let _ = std::fs::remove_file(dir.join(FFMPEG_MPD));
    Ok((tmp, Presentation { video, audio }))
}

/// Move stream `id`'s files from the DASH muxer's flat names into
/// `dir/<folder>/` and read them, moved `delay` seconds later than ffmpeg
/// put them.
fn gather(dir: &Path, id: usize, folder: &str, delay: f64) -> Result<Track> {
    let to = dir.join(folder);
    create_dir(&to)?;
    let init_path = to.join(INIT);
    std::fs::rename(dir.join(format!("init-{id}.m4s")), &init_path).map_err(|e| {
        Error::new(
            ErrorKind::EncodeFailed,
            format!("the {folder} rendition has no initialization segment: {e}"),
        )
    })?;
    let init = read_init(&std::fs::read(&init_path)?)
        .map_err(|e| Error::new(e.kind, format!("{folder}/{INIT}: {}", e.message)))?;
    let prefix = format!("chunk-{id}-");
    let mut numbered: Vec<(u32, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let number = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".m4s"))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(n) = number {
            numbered.push((n, entry.path()));
        }
    }
    numbered.sort();
    let mut segments = Vec::with_capacity(numbered.len());
    for (n, from) in numbered {
        let file = format!("{n:05}.m4s");
        let path = to.join(&file);
        let mut data = std::fs::read(&from)?;
        let ticks = (delay * init.timescale as f64).round() as u64;
        if ticks > 0 {
            delay_fragment(&mut data, ticks)
                .map_err(|e| Error::new(e.kind, format!("{folder}/{file}: {}", e.message)))?;
            std::fs::write(&from, &data)?;
        }
        std::fs::rename(&from, &path)?;
        let fragment = read_fragment(&data, &init)
            .map_err(|e| Error::new(e.kind, format!("{folder}/{file}: {}", e.message)))?;
        segments.push(Segment {
            file,
            fragment,
            bytes: data.len() as u64,
        });
    }
    Ok(Track {
        folder: folder.to_string(),
        init,
        segments,
    })
}

/// Check the presentation against the plan and the verified joined video
/// (`counted`), then write the media playlists, the master playlist and
/// the DASH manifest into `dir`. Returns each video rendition as the
/// manifest reports it.
pub(crate) fn finish(
    dir: &Path,
    plan: &JobPlan,
    counted: &Counted,
    p: &Presentation,
) -> Result<Vec<RenditionOutcome>> {
    let problems = check(plan, counted, p);
    if !problems.is_empty() {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("the adaptive streams: {}", problems.join("; ")),
        ));
    }
    for t in p.video.iter().chain(&p.audio) {
        write_atomic(
            &dir.join(&t.folder).join(PLAYLIST),
            media_playlist(t).as_bytes(),
        )?;
    }
    write_atomic(&dir.join(MPD), mpd(plan, p).as_bytes())?;
    let m = master(plan, p);
    write_atomic(&dir.join(MASTER), m.write().as_bytes())?;
    Ok(outcomes(plan, p, &m))
}

/// What is wrong with the presentation (empty: nothing).
pub fn check(plan: &JobPlan, counted: &Counted, p: &Presentation) -> Vec<String> {
    let mut problems = Vec::new();
    let frames = plan.info.video.as_ref().map(|v| v.frames).unwrap_or(0);
    let frame = plan
        .info
        .video
        .as_ref()
        .map(|v| v.frame_seconds())
        .unwrap_or(0.04);
    if p.video.len() != plan.renditions.len() {
        problems.push(format!(
            "{} video renditions packaged, {} planned",
            p.video.len(),
            plan.renditions.len()
        ));
    }
    for (t, r) in p.video.iter().zip(&plan.renditions) {
        problems.extend(check_video(t, r, frames));
    }
    // Segment n starts at the same time in every rendition.
    if let Some(first) = p.video.first() {
        for t in &p.video[1..] {
            if t.segments.len() != first.segments.len() {
                problems.push(format!(
                    "{} has {} segments, {} has {}: they are not aligned",
                    t.folder,
                    t.segments.len(),
                    first.folder,
                    first.segments.len()
                ));
                continue;
            }
            for i in 0..t.segments.len() {
                let (a, b) = (first.start_seconds(i), t.start_seconds(i));
                if let (Some(a), Some(b)) = (a, b)
                    && (a - b).abs() > frame / 2.0
                {
                    problems.push(format!(
                        "segment {} starts at {a:.3} s in {} and {b:.3} s in {}",
                        i + 1,
                        first.folder,
                        t.folder
                    ));
                    break;
                }
            }
        }
    }
    if p.audio.len() != plan.audio_plan().len() {
        problems.push(format!(
            "{} audio renditions packaged, the job has {} audio tracks",
            p.audio.len(),
            plan.audio_plan().len()
        ));
    }
    for (k, t) in p.audio.iter().enumerate() {
        let want = counted.audio_track_packets.get(k).copied().unwrap_or(0);
        if t.samples() != want {
            problems.push(format!(
                "{} holds {} AAC frames, the joined video's track {k} {want}",
                t.folder,
                t.samples()
            ));
        }
        if !t.init.codec.starts_with("mp4a.") {
            problems.push(format!("{} is {}, not AAC", t.folder, t.init.codec));
        }
        problems.extend(contiguity(t));
    }
    problems
}

fn check_video(t: &Track, r: &Rendition, frames: u64) -> Vec<String> {
    let mut problems = Vec::new();
    if t.samples() != frames {
        problems.push(format!(
            "{} holds {} frames, the source {frames}",
            t.folder,
            t.samples()
        ));
    }
    if t.init.size != Some((r.width, r.height)) {
        problems.push(format!(
            "{} is {:?}, planned {}x{}",
            t.folder, t.init.size, r.width, r.height
        ));
    }
    if !t.init.codec.starts_with("avc1.") {
        problems.push(format!("{} is {}, not H.264", t.folder, t.init.codec));
    }
    if let Some(s) = t.segments.iter().find(|s| !s.fragment.starts_with_sync) {
        problems.push(format!(
            "{}/{} does not start with a key frame",
            t.folder, s.file
        ));
    }
    problems.extend(contiguity(t));
    problems
}

/// Each segment starts where the one before ends.
fn contiguity(t: &Track) -> Option<String> {
    if t.segments.is_empty() {
        return Some(format!("{} has no segment", t.folder));
    }
    t.segments.windows(2).find_map(|w| {
        let end = w[0].fragment.decode_time + w[0].fragment.duration;
        (end != w[1].fragment.decode_time).then(|| {
            format!(
                "{}/{} starts at tick {}, the segment before ends at {end}",
                t.folder, w[1].file, w[1].fragment.decode_time
            )
        })
    })
}

/// A rendition's HLS media playlist: VOD, fMP4 (`EXT-X-MAP`), each
/// segment's measured length.
pub fn media_playlist(t: &Track) -> String {
    let lengths: Vec<f64> = t
        .segments
        .iter()
        .map(|s| t.seconds(s.fragment.duration))
        .collect();
    let target = lengths
        .iter()
        .fold(0.0f64, |a, &b| a.max(b))
        .round()
        .max(1.0) as u64;
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:1\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"{INIT}\"\n"
    );
    for (s, d) in t.segments.iter().zip(&lengths) {
        let _ = write!(out, "#EXTINF:{d:.6},\n{}\n", s.file);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// The audio rendition the variants' rates are counted with: the one
/// with the highest peak (a player may pick any).
fn loudest(p: &Presentation) -> (f64, f64) {
    p.audio.iter().fold((0.0f64, 0.0f64), |(pk, av), t| {
        (pk.max(t.peak_bps()), av.max(t.average_bps()))
    })
}

/// The master playlist: a variant per video rendition, largest first,
/// `BANDWIDTH` its peak segment rate plus the audio's, `AVERAGE-BANDWIDTH`
/// likewise with averages.
pub fn master(plan: &JobPlan, p: &Presentation) -> MasterPlaylist {
    let (audio_peak, audio_avg) = loudest(p);
    let audio_codec = p.audio.first().map(|a| a.init.codec.clone());
    let has_audio = !p.audio.is_empty();
    let variants = p
        .video
        .iter()
        .map(|t| Variant {
            uri: format!("{}/{PLAYLIST}", t.folder),
            bandwidth: (t.peak_bps() + audio_peak).ceil() as u64,
            average_bandwidth: Some((t.average_bps() + audio_avg).ceil() as u64),
            resolution: t.init.size,
            frame_rate: frame_rate(plan),
            codecs: Some(match &audio_codec {
                Some(a) => format!("{},{a}", t.init.codec),
                None => t.init.codec.clone(),
            }),
            audio: has_audio.then(|| AUDIO_GROUP.to_string()),
            subtitles: None,
        })
        .collect();
    MasterPlaylist {
        media: audio_media(plan, |k| format!("{}/{PLAYLIST}", audio_folder(k))),
        variants,
    }
}

/// Each video rendition as the manifest reports it: what the master
/// playlist declares, beside the ladder's cap.
fn outcomes(plan: &JobPlan, p: &Presentation, m: &MasterPlaylist) -> Vec<RenditionOutcome> {
    p.video
        .iter()
        .zip(&plan.renditions)
        .zip(&m.variants)
        .map(|((t, r), v)| RenditionOutcome {
            name: r.name.clone(),
            width: r.width,
            height: r.height,
            codecs: v.codecs.clone().unwrap_or_default(),
            cap_kbps: r.kbps,
            bandwidth: v.bandwidth,
            average_bandwidth: v.average_bandwidth.unwrap_or(0),
            video_bytes: t.bytes(),
            segments: t.segments.len() as u32,
        })
        .collect()
}

/// `<`, `>`, `&` and `"` escaped for an XML attribute or text.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// ISO 8601 duration (`PT12.345S`).
fn iso_seconds(s: f64) -> String {
    format!("PT{:.3}S", s.max(0.0))
}

/// A rendition's `SegmentTemplate` with its timeline: runs of equal
/// segments folded into `r` repeats.
fn segment_template(t: &Track) -> String {
    let mut out = format!(
        "        <SegmentTemplate timescale=\"{}\" initialization=\"{f}/{INIT}\" media=\"{f}/$Number%05d$.m4s\" startNumber=\"1\">\n          <SegmentTimeline>\n",
        t.init.timescale,
        f = xml(&t.folder),
    );
    let mut runs: Vec<(u64, u64, u32)> = Vec::new();
    for s in &t.segments {
        match runs.last_mut() {
            Some((t0, d, r))
                if *d == s.fragment.duration
                    && *t0 + *d * (*r as u64 + 1) == s.fragment.decode_time =>
            {
                *r += 1;
            }
            _ => runs.push((s.fragment.decode_time, s.fragment.duration, 0)),
        }
    }
    for (i, (t0, d, r)) in runs.iter().enumerate() {
        out.push_str("            <S");
        if i == 0 {
            let _ = write!(out, " t=\"{t0}\"");
        }
        let _ = write!(out, " d=\"{d}\"");
        if *r > 0 {
            let _ = write!(out, " r=\"{r}\"");
        }
        out.push_str(" />\n");
    }
    out.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n");
    out
}

/// The DASH manifest (static, ISO BMFF live profile: one
/// `SegmentTemplate` per rendition): one video adaptation set holding
/// every rendition, one audio adaptation set per track with its language.
/// `bandwidth` is each rendition's peak segment rate.
pub fn mpd(plan: &JobPlan, p: &Presentation) -> String {
    // The last frame ends a reorder delay after the last decode time.
    let duration = p
        .video
        .first()
        .map(|t| t.first_frame_seconds() + t.duration_seconds())
        .unwrap_or(0.0);
    let longest = p
        .video
        .iter()
        .chain(&p.audio)
        .flat_map(|t| {
            t.segments
                .iter()
                .map(move |s| t.seconds(s.fragment.duration))
        })
        .fold(0.0f64, f64::max);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" \
         profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" \
         mediaPresentationDuration=\"{}\" maxSegmentDuration=\"{}\" minBufferTime=\"{}\">\n  <Period id=\"0\" start=\"PT0S\">\n",
        iso_seconds(duration),
        iso_seconds(longest),
        iso_seconds(2.0 * SEGMENT_SECONDS as f64),
    );
    let video = plan.info.video.as_ref();
    let rate = video
        .filter(|v| v.frame_rate_num > 0 && v.frame_rate_den > 0)
        .map(|v| format!(" frameRate=\"{}/{}\"", v.frame_rate_num, v.frame_rate_den))
        .unwrap_or_default();
    let (max_w, max_h) = p
        .video
        .iter()
        .filter_map(|t| t.init.size)
        .fold((0, 0), |(w, h), (a, b)| (w.max(a), h.max(b)));
    let _ = writeln!(
        out,
        "    <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"{max_w}\" maxHeight=\"{max_h}\"{rate}>"
    );
    for t in &p.video {
        let (w, h) = t.init.size.unwrap_or((0, 0));
        let _ = writeln!(
            out,
            "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\" width=\"{w}\" height=\"{h}\" sar=\"1:1\">",
            xml(&t.folder),
            xml(&t.init.codec),
            t.peak_bps().ceil() as u64
        );
        out.push_str(&segment_template(t));
        out.push_str("      </Representation>\n");
    }
    out.push_str("    </AdaptationSet>\n");
    let media = audio_media(plan, audio_folder);
    for (k, (t, m)) in p.audio.iter().zip(&media).enumerate() {
        let lang = m
            .language
            .as_deref()
            .map(|l| format!(" lang=\"{}\"", xml(l)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    <AdaptationSet id=\"{}\" contentType=\"audio\" mimeType=\"audio/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\"{lang}>",
            k + 1
        );
        let role = if m.default { "main" } else { "alternate" };
        let _ = writeln!(
            out,
            "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\" />\n      <Label>{}</Label>",
            xml(&m.name)
        );
        // The AAC track's time scale is its sample rate.
        let _ = writeln!(
            out,
            "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\" audioSamplingRate=\"{}\">",
            xml(&t.folder),
            xml(&t.init.codec),
            t.peak_bps().ceil() as u64,
            t.init.timescale
        );
        let _ = writeln!(
            out,
            "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\" />",
            m.channels.unwrap_or(2)
        );
        out.push_str(&segment_template(t));
        out.push_str("      </Representation>\n    </AdaptationSet>\n");
    }
    out.push_str("  </Period>\n</MPD>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(frames: u64, audio_tracks: usize) -> JobPlan {
        let audio: Vec<serde_json::Value> = (0..audio_tracks)
            .map(|k| {
                let language = ["eng", "fra"][k % 2];
                serde_json::json!({"codec": "aac", "sampleRate": 48000, "channels": 2,
                    "durationSeconds": 8.0, "language": language, "default": k == 0})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "request": {"jobId": "j", "bucket": "b", "key": "k.mp4", "outputBase": "d/k", "stem": "k",
                        "formats": ["abr"], "segmentSeconds": 10.0},
            "sourceFile": "s.mp4",
            "info": {"formatName": "mp4", "durationSeconds": 8.0, "sizeBytes": 1,
                     "video": {"codec": "h264", "width": 640, "height": 360, "frameRateNum": 25,
                               "frameRateDen": 1, "rotation": 0, "frames": frames,
                               "durationSeconds": 8.0, "pixFmt": "yuv420p"},
                     "audioTracks": audio},
            "pieceSeconds": 4.0, "pieces": [], "hasAudio": audio_tracks > 0,
            "audioTracks": (0..audio_tracks as u32).collect::<Vec<_>>(),
            "renditions": [{"name": "360p", "width": 640, "height": 360, "kbps": 700},
                           {"name": "234p", "width": 416, "height": 234, "kbps": 150}]
        }))
        .unwrap()
    }

    /// A track of 4 s segments at 12800 ticks a second (the last `last` s).
    fn track(
        folder: &str,
        size: Option<(u32, u32)>,
        codec: &str,
        segs: &[(u64, u32, u64)],
    ) -> Track {
        let timescale = if size.is_some() { 12800 } else { 48000 };
        let mut at = 0;
        let segments = segs
            .iter()
            .enumerate()
            .map(|(i, &(ticks, samples, bytes))| {
                let s = Segment {
                    file: format!("{:05}.m4s", i + 1),
                    fragment: Fragment {
                        decode_time: at,
                        duration: ticks,
                        samples,
                        starts_with_sync: true,
                        first_offset: 0,
                    },
                    bytes,
                };
                at += ticks;
                s
            })
            .collect();
        Track {
            folder: folder.into(),
            init: Init {
                timescale,
                codec: codec.into(),
                size,
                default_duration: 0,
                default_flags: 0,
            },
            segments,
        }
    }

    fn presentation() -> Presentation {
        let v = |name: &str, size, bytes: u64| {
            track(
                name,
                Some(size),
                "avc1.64001e",
                &[(51200, 100, bytes), (51200, 100, bytes / 2)],
            )
        };
        Presentation {
            video: vec![
                v("360p", (640, 360), 400_000),
                v("234p", (416, 234), 80_000),
            ],
            audio: vec![track(
                "audio-0",
                None,
                "mp4a.40.2",
                &[(192_000, 188, 64_000), (192_000, 188, 64_000)],
            )],
        }
    }

    fn counted() -> Counted {
        Counted {
            video_packets: 200,
            audio_packets: 376,
            audio_track_packets: vec![376],
            ..Default::default()
        }
    }

    #[test]
    fn a_sound_presentation_passes_and_its_documents_say_what_the_bytes_hold() {
        let (plan, p) = (plan(200, 1), presentation());
        assert_eq!(check(&plan, &counted(), &p), Vec::<String>::new());
        let m = master(&plan, &p);
        // Peak: 400 kB in 4 s is 800 kbit/s, plus the audio's 128.
        assert_eq!(m.variants[0].bandwidth, 800_000 + 128_000);
        assert_eq!(m.variants[0].average_bandwidth, Some(600_000 + 128_000));
        assert_eq!(
            m.variants[0].codecs.as_deref(),
            Some("avc1.64001e,mp4a.40.2")
        );
        assert_eq!(m.variants[0].uri, "360p/index.m3u8");
        assert_eq!(m.media[0].uri, "audio-0/index.m3u8");
        assert_eq!(m.media[0].language.as_deref(), Some("en"));
        let pl = media_playlist(&p.video[0]);
        assert!(pl.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(pl.contains("#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.000000,\n00001.m4s\n"));
        assert!(pl.ends_with("#EXT-X-ENDLIST\n"));
        let mpd = mpd(&plan, &p);
        // Equal segments fold into one S with a repeat count.
        assert!(mpd.contains("<S t=\"0\" d=\"51200\" r=\"1\" />"), "{mpd}");
        assert!(mpd.contains("mediaPresentationDuration=\"PT8.000S\""));
        assert!(mpd.contains("<Representation id=\"360p\" codecs=\"avc1.64001e\" bandwidth=\"800000\" width=\"640\" height=\"360\""));
        assert!(mpd.contains("lang=\"en\""));
        assert!(mpd.contains("media=\"audio-0/$Number%05d$.m4s\""));
    }

    #[test]
    fn misaligned_short_or_keyless_renditions_are_refused() {
        let plan = plan(200, 1);
        let mut p = presentation();
        p.video[1].segments[1].fragment.decode_time += 512;
        p.video[1].segments[1].fragment.starts_with_sync = false;
        p.video[1].segments[0].fragment.samples = 99;
        let problems = check(&plan, &counted(), &p).join("; ");
        assert!(
            problems.contains("234p holds 199 frames, the source 200"),
            "{problems}"
        );
        assert!(
            problems.contains("234p/00002.m4s does not start with a key frame"),
            "{problems}"
        );
        assert!(
            problems.contains("segment 2 starts at 4.000 s in 360p and 4.040 s in 234p"),
            "{problems}"
        );
        assert!(
            problems.contains("234p/00002.m4s starts at tick"),
            "{problems}"
        );
        let mut p = presentation();
        p.audio.clear();
        p.video.pop();
        let problems = check(&plan, &counted(), &p).join("; ");
        assert!(
            problems.contains("1 video renditions packaged, 2 planned"),
            "{problems}"
        );
        assert!(
            problems.contains("0 audio renditions packaged"),
            "{problems}"
        );
    }

    #[test]
    fn names_are_escaped_in_the_manifest() {
        assert_eq!(xml("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
        assert_eq!(iso_seconds(-1.0), "PT0.000S");
    }
}
