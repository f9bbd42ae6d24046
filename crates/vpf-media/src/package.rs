//! The merge step: the encoded pieces joined (the command is built in
//! [`crate::join`]) and every requested format packaged from that one encode.
//!
//! The pieces are joined in index order by the concat demuxer with stream
//! copy, each at its exact place on the timeline ([`merge_args`]), and the
//! once-encoded AAC track is muxed beside it. A job's one uncut piece is
//! muxed as it is, with no join ([`Pictures`]).
//! The result, `merged.mp4`, is checked (`verify`) and every format is a
//! remux of it: mp4 (faststart), flv, HLS (MPEG-TS segments, VOD playlist)
//! and avi carry the same H.264 and AAC bits. Only the GIF preview and the
//! JPEG thumbnail are new encodes, as they must be.
//!
//! Tracks: the MP4 carries every audio track the job encoded (each with its
//! language, the default one flagged) and every text subtitle track as
//! mov_text; HLS carries them as alternate renditions (hls.rs). FLV and AVI
//! carry one audio track, the default: FLV cannot hold more, and players
//! of AVI offer no choice of track. Neither carries subtitles.
//!
//! AVI: ffmpeg muxes H.264 and AAC into AVI without complaint and reads it
//! back frame-exact, so that is what we write. AVI has no composition times
//! or start offsets, so players rebuild B-frame order from the bitstream and
//! play the AAC priming frame (21 ms at 48 kHz); players that only know
//! MPEG-4 Part 2 in AVI are not served (re-encoding for them would be a
//! second, lower-quality encode).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};
use vpf_core::job::{Format, JobPlan};
use vpf_core::ladder::RenditionOutcome;
use vpf_core::nas::{JobDir, write_atomic};
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::abr;
use crate::hls;
use crate::join::{MuxTrack, Pictures, concat_list, merge_args};
use crate::output::{Packaged, PackagedFile, file_entry, hls_muxer, main_rel, set_hls_durations};

use crate::audio::{mp3_rate, track_rate};
use crate::hls_check::{SegmentScan, read_playlist, scan_segments, verify_hls};
use crate::probe::{count_video_packets, num, probe_json};
use crate::run::{Stdout, args, ffmpeg_base, run};
use crate::sound::{MP3_FRAME, SoundCheck, check_sound, measure};
use crate::sprite;
use crate::step::elapsed_ms;
use crate::subtitles::{Cue, mov_text_cues, read_vtt, verify_mp4_subtitles, write_vtt};
use crate::temp::{Temp, create_dir, remove_any};
use crate::verify::{AAC_FRAME, verify};

/// GIF preview: width at most this, frames per second.
pub const GIF_WIDTH: u32 = 320;
pub const GIF_FPS: u32 = 10;
/// The thumbnail is taken this far into the video.
pub const THUMBNAIL_AT: f64 = 0.1;

/// The streams of the joined video a single-track format (FLV, AVI)
/// carries: the video and the default audio track.
fn single_track_maps(plan: &JobPlan) -> Vec<OsString> {
    let mut a = args!["-map", "0:V:0"];
    if let Some(k) = plan.default_audio() {
        a.extend(args!["-map", format!("0:a:{k}")]);
    }
    a
}

