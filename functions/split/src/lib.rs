//! split: stream the source from OSS into the job folder, probe it, cut
//! video-only pieces at key frames (stream copy), and write the plan
//! (`job.json`) the later steps read. A video of one piece is not cut: the
//! piece is the source itself, which transcode reads in place
//! (`Cutting::Uncut`). Returns the Map's items: one audio task per audio track and one subtitles task for the text subtitle
//! tracks (run by transcode beside the pieces, from the source, which
//! stays on NAS until then), and the pieces in order. A job of one piece
//! has no audio tasks: that piece's task encodes the audio too
//! (`JobPlan::audio_beside_piece`).
//!
//! A source of sound alone makes an audio job: no pieces, one audio task;
//! the video formats it cannot give are skipped (`JobPlan::skipped`).
//!
//! Any failure removes the job folder: a corrupt upload leaves nothing on NAS,
//! and a retry starts clean.

use std::time::Instant;

use vpf_core::cost::Function;
use vpf_core::job::{JobPlan, JobRequest, SplitOutput, Track, TranscodeTask};
use vpf_core::nas::JobDir;
use vpf_core::watermark::MarkImage;
use vpf_core::{Error, ErrorKind, Result};
use vpf_oss::ObjectStore;

/// The environment this step reads (NAS mount, OSS endpoint, ffmpeg).
pub type Settings = vpf_media::StepSettings;

pub async fn handle<S: ObjectStore>(
    req: JobRequest,
    s: &Settings,
    store: &S,
) -> Result<SplitOutput> {
    req.validate()?;
    let job = JobDir::new(&s.nas_mount, &req.job_id)?;
    job.metered(Function::Split, attempt(&req, s, store, &job))
        .await
}

async fn attempt<S: ObjectStore>(
    req: &JobRequest,
    s: &Settings,
    store: &S,
    job: &JobDir,
) -> Result<SplitOutput> {
    // A retry after a lost answer: the plan is there and complete.
    if let Ok(plan) = job.read_plan() {
        let source_ready = job.from_source(&plan).iter().all(|p| p.is_file())
            || job.source(&plan.request.key).is_file();
        if plan.request == *req
            && source_ready
            && (plan.watermark_image.is_none() || job.watermark().is_file())
            && plan.pieces.iter().all(|p| {
                job.piece_input(&plan, p.index).is_file() || job.encoded(p.index).is_file()
            })
        {
            tracing::info!(job = %req.job_id, "plan already made; answering from it");
            return Ok(output(&plan));
        }
    }
    let started = Instant::now();
    match split(req, s, store, job).await {
        Ok(plan) => {
            job.record_step("split", started.elapsed().as_secs_f64())?;
            Ok(output(&plan))
        }
        Err(e) => {
            if let Err(rm) = job.remove() {
                tracing::warn!(error = %rm, "could not remove the job folder after a failed split");
            }
            Err(e)
        }
    }
}

