//! transcode: encode one piece to H.264. The encoded piece appears under its
//! final name only when complete (vpf-media writes a temporary file and
//! renames it), so a retry either finds it finished or starts over.

use std::time::Instant;

use vpf_core::job::{PieceOutput, PieceTask};
use vpf_core::nas::JobDir;
use vpf_core::{Error, Result};

/// The environment this step reads (NAS mount, OSS endpoint, ffmpeg).
pub type Settings = vpf_media::StepSettings;

pub async fn handle(task: PieceTask, s: &Settings) -> Result<PieceOutput> {
    let job = JobDir::new(&s.nas_mount, &task.job_id)?;
    let plan = job.read_plan()?;
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
        let frames = vpf_media::transcode_piece(
            &s.tools,
            &job.piece(task.index),
            &output,
            &plan,
            task.index,
        )
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
    Ok(PieceOutput {
        job_id: task.job_id,
        index: task.index,
        frames,
        bytes,
    })
}