/// Remux or render `format` from `master` into `out` (for HLS and the
/// sprite, a folder).
pub fn package_args(format: Format, master: &Path, out: &Path, plan: &JobPlan) -> Vec<OsString> {
    let mut a = ffmpeg_base();
    match format {
        // A one-rendition presentation of the joined video, segments only
        // (`out` is its folder). A job's ladder is packaged from its
        // renditions' pieces instead ([`crate::abr::make`]).
        Format::Abr => {
            a.extend(args!["-i", master, "-map", "0:V:0", "-map", "0:a?"]);
            a.extend(crate::abr::dash_muxer(out));
        }
        // `out` is the sprite's folder.
        Format::Sprite => {
            return sprite::sprite_args(master, &out.join(sprite::SHEET), &sprite::grid(plan));
        }
        Format::Mp4 => {
            a.extend(args![
                "-i",
                master,
                "-map",
                "0",
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                "-f",
                "mp4",
                out
            ]);
        }
        Format::Flv => {
            a.extend(args!["-i", master]);
            a.extend(single_track_maps(plan));
            a.extend(args!["-c", "copy", "-f", "flv", out]);
        }
        Format::Avi => {
            a.extend(args!["-i", master]);
            a.extend(single_track_maps(plan));
            a.extend(args!["-c", "copy", "-f", "avi", out]);
        }
        Format::Hls => {
            let dir = out.to_string_lossy().replace('%', "%%");
            a.extend(args!["-i", master, "-map", "0"]);
            a.extend(hls_muxer());
            a.extend(args![
                "-hls_segment_filename",
                format!("{dir}/index%05d.ts"),
                out.join("index.m3u8")
            ]);
        }
        // The default audio track alone (merge copies the audio task's
        // files instead: the same bits, and the MP3 from the source).
        Format::M4a | Format::Mp3 => {
            let k = plan.default_audio().unwrap_or(0);
            a.extend(args!["-i", master, "-map", format!("0:a:{k}"), "-vn"]);
            match format {
                Format::M4a => a.extend(args!["-c:a", "copy", "-f", "mp4", out]),
                _ => a.extend(args!["-c:a", "libmp3lame", "-f", "mp3", out]),
            }
        }
        Format::Gif => {
            let graph = format!(
                "[0:V:0]fps={GIF_FPS},scale=w='min({GIF_WIDTH},iw)':h=-1:flags=lanczos,split[a][b];\
                 [a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=5"
            );
            a.extend(args![
                "-t",
                format!("{:.3}", plan.request.profile.gif_seconds),
                "-i",
                master,
                "-filter_complex",
                graph,
                "-an",
                "-f",
                "gif",
                out
            ]);
        }
        Format::Jpg => {
            a.extend(args![
                "-ss",
                format!("{:.6}", thumbnail_seconds(plan)),
                "-i",
                master,
                "-map",
                "0:V:0",
                "-frames:v",
                "1",
                "-q:v",
                "3",
                "-f",
                "image2",
                "-update",
                "1",
                out
            ]);
        }
    }
    a
}

/// Where the thumbnail is taken: `THUMBNAIL_AT` into the video, moved back
/// half a frame from a frame's start so that the seek keeps that frame
/// (a seek drops frames that start before the point).
pub fn thumbnail_seconds(plan: &JobPlan) -> f64 {
    let Some(v) = plan.info.video.as_ref() else {
        return 0.0;
    };
    let frame = v.frame_seconds();
    let k = (v.duration_seconds * THUMBNAIL_AT / frame).floor();
    ((k - 0.5) * frame).max(0.0)
}

fn with_rate(format: Format, files: Vec<PackagedFile>, duration: Option<f64>) -> Packaged {
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let bitrate_kbps = duration
        .filter(|d| {
            *d > 0.0
                && matches!(
                    format,
                    Format::Mp4
                        | Format::Flv
                        | Format::Hls
                        | Format::Avi
                        | Format::M4a
                        | Format::Mp3
                )
        })
        .map(|d| bytes as f64 * 8.0 / d / 1000.0);
    Packaged {
        format,
        files,
        duration_seconds: duration,
        bitrate_kbps,
        renditions: Vec::new(),
        loudness_lufs: None,
    }
}

async fn container_seconds(tools: &Tools, path: &Path) -> Option<f64> {
    let json = probe_json(tools, path).await.ok()?;
    num(json.format?.duration.as_deref())
}

/// Formats other than MP4 and HLS made at once (each one ffmpeg; remuxes
/// are disk-bound, the GIF is a small encode).
const PACKAGERS_AT_ONCE: usize = 2;