async fn split<S: ObjectStore>(
    req: &JobRequest,
    s: &Settings,
    store: &S,
    job: &JobDir,
) -> Result<JobPlan> {
    job.remove()?;
    job.create()?;
    // The mark first: a wrong key or a file that is no image fails the job
    // in a second, before the source is fetched or anything encoded.
    let watermark_image = match &req.profile.watermark {
        Some(w) => Some(fetch_mark(req, &w.key, s, store, job).await?),
        None => None,
    };
    let source = job.source(&req.key);
    let t = Instant::now();
    let bytes = store
        .get_to_file(&req.bucket, &req.key, &source)
        .await
        .map_err(|e| e.context(format!("downloading oss://{}/{}", req.bucket, req.key)))?;
    tracing::info!(bytes, ms = vpf_media::elapsed_ms(t), "source downloaded");

    let t = Instant::now();

    let probed = vpf_media::probe_source(&s.tools, &source)
        .await
        .map_err(|mut e| {
            // ffmpeg names the NAS copy; the manifest reader knows the key.
            e.message = e.message.replace(&*source.to_string_lossy(), &req.key);
            e.context(format!("probing {}", req.key))
        })?;
    let info = &probed.info;
    tracing::info!(
        duration = info.duration_seconds,
        width = info.video.as_ref().map(|v| v.width),
        height = info.video.as_ref().map(|v| v.height),
        frames = info.video.as_ref().map(|v| v.frames),
        audio = info.audio_count(),
        subtitles = info.subtitle_tracks.len(),
        ms = vpf_media::elapsed_ms(t),
        "probed"
    );
    let formats = info.makes(&req.formats);
    if formats.is_empty() {
        return Err(Error::invalid(format!(
            "{} has no video stream, and none of the formats asked for ({}) can be made from sound alone; ask for m4a, mp3 or hls",
            req.key,
            req.formats
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for s in info.skipped(&req.formats) {
        tracing::info!(format = %s.format, reason = %s.reason, "format skipped");
    }
    let piece_seconds =
        vpf_media::piece_seconds(info.duration_seconds, req.segment_seconds, req.max_pieces);
    let t = Instant::now();
    // An audio job has no pieces: its audio task encodes the whole track
    // at once, the only way the sound stays gap-free (each AAC or MP3
    // encode starts with priming, and loudness is one gain for the whole).
    let (pieces, cutting) = match info.video {
        Some(_) => vpf_media::split_video(&s.tools, &source, &probed, piece_seconds, job).await?,
        None => (Vec::new(), Default::default()),
    };
    let cut_ms = vpf_media::elapsed_ms(t);
    let audio_tracks = info.audio_plan_for(&req.formats);
    let subtitle_tracks = info.subtitle_plan_for(&req.formats);
    let renditions = info.renditions_for(&req.formats, &req.profile);
    for (n, s) in info.subtitle_tracks.iter().enumerate() {
        if let Some(why) = s.unsupported() {
            tracing::info!(track = n, codec = %s.codec, %why, "subtitle track dropped");
        }
    }
    let has_audio = !audio_tracks.is_empty();
    tracing::info!(
        pieces = pieces.len(),
        piece_seconds,
        audio = ?audio_tracks,
        subtitles = ?subtitle_tracks,
        ms = cut_ms,
        "split"
    );
    let plan = JobPlan {
        request: req.clone(),
        source_file: source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        info: probed.info,
        piece_seconds,
        pieces,
        cutting,
        has_audio,
        audio_tracks,
        subtitle_tracks,
        renditions,
        watermark_image,
    };
    job.write_plan(&plan)?;
    if !plan.reads_source_later() {
        // The pieces hold everything later steps need; otherwise the last
        // task that reads the source removes it once it is done.
        std::fs::remove_file(&source)?;
    }
    Ok(plan)
}

/// Largest watermark file fetched: a corner mark is a few kilobytes, and a
/// 4096x4096 PNG is at most a few megabytes.
const MAX_MARK_BYTES: u64 = 32 << 20;

/// Fetch the watermark image to the job folder (every piece's encode reads
/// it there) and check it is a PNG or JPEG of a sane size. A missing object
/// is the job's settings at fault, not the upload: `InvalidInput`.
async fn fetch_mark<S: ObjectStore>(
    req: &JobRequest,
    key: &str,
    s: &Settings,
    store: &S,
    job: &JobDir,
) -> Result<MarkImage> {
    let name = format!("oss://{}/{key}", req.bucket);
    let meta = store
        .head(&req.bucket, key)
        .await
        .map_err(|e| e.context(format!("looking up watermark {name}")))?
        .ok_or_else(|| {
            Error::invalid(format!(
                "watermark {name} does not exist: upload the image or correct WATERMARK_KEY"
            ))
        })?;
    if meta.size > MAX_MARK_BYTES {
        return Err(Error::invalid(format!(
            "watermark {name} is {} bytes; a watermark image may be at most {MAX_MARK_BYTES}",
            meta.size
        )));
    }
    let path = job.watermark();
    store
        .get_to_file(&req.bucket, key, &path)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::NotFound => Error::invalid(format!("watermark {name} does not exist")),
            _ => e.context(format!("downloading watermark {name}")),
        })?;
    let image = vpf_media::probe_mark(&s.tools, &path, &name).await?;
    tracing::info!(key, width = image.width, height = image.height, codec = %image.codec, "watermark checked");
    Ok(image)
}

fn output(plan: &JobPlan) -> SplitOutput {
    let job_id = plan.request.job_id.clone();
    let task = |track, index| TranscodeTask {
        job_id: job_id.clone(),
        track,
        index,
    };
    // The audio and subtitles first: they start at once and are done long
    // before the last piece.
    let audio = plan
        .audio_tasks()
        .into_iter()
        .map(|n| task(Track::Audio, n));
    let subtitles = (!plan.subtitle_tracks.is_empty()).then(|| task(Track::Subtitles, 0));
    let tasks = audio
        .chain(subtitles)
        .chain(plan.pieces.iter().map(|p| task(Track::Video, p.index)))
        .collect();
    SplitOutput {
        tasks,
        pieces: plan.pieces.len() as u32,
        job_id,
        piece_seconds: plan.piece_seconds,
        duration_seconds: plan.info.duration_seconds,
        has_audio: plan.has_audio,
    }
}
