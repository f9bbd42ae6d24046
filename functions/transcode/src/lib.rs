//! transcode: one Map item. A video piece is encoded to H.264; an audio
//! task encodes one whole audio track once to AAC (in a job of one piece,
//! the piece's task encodes every audio track beside its video, both at
//! once), and the subtitles task
//! takes every text subtitle track as WebVTT, from the source split left
//! on NAS (the last of them removes it). A job's one uncut piece is the
//! source itself (`Cutting::Uncut`), read in place. Outputs appear under their final
//! names only when complete (vpf-media writes a temporary file and renames
//! it), so a retry either finds the work finished or starts over.

use std::time::Instant;

use vpf_core::cost::Function;
use vpf_core::job::{JobPlan, Track, TranscodeOutput, TranscodeTask};
use vpf_core::nas::JobDir;
use vpf_core::{Error, Result};

/// The environment this step reads (NAS mount, OSS endpoint, ffmpeg).
pub type Settings = vpf_media::StepSettings;

pub async fn handle(task: TranscodeTask, s: &Settings) -> Result<TranscodeOutput> {
    let job = JobDir::new(&s.nas_mount, &task.job_id)?;
    job.metered(Function::Transcode, async {
        let plan = job.read_plan()?;
        match task.track {
            Track::Video => video(task, &plan, &job, s).await,
            Track::Audio => audio(task, &plan, &job, s).await,
            Track::Subtitles => subtitles(task, &plan, &job, s).await,
        }
    })
    .await
}

/// Remove the source if this was the last task to need it; a failure to
/// remove it costs NAS space until after-process, not the job.
fn release_source(plan: &JobPlan, job: &JobDir) {
    if let Err(e) = job.release_source(plan) {
        tracing::warn!(error = %e, "could not remove the source");
    }
}

/// The source for a task that reads it, or why it is gone.
fn source_of(job_id: &str, what: &str, plan: &JobPlan, job: &JobDir) -> Result<std::path::PathBuf> {
    let source = job.source(&plan.request.key);
    if !source.is_file() {
        return Err(Error::invalid(format!(
            "job {job_id}: the source is no longer on NAS and the {what} was never taken from it; run split again"
        )));
    }
    Ok(source)
}

async fn video(
    task: TranscodeTask,
    plan: &JobPlan,
    job: &JobDir,
    s: &Settings,
) -> Result<TranscodeOutput> {
    let piece = plan
        .pieces
        .iter()
        .find(|p| p.index == task.index)
        .ok_or_else(|| {
            Error::invalid(format!(
                "job {} has {} pieces; there is no piece {}",
                task.job_id,
                plan.pieces.len(),
                task.index
            ))
        })?;
    let output = job.encoded(task.index);
    let started = Instant::now();
    let encode = async {
        if output.is_file() {
            // Finished by an earlier attempt whose answer was lost.
            tracing::info!(index = task.index, "piece already encoded");
            return Ok(piece.frames);
        }
        let mark = plan.watermark_image.as_ref().map(|_| job.watermark());
        let frames = vpf_media::transcode_piece(
            &s.tools,
            &job.piece_input(plan, task.index),
            mark.as_deref(),
            &output,
            plan,
            task.index,
        )
        .await?;
        job.record_step(
            &format!("transcode-{:05}", task.index),
            started.elapsed().as_secs_f64(),
        )?;
        if !plan.uncut() {
            // The cut piece is no longer needed; NAS space is per job.
            let _ = std::fs::remove_file(job.piece(task.index));
        }
        Ok(frames)
    };
    // The audio's encoder is light beside x264: one ffmpeg each, at once.
    let audio = async {
        if !plan.audio_beside_piece() {
            return Ok(());
        }
        for n in plan.audio_plan() {
            encode_audio(&task.job_id, n, plan, job, s).await?;
        }
        release_source(plan, job);
        Ok::<(), Error>(())
    };
    let (frames, ()) = tokio::try_join!(encode, audio)?;
    if plan.uncut() {
        // The piece was the source: it goes once the audio and subtitles
        // are taken from it too.
        release_source(plan, job);
    }
    let bytes = std::fs::metadata(&output)?.len();
    let ms = vpf_media::elapsed_ms(started);
    tracing::info!(index = task.index, frames, bytes, ms, "piece encoded");
    Ok(TranscodeOutput {
        job_id: task.job_id,
        track: Track::Video,
        index: task.index,
        frames,
        bytes,
    })
}

async fn audio(
    task: TranscodeTask,
    plan: &JobPlan,
    job: &JobDir,
    s: &Settings,
) -> Result<TranscodeOutput> {
    let n = task.index;
    if !plan.audio_plan().contains(&n) {
        return Err(Error::invalid(format!(
            "job {} encodes audio tracks {:?}; there is no audio track {n} to encode",
            task.job_id,
            plan.audio_plan()
        )));
    }
    let bytes = encode_audio(&task.job_id, n, plan, job, s).await?;
    // The pieces, the audio and the subtitles hold everything later steps
    // need once every task that reads the source is done.
    release_source(plan, job);
    Ok(TranscodeOutput {
        job_id: task.job_id,
        track: Track::Audio,
        index: n,
        frames: 0,
        bytes,
    })
}

/// Encode audio track `n` unless an earlier attempt did; its bytes.
async fn encode_audio(
    job_id: &str,
    n: u32,
    plan: &JobPlan,
    job: &JobDir,
    s: &Settings,
) -> Result<u64> {
    let output = job.audio_track(n);
    let started = Instant::now();
    if output.is_file() {
        tracing::info!(track = n, "audio already encoded");
    } else {
        let source = source_of(job_id, "audio", plan, job)?;
        let mp3 = (plan.mp3_track() == Some(n)).then(|| job.audio_mp3(n));
        vpf_media::extract_audio_with_mp3(
            &s.tools,
            &source,
            &plan.info,
            n,
            &plan.request.profile,
            &output,
            mp3.as_deref(),
        )
        .await?;
        let step = match n {
            0 => "audio".to_string(),
            n => format!("audio-{n}"),
        };
        job.record_step(&step, started.elapsed().as_secs_f64())?;
    }
    let bytes = std::fs::metadata(&output)?.len();
    let ms = vpf_media::elapsed_ms(started);
    tracing::info!(track = n, bytes, ms, "audio encoded");
    Ok(bytes)
}

async fn subtitles(
    task: TranscodeTask,
    plan: &JobPlan,
    job: &JobDir,
    s: &Settings,
) -> Result<TranscodeOutput> {
    if plan.subtitle_tracks.is_empty() {
        return Err(Error::invalid(format!(
            "job {} has no text subtitles to take",
            task.job_id
        )));
    }
    let outputs: Vec<_> = plan
        .subtitle_tracks
        .iter()
        .map(|&n| job.subtitles(n))
        .collect();
    let started = Instant::now();
    if outputs.iter().all(|p| p.is_file()) {
        tracing::info!("subtitles already taken");
    } else {
        let source = source_of(&task.job_id, "subtitles", plan, job)?;
        vpf_media::extract_subtitles(&s.tools, &source, &plan.info, &plan.subtitle_tracks, |n| {
            job.subtitles(n)
        })
        .await?;
        job.record_step("subtitles", started.elapsed().as_secs_f64())?;
    }
    release_source(plan, job);
    let mut bytes = 0;
    for p in &outputs {
        bytes += std::fs::metadata(p)?.len();
    }
    tracing::info!(tracks = outputs.len(), bytes, "subtitles taken");
    Ok(TranscodeOutput {
        job_id: task.job_id,
        track: Track::Subtitles,
        index: 0,
        frames: 0,
        bytes,
    })
}