/// Join the encoded pieces (`jobdir.encoded(i)`) in order with the audio
/// tracks (`jobdir.audio_track(n)`) and subtitles (`jobdir.subtitles(n)`)
/// the plan keeps, verify the result, and package
/// every requested format into `jobdir.out_dir()`. Returns the formats in
/// the order requested. Each output appears only when complete; running
/// again replaces them.
///
/// The joined video is the MP4 output itself. It is verified while the
/// other formats are made from it, side by side; HLS is kept only once the
/// joined video has passed, since its check compares the two.
pub async fn merge(tools: &Tools, plan: &JobPlan, jobdir: &JobDir) -> Result<Vec<Packaged>> {
    if plan.info.audio_only() {
        return merge_sound(tools, plan, jobdir).await;
    }
    let video = plan
        .info
        .video
        .as_ref()
        .ok_or_else(|| Error::invalid("the job plan has no video stream"))?;
    for p in &plan.pieces {
        if !jobdir.encoded(p.index).is_file() {
            return Err(Error::invalid(format!(
                "encoded piece {} is missing; every transcode must finish before merge",
                p.index
            )));
        }
    }
    let audio_plan = plan.audio_plan();
    for &n in &audio_plan {
        if !jobdir.audio_track(n).is_file() {
            return Err(Error::invalid(format!(
                "the job has audio but {} is missing; the audio task must run first",
                file_name(&jobdir.audio_track(n))
            )));
        }
    }
    for &n in &plan.subtitle_tracks {
        if !jobdir.subtitles(n).is_file() {
            return Err(Error::invalid(format!(
                "the job has subtitles but {} is missing; the subtitles task must run first",
                file_name(&jobdir.subtitles(n))
            )));
        }
    }
    let cues = plan
        .subtitle_tracks
        .iter()
        .map(|&n| read_vtt(&jobdir.subtitles(n)))
        .collect::<Result<Vec<Vec<Cue>>>>()?;

    let out_dir = jobdir.out_dir();
    create_dir(&out_dir)?;
    let stem = &plan.request.stem;
    let formats = &plan.formats();
    let wants_mp4 = formats.contains(&Format::Mp4);
    let master = match wants_mp4 {
        true => out_dir.join(main_rel(Format::Mp4, stem)),
        false => jobdir.path().join("merged.mp4"),
    };
    let pictures = Pictures::for_plan(plan, jobdir, jobdir.path().join("concat.ffconcat"));
    if let Pictures::Joined(list) = &pictures {
        write_atomic(
            list,
            concat_list(&plan.pieces, |i| jobdir.encoded(i))?.as_bytes(),
        )?;
    }
    // What mov_text can hold of each subtitle track (one cue at a time,
    // no sample too long for ffmpeg 5.1's muxer), under temporary names
    // gone once merge ends, however it ends.
    let mov_text: Vec<Temp> = (0..cues.len())
        .map(|k| Temp::beside(&jobdir.path().join(format!("subs-{k}.mov_text.vtt"))))
        .collect();
    for (t, c) in mov_text.iter().zip(&cues) {
        std::fs::write(t.path(), write_vtt(&mov_text_cues(c), None))?;
    }
    let audio_paths: Vec<PathBuf> = audio_plan.iter().map(|&n| jobdir.audio_track(n)).collect();
    let default_audio = plan.default_audio();
    let audio_tracks: Vec<MuxTrack> = audio_plan
        .iter()
        .zip(&audio_paths)
        .enumerate()
        .map(|(k, (&n, path))| MuxTrack {
            path,
            language: plan.info.audio_track(n).and_then(|a| a.language.as_deref()),
            default: Some(k) == default_audio,
        })
        .collect();
    let subtitle_tracks: Vec<MuxTrack> = plan
        .subtitle_tracks
        .iter()
        .zip(&mov_text)
        .map(|(&n, t)| MuxTrack {
            path: t.path(),
            language: plan
                .info
                .subtitle_tracks
                .get(n as usize)
                .and_then(|s| s.language.as_deref()),
            // None flagged: players show subtitles when asked. (ffmpeg's
            // MP4 muxer still enables the first text track: it enables
            // the first track of each kind when none is flagged.)
            default: false,
        })
        .collect();
    let tmp = Temp::beside(&master);
    // Sub-step times go to the log (the benchmark reads them).
    let joining = Instant::now();
    let what = match &pictures {
        Pictures::Joined(_) => "joining the pieces",
        Pictures::One(_) => "muxing the piece",
    };
    run(
        &tools.ffmpeg,
        &merge_args(&pictures, &audio_tracks, &subtitle_tracks, tmp.path()),
        Stdout::Ignore,
    )
    .await?
    .check(ErrorKind::EncodeFailed, what)?;
    tmp.commit(&master)?;
    drop(mov_text);
    match &pictures {
        Pictures::Joined(list) => {
            remove_any(list)?;
            tracing::info!(ms = elapsed_ms(joining), "pieces joined");
        }
        Pictures::One(_) => tracing::info!(ms = elapsed_ms(joining), "piece muxed"),
    }
    let packaging = Instant::now();

    let others: Vec<_> = formats
        .iter()
        .filter(|f| !matches!(f, Format::Mp4 | Format::Hls | Format::Abr))
        .map(|&f| match f {
            Format::Sprite => make_sprite(tools, &master, &out_dir, plan).boxed(),
            f if f.is_audio() => make_sound(tools, f, plan, jobdir, &out_dir).boxed(),
            f => make_file(tools, f, &master, &out_dir, plan).boxed(),
        })
        .collect();
    let (counted, (), hls, abr, mut made) = tokio::try_join!(
        async {
            let t = Instant::now();
            let counted = verify(tools, &master, plan).await?;
            tracing::info!(ms = elapsed_ms(t), "joined file verified");
            Ok::<_, Error>(counted)
        },
        verify_mp4_subtitles(tools, &master, &cues),
        async {
            match formats.contains(&Format::Hls) {
                true => make_hls(tools, &master, &out_dir, plan, video.duration_seconds)
                    .await
                    .map(Some),
                false => Ok(None),
            }
        },
        async {
            match formats.contains(&Format::Abr) {
                true => abr::make(tools, plan, jobdir, &out_dir).await.map(Some),
                false => Ok(None),
            }
        },
        async {
            stream::iter(others)
                .buffer_unordered(PACKAGERS_AT_ONCE)
                .try_collect::<Vec<Packaged>>()
                .await
        },
    )?;

    match hls {
        Some((tmp, HlsScans::Single(scans))) => {
            verify_hls(&tmp.path().join("index.m3u8"), plan, &counted, &scans)?;
            let hls_dir = out_dir.join("hls");
            tmp.commit(&hls_dir)?;
            let playlist = hls_dir.join("index.m3u8");
            let (p, paths) = read_playlist(&playlist)?;
            let mut files = Vec::new();
            for (path, (uri, _)) in paths.into_iter().zip(&p.segments) {
                files.push(file_entry(path, format!("hls/{uri}"))?);
            }
            files.push(file_entry(playlist, main_rel(Format::Hls, stem))?);
            made.push(with_rate(Format::Hls, files, Some(p.seconds())));
        }
        Some((tmp, HlsScans::Renditions(r))) => {
            hls::finish(tmp.path(), plan, &counted, &r, &cues)?;
            let hls_dir = out_dir.join("hls");
            tmp.commit(&hls_dir)?;
            let (listed, seconds) = hls::files(&hls_dir, plan)?;
            let files = listed
                .into_iter()
                .map(|(path, name)| file_entry(path, format!("hls/{name}")))
                .collect::<Result<Vec<_>>>()?;
            made.push(with_rate(Format::Hls, files, Some(seconds)));
        }
        None => {}
    }
    if let Some((tmp, presentation)) = abr {
        let renditions = abr::finish(tmp.path(), plan, &counted, &presentation)?;
        let dir = out_dir.join(abr::DIR);
        tmp.commit(&dir)?;
        made.push(abr_packaged(&dir, &presentation, renditions)?);
    }
    tracing::info!(ms = elapsed_ms(packaging), "packaged and verified");
    if wants_mp4 {
        let rel = main_rel(Format::Mp4, stem);
        made.push(with_rate(
            Format::Mp4,
            vec![file_entry(master.clone(), rel)?],
            counted.seconds,
        ));
    } else {
        remove_any(&master)?;
    }
    let mut by_format: HashMap<Format, Packaged> =
        made.into_iter().map(|p| (p.format, p)).collect();
    Ok(formats.iter().filter_map(|f| by_format.remove(f)).collect())
}

