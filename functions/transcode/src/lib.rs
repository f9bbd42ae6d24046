//! transcode: one Map item. A video piece is encoded to H.264; the audio
//! task encodes the job's whole audio track once to AAC, from the source
//! split left on NAS (then removes it). Outputs appear under their final
//! names only when complete (vpf-media writes a temporary file and renames
//! it), so a retry either finds the work finished or starts over.

use std::time::Instant;

use vpf_core::job::{JobPlan, Track, TranscodeOutput, TranscodeTask};
use vpf_core::nas::JobDir;
use vpf_core::{Error, Result};

/// The environment this step reads (NAS mount, OSS endpoint, ffmpeg).
pub type Settings = vpf_media::StepSettings;

pub async fn handle(task: TranscodeTask, s: &Settings) -> Result<TranscodeOutput> {
    let job = JobDir::new(&s.nas_mount, &task.job_id)?;
    let plan = job.read_plan()?;
    match task.track {
        Track::Video => video(task, &plan, &job, s).await,
        Track::Audio => audio(task, &plan, &job, s).await,
    }
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
    let frames = if output.is_file() {
        // Finished by an earlier attempt whose answer was lost.
        tracing::info!(index = task.index, "piece already encoded");
        piece.frames
    } else {
        let frames =
            vpf_media::transcode_piece(&s.tools, &job.piece(task.index), &output, plan, task.index)
                .await?;
        job.record_step(
            &format!("transcode-{:05}", task.index),
            started.elapsed().as_secs_f64(),
        )?;
        // The cut piece is no longer needed; NAS space is per job.
        let _ = std::fs::remove_file(job.piece(task.index));
        frames
    };
    let bytes = std::fs::metadata(&output)?.len();
    tracing::info!(index = task.index, frames, bytes, "piece encoded");
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
    if !plan.has_audio {
        return Err(Error::invalid(format!(
            "job {} has no audio to encode",
            task.job_id
        )));
    }
    let output = job.audio();
    let source = job.source(&plan.request.key);
    let started = Instant::now();
    if output.is_file() {
        tracing::info!("audio already encoded");
    } else {
        if !source.is_file() {
            return Err(Error::invalid(format!(
                "job {}: the source is no longer on NAS and the audio was never encoded; run split again",
                task.job_id
            )));
        }
        vpf_media::extract_audio(
            &s.tools,
            &source,
            &plan.info,
            &plan.request.profile,
            &output,
        )
        .await?;
        job.record_step("audio", started.elapsed().as_secs_f64())?;
    }
    // The pieces and the audio now hold everything later steps need.
    let _ = std::fs::remove_file(&source);
    let bytes = std::fs::metadata(&output)?.len();
    tracing::info!(bytes, "audio encoded");
    Ok(TranscodeOutput {
        job_id: task.job_id,
        track: Track::Audio,
        index: 0,
        frames: 0,
        bytes,
    })
}
