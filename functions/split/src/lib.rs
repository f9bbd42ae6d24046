//! split: stream the source from OSS into the job folder, probe it, cut
//! video-only pieces at key frames (stream copy), encode the audio once, and
//! write the plan (`job.json`) the later steps read. Returns the pieces in
//! order, as the Map's items.
//!
//! Any failure removes the job folder: a corrupt upload leaves nothing on NAS,
//! and a retry starts clean.

use std::time::Instant;

use vpf_core::job::{JobPlan, JobRequest, PieceTask, SplitOutput};
use vpf_core::nas::JobDir;
use vpf_core::{Error, Result};
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
    // A retry after a lost answer: the plan is there and complete.
    if let Ok(plan) = job.read_plan() {
        if plan.request == req
            && plan
                .pieces
                .iter()
                .all(|p| job.piece(p.index).is_file() || job.encoded(p.index).is_file())
        {
            tracing::info!(job = %req.job_id, "plan already made; answering from it");
            return Ok(output(&plan));
        }
    }
    let started = Instant::now();
    match split(&req, s, store, &job).await {
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
    let source = job.source(&req.key);
    let bytes = store
        .get_to_file(&req.bucket, &req.key, &source)
        .await
        .map_err(|e| e.context(format!("downloading oss://{}/{}", req.bucket, req.key)))?;
    tracing::info!(bytes, "source downloaded");

    let info = vpf_media::probe(&s.tools, &source).await.map_err(|mut e| {
        // ffmpeg names the NAS copy; the manifest reader knows the key.
        e.message = e.message.replace(&*source.to_string_lossy(), &req.key);
        e.context(format!("probing {}", req.key))
    })?;
    let video = info
        .video
        .as_ref()
        .ok_or_else(|| Error::corrupt(format!("{} has no video stream", req.key)))?;
    tracing::info!(
        duration = info.duration_seconds,
        width = video.width,
        height = video.height,
        frames = video.frames,
        audio = info.audio.is_some(),
        "probed"
    );
    let piece_seconds =
        vpf_media::piece_seconds(info.duration_seconds, req.segment_seconds, req.max_pieces);
    // Cutting (stream copy, disk-bound) and the audio encode (CPU) overlap.
    let audio = job.audio();
    let (pieces, has_audio) = tokio::try_join!(
        vpf_media::split_video(&s.tools, &source, &info, piece_seconds, job),
        vpf_media::extract_audio(&s.tools, &source, &info, &req.profile, &audio),
    )?;
    tracing::info!(pieces = pieces.len(), piece_seconds, has_audio, "split");
    let plan = JobPlan {
        request: req.clone(),
        source_file: source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        info,
        piece_seconds,
        pieces,
        has_audio,
    };
    job.write_plan(&plan)?;
    // The pieces and the audio hold everything later steps need.
    std::fs::remove_file(&source)?;
    Ok(plan)
}

fn output(plan: &JobPlan) -> SplitOutput {
    let job_id = plan.request.job_id.clone();
    SplitOutput {
        pieces: plan
            .pieces
            .iter()
            .map(|p| PieceTask {
                job_id: job_id.clone(),
                index: p.index,
            })
            .collect(),
        job_id,
        piece_seconds: plan.piece_seconds,
        duration_seconds: plan.info.duration_seconds,
        has_audio: plan.has_audio,
    }
}