/// The presentation's files in upload order: each rendition's segments,
/// initialization segment and media playlist, then the DASH manifest, the
/// master playlist last (a reader never finds a playlist naming a file not
/// yet uploaded).
fn abr_packaged(
    dir: &Path,
    p: &abr::Presentation,
    renditions: Vec<RenditionOutcome>,
) -> Result<Packaged> {
    let mut files = Vec::new();
    for t in p.video.iter().chain(&p.audio) {
        let folder = dir.join(&t.folder);
        let rel = |name: &str| format!("{}/{}/{name}", abr::DIR, t.folder);
        for s in &t.segments {
            files.push(file_entry(folder.join(&s.file), rel(&s.file))?);
        }
        files.push(file_entry(folder.join(abr::INIT), rel(abr::INIT))?);
        files.push(file_entry(folder.join(abr::PLAYLIST), rel(abr::PLAYLIST))?);
    }
    for name in [abr::MPD, abr::MASTER] {
        files.push(file_entry(dir.join(name), format!("{}/{name}", abr::DIR))?);
    }
    let seconds = p.video.first().map(abr::Track::duration_seconds);
    let mut packaged = with_rate(Format::Abr, files, seconds);
    // The rate of one viewing: the top rendition and one audio track,
    // not every rendition's bytes together.
    packaged.bitrate_kbps = p
        .video
        .first()
        .map(|t| (t.average_bps() + p.audio.first().map_or(0.0, abr::Track::average_bps)) / 1000.0);
    packaged.renditions = renditions;
    Ok(packaged)
}

/// What [`make_hls`] measured.
enum HlsScans {
    /// One media playlist, video and audio muxed: its segments.
    Single(Vec<SegmentScan>),
    /// Video and audio renditions, before the master playlist is written.
    Renditions(hls::Renditions),
}

/// Remux the joined video into HLS in a temporary folder and measure its
/// segments (one pass); the caller checks them against the joined video
/// and keeps the folder.
async fn make_hls(
    tools: &Tools,
    master: &Path,
    out_dir: &Path,
    plan: &JobPlan,
    video_seconds: f64,
) -> Result<(Temp, HlsScans)> {
    let tmp = Temp::beside(&out_dir.join("hls"));
    create_dir(tmp.path())?;
    if hls::has_renditions(plan) {
        let r = hls::make(tools, master, tmp.path(), plan, video_seconds).await?;
        return Ok((tmp, HlsScans::Renditions(r)));
    }
    run_package(
        tools,
        Format::Hls,
        master,
        tmp.path(),
        plan,
        "packaging HLS",
    )
    .await?;
    let playlist = tmp.path().join("index.m3u8");
    let (_, paths) = read_playlist(&playlist)?;
    let scans = scan_segments(tools, &paths).await?;
    set_hls_durations(&playlist, &scans, video_seconds)?;
    Ok((tmp, HlsScans::Single(scans)))
}

/// Run [`package_args`] for `format`; an ffmpeg failure is `EncodeFailed`
/// with `what` it was doing.
async fn run_package(
    tools: &Tools,
    format: Format,
    master: &Path,
    out: &Path,
    plan: &JobPlan,
    what: &str,
) -> Result<()> {
    run(
        &tools.ffmpeg,
        &package_args(format, master, out, plan),
        Stdout::Ignore,
    )
    .await?
    .check(ErrorKind::EncodeFailed, what)?;
    Ok(())
}

/// Make the sheet and its WebVTT file under `out_dir/sprite/` from the
/// joined video; the sheet is checked to decode at the
/// planned size before either is kept.
async fn make_sprite(
    tools: &Tools,
    master: &Path,
    out_dir: &Path,
    plan: &JobPlan,
) -> Result<Packaged> {
    let grid = sprite::grid(plan);
    let seconds = plan
        .info
        .video
        .as_ref()
        .map(|v| v.duration_seconds)
        .unwrap_or(0.0);
    let main = main_rel(Format::Sprite, &plan.request.stem);
    let dir_rel = main.rsplit_once('/').map(|(d, _)| d).unwrap_or("sprite");
    let dir = out_dir.join(dir_rel);
    let tmp = Temp::beside(&dir);
    create_dir(tmp.path())?;
    let sheet = tmp.path().join(sprite::SHEET);
    run_package(
        tools,
        Format::Sprite,
        master,
        tmp.path(),
        plan,
        "making the seek-preview sprite",
    )
    .await?;
    let json = probe_json(tools, &sheet).await?;
    let size = json
        .streams
        .first()
        .map(|s| (s.width.unwrap_or(0), s.height.unwrap_or(0)));
    let want = (grid.columns * grid.tile_width, grid.rows * grid.tile_height);
    if size != Some(want) {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("the sprite sheet is {size:?}, planned {want:?}"),
        ));
    }
    let vtt_name = main.rsplit('/').next().unwrap_or("thumbnails.vtt");
    std::fs::write(
        tmp.path().join(vtt_name),
        sprite::thumbnails_vtt(&grid, seconds),
    )?;
    tmp.commit(&dir)?;
    let files: Vec<PackagedFile> = vec![
        file_entry(
            dir.join(sprite::SHEET),
            format!("{dir_rel}/{}", sprite::SHEET),
        )?,
        file_entry(dir.join(vtt_name), main.clone())?,
    ];
    Ok(Packaged {
        format: Format::Sprite,
        files,
        duration_seconds: Some(seconds),
        bitrate_kbps: None,
        renditions: Vec::new(),
        loudness_lufs: None,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Make one single-file format (flv, avi, gif, jpg) from the joined video.
/// A remux must carry every frame.
async fn make_file(
    tools: &Tools,
    format: Format,
    master: &Path,
    out_dir: &Path,
    plan: &JobPlan,
) -> Result<Packaged> {
    let rel = main_rel(format, &plan.request.stem);
    let dest = out_dir.join(&rel);
    let tmp = Temp::beside(&dest);
    run_package(
        tools,
        format,
        master,
        tmp.path(),
        plan,
        &format!("packaging {format}"),
    )
    .await?;
    if !tmp.path().is_file() {
        return Err(Error::new(
            ErrorKind::EncodeFailed,
            format!("packaging {format}: ffmpeg exited without writing a file"),
        ));
    }
    let remux = matches!(format, Format::Flv | Format::Avi);
    // Both read the file: side by side.
    let (frames, duration) = tokio::join!(
        async {
            match remux {
                true => count_video_packets(tools, tmp.path()).await.map(Some),
                false => Ok(None),
            }
        },
        async {
            match format {
                Format::Jpg => None,
                _ => container_seconds(tools, tmp.path()).await,
            }
        }
    );
    let expected = plan.info.video.as_ref().map(|v| v.frames).unwrap_or(0);
    if let Some(frames) = frames?.filter(|f| *f != expected) {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("the {format} holds {frames} video frames, the source {expected}"),
        ));
    }
    tmp.commit(&dest)?;
    Ok(with_rate(format, vec![file_entry(dest, rel)?], duration))
}

/// The default audio track: its place in the plan's audio tracks and its
/// source track (`0:a:n`), for the outputs that carry one track alone.
fn default_track(plan: &JobPlan) -> Result<(usize, u32)> {
    let tracks = plan.audio_plan();
    plan.default_audio()
        .and_then(|k| tracks.get(k).map(|&n| (k, n)))
        .ok_or_else(|| Error::invalid("the job encodes no audio track; m4a and mp3 need one"))
}

/// What a sound output of source track `n` must hold: the track's
/// samples at `rate`, within one `frame`, at the profile's loudness.
fn sound_check(plan: &JobPlan, n: u32, rate: u32, frame: u64) -> SoundCheck {
    let seconds = crate::probe::expected_audio_seconds(&plan.info, n).unwrap_or(0.0);
    SoundCheck {
        samples: (seconds * f64::from(rate)).round() as u64,
        frame,
        loudness_target: plan.request.profile.loudness_lufs,
    }
}

/// The output rate of source track `n`.
fn rate_of(plan: &JobPlan, n: u32) -> u32 {
    plan.info
        .audio_track(n)
        .map(|a| track_rate(a.sample_rate, &plan.request.profile))
        .unwrap_or(48000)
}

/// m4a or mp3: the default track as the audio task encoded it (the AAC in
/// MP4 is already what an m4a holds; the MP3 was encoded beside it from
/// the same samples), measured and checked before it is kept.
async fn make_sound(
    tools: &Tools,
    format: Format,
    plan: &JobPlan,
    jobdir: &JobDir,
    out_dir: &Path,
) -> Result<Packaged> {
    let (_, n) = default_track(plan)?;
    let rate = rate_of(plan, n);
    let (from, want) = match format {
        Format::Mp3 => (
            jobdir.audio_mp3(n),
            sound_check(plan, n, mp3_rate(rate), MP3_FRAME),
        ),
        _ => (
            jobdir.audio_track(n),
            sound_check(plan, n, rate, AAC_FRAME as u64),
        ),
    };
    if !from.is_file() {
        return Err(Error::invalid(format!(
            "{} is missing; the audio task must run first",
            file_name(&from)
        )));
    }
    let rel = main_rel(format, &plan.request.stem);
    let dest = out_dir.join(&rel);
    let tmp = Temp::beside(&dest);
    std::fs::copy(&from, tmp.path())?;
    let measured = measure(tools, tmp.path()).await?;
    check_sound(&format!("the {format}"), &measured, &want)?;
    tmp.commit(&dest)?;
    let seconds = measured.samples as f64
        / f64::from(if format == Format::Mp3 {
            mp3_rate(rate)
        } else {
            rate
        });
    let mut p = with_rate(format, vec![file_entry(dest, rel)?], Some(seconds));
    p.loudness_lufs = Some(measured.loudness_lufs);
    Ok(p)
}

/// An audio job's HLS: the default track's AAC, copied into MPEG-TS
/// segments of about [`crate::HLS_SEGMENT_SECONDS`] under a VOD playlist,
/// decoded whole through the playlist and checked like the other sound
/// outputs. MPEG-TS has no edit list, so a decoder also plays the encoder's
/// priming frame and the padding of the last frame: two frames of slack.
async fn make_audio_hls(
    tools: &Tools,
    plan: &JobPlan,
    jobdir: &JobDir,
    out_dir: &Path,
) -> Result<Packaged> {
    let (_, n) = default_track(plan)?;
    let from = jobdir.audio_track(n);
    let hls_dir = out_dir.join("hls");
    let tmp = Temp::beside(&hls_dir);
    create_dir(tmp.path())?;
    run(
        &tools.ffmpeg,
        &audio_hls_args(&from, tmp.path()),
        Stdout::Ignore,
    )
    .await?
    .check(ErrorKind::EncodeFailed, "packaging the audio-only HLS")?;
    let measured = measure(tools, &tmp.path().join("index.m3u8")).await?;
    let want = sound_check(plan, n, rate_of(plan, n), 2 * AAC_FRAME as u64);
    check_sound("the audio-only HLS", &measured, &want)?;
    tmp.commit(&hls_dir)?;
    let playlist = hls_dir.join("index.m3u8");
    let (p, paths) = read_playlist(&playlist)?;
    let mut files = Vec::new();
    for (path, (uri, _)) in paths.into_iter().zip(&p.segments) {
        files.push(file_entry(path, format!("hls/{uri}"))?);
    }
    files.push(file_entry(
        playlist,
        main_rel(Format::Hls, &plan.request.stem),
    )?);
    let mut packaged = with_rate(Format::Hls, files, Some(p.seconds()));
    packaged.loudness_lufs = Some(measured.loudness_lufs);
    Ok(packaged)
}

/// The ffmpeg arguments that copy an AAC track (`aac`, an MP4) into an
/// audio-only HLS presentation in folder `out`.
pub fn audio_hls_args(aac: &Path, out: &Path) -> Vec<OsString> {
    let dir = out.to_string_lossy().replace('%', "%%");
    let mut a = ffmpeg_base();
    a.extend(args!["-i", aac, "-map", "0:a:0"]);
    a.extend(hls_muxer());
    a.extend(args![
        "-hls_segment_filename",
        format!("{dir}/index%05d.ts"),
        out.join("index.m3u8")
    ]);
    a
}

/// An audio job's merge: no pieces to join; every format it makes comes
/// from the default track's once-encoded AAC (and MP3), side by side.
async fn merge_sound(tools: &Tools, plan: &JobPlan, jobdir: &JobDir) -> Result<Vec<Packaged>> {
    let (_, n) = default_track(plan)?;
    if !jobdir.audio_track(n).is_file() {
        return Err(Error::invalid(format!(
            "{} is missing; the audio task must run first",
            file_name(&jobdir.audio_track(n))
        )));
    }
    let out_dir = jobdir.out_dir();
    create_dir(&out_dir)?;
    let started = Instant::now();
    let made = futures_util::future::try_join_all(plan.formats().into_iter().map(|f| match f {
        Format::Hls => make_audio_hls(tools, plan, jobdir, &out_dir).boxed(),
        f => make_sound(tools, f, plan, jobdir, &out_dir).boxed(),
    }))
    .await?;
    tracing::info!(ms = elapsed_ms(started), "sound packaged and verified");
    Ok(made)
}
