//! merge: join the encoded pieces in order, mux the once-encoded audio,
//! package every requested format from that one encode, verify, and upload
//! (streaming) to predictable keys under the job's output base.

use std::time::Instant;

use futures_util::{TryStreamExt, future, stream};
use vpf_core::cost::Function;
use vpf_core::job::{JobPlan, MergeInput, MergeOutput, OutputObject, Track};
use vpf_core::nas::JobDir;
use vpf_core::{Error, ErrorKind, Result};
use vpf_media::Packaged;
use vpf_oss::ObjectStore;

/// HLS segments upload this many at a time (per format); the playlist goes last.
const UPLOADS_IN_FLIGHT: usize = 4;

/// The environment this step reads (NAS mount, OSS endpoint, ffmpeg).
pub type Settings = vpf_media::StepSettings;

pub async fn handle<S: ObjectStore>(
    input: MergeInput,
    s: &Settings,
    store: &S,
) -> Result<MergeOutput> {
    let job = JobDir::new(&s.nas_mount, &input.job_id)?;
    job.metered(Function::Merge, attempt(input, s, store, &job))
        .await
}

async fn attempt<S: ObjectStore>(
    input: MergeInput,
    s: &Settings,
    store: &S,
    job: &JobDir,
) -> Result<MergeOutput> {
    let plan = job.read_plan()?;
    check_tasks(&input, &plan)?;
    let started = Instant::now();
    let packaged = vpf_media::merge(&s.tools, &plan, job).await?;
    let req = &plan.request;
    let uploading = Instant::now();
    // Every format was checked before any upload starts (a failed check
    // publishes nothing new); then the formats go up side by side.
    let outputs = future::try_join_all(packaged.iter().map(|p| async move {
        upload(store, &req.bucket, &req.output_base, p).await?;
        prune(store, &req.bucket, &req.output_base, p).await?;
        tracing::info!(format = %p.format, key = %req.output_key(p.format), bytes = p.bytes(), "uploaded");
        Ok::<_, Error>(OutputObject {
            format: p.format,
            key: req.output_key(p.format),
            bytes: p.bytes(),
            objects: p.files.len() as u32,
            duration_seconds: p.duration_seconds,
            bitrate_kbps: p.bitrate_kbps,
            renditions: p.renditions.clone(),
            loudness_lufs: p.loudness_lufs,
        })
    }))
    .await?;
    tracing::info!(
        ms = vpf_media::elapsed_ms(uploading),
        "every format uploaded"
    );
    // The packaged files are in OSS now; free NAS before after-process runs.
    let _ = std::fs::remove_dir_all(job.out_dir());
    job.record_step("merge", started.elapsed().as_secs_f64())?;
    Ok(MergeOutput {
        job_id: input.job_id,
        outputs,
    })
}

/// The Map's items must be every piece of the plan, once each, with the
/// frames the plan expects (a missing or short piece would make a shorter
/// video that still plays), every audio track that has a task of its own
/// once (`JobPlan::audio_tasks`), and
/// the subtitles once when the job has subtitles.
fn check_tasks(input: &MergeInput, plan: &JobPlan) -> Result<()> {
    if let Some(other) = input.tasks.iter().find(|t| t.job_id != input.job_id) {
        return Err(Error::invalid(format!(
            "{} {} belongs to job {}",
            track_name(other.track),
            other.index,
            other.job_id
        )));
    }
    let mut audio: Vec<u32> = input
        .tasks
        .iter()
        .filter(|t| t.track == Track::Audio)
        .map(|t| t.index)
        .collect();
    audio.sort_unstable();
    let mut want_audio = plan.audio_tasks();
    want_audio.sort_unstable();
    if audio != want_audio {
        return Err(Error::invalid(if audio.len() == want_audio.len() {
            format!("merge got audio tracks {audio:?}; the job encodes {want_audio:?}")
        } else {
            format!(
                "merge got {} audio tasks; the job has {}",
                audio.len(),
                want_audio.len()
            )
        }));
    }
    let subtitles = input
        .tasks
        .iter()
        .filter(|t| t.track == Track::Subtitles)
        .count();
    let want_subtitles = usize::from(!plan.subtitle_tracks.is_empty());
    if subtitles != want_subtitles {
        return Err(Error::invalid(format!(
            "merge got {subtitles} subtitles tasks; the job has {want_subtitles}"
        )));
    }
    let videos: Vec<_> = input
        .tasks
        .iter()
        .filter(|t| t.track == Track::Video)
        .collect();
    if videos.len() != plan.pieces.len() {
        return Err(Error::invalid(format!(
            "merge got {} pieces; the plan has {}",
            videos.len(),
            plan.pieces.len()
        )));
    }
    for p in &plan.pieces {
        let got: Vec<_> = videos.iter().filter(|x| x.index == p.index).collect();
        match got.as_slice() {
            [one] if one.frames == p.frames => {}
            [one] => {
                return Err(Error::new(
                    ErrorKind::VerifyFailed,
                    format!(
                        "piece {} was encoded with {} frames; the plan has {}",
                        p.index, one.frames, p.frames
                    ),
                ));
            }
            _ => {
                return Err(Error::invalid(format!(
                    "piece {} appears {} times in the merge input",
                    p.index,
                    got.len()
                )));
            }
        }
    }
    Ok(())
}

fn track_name(t: Track) -> &'static str {
    match t {
        Track::Video => "piece",
        Track::Audio => "audio task",
        Track::Subtitles => "subtitles task",
    }
}

/// Remove what an earlier upload of the same key left in a folder that one
/// format owns (HLS: a longer video had more segments): the folder must hold
/// exactly what its playlist lists. Runs after the new playlist is in place,
/// so a player never reads a playlist naming a segment already gone.
async fn prune<S: ObjectStore>(store: &S, bucket: &str, base: &str, p: &Packaged) -> Result<()> {
    let Some((dir, _)) = p.files.last().and_then(|f| f.rel.rsplit_once('/')) else {
        // Single-file formats are replaced in place by their upload.
        return Ok(());
    };
    let keep: std::collections::HashSet<String> = p
        .files
        .iter()
        .map(|f| format!("{base}/{}", f.rel))
        .collect();
    for o in store.list(bucket, &format!("{base}/{dir}/")).await? {
        if !keep.contains(&o.key) {
            tracing::info!(key = %o.key, "removing an object of an earlier upload");
            store.delete(bucket, &o.key).await?;
        }
    }
    Ok(())
}

/// Upload one format's files. The main file (an HLS playlist) goes last, so
/// nobody reads a playlist that names a segment not yet there.
async fn upload<S: ObjectStore>(store: &S, bucket: &str, base: &str, p: &Packaged) -> Result<()> {
    let Some((main, rest)) = p.files.split_last() else {
        return Err(Error::internal(format!(
            "format {} produced no file",
            p.format
        )));
    };
    stream::iter(rest.iter().map(Ok::<_, Error>))
        .try_for_each_concurrent(UPLOADS_IN_FLIGHT, |f| async move {
            let key = format!("{base}/{}", f.rel);
            store
                .put_file(bucket, &key, &f.path, Some(f.content_type))
                .await
                .map(|_| ())
        })
        .await?;
    let key = format!("{base}/{}", main.rel);
    store
        .put_file(bucket, &key, &main.path, Some(main.content_type))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpf_core::job::{Piece, TranscodeOutput};

    fn plan(has_audio: bool) -> JobPlan {
        let request = serde_json::from_value(serde_json::json!({
            "jobId": "j", "bucket": "b", "key": "in/a.mp4", "outputBase": "dest/a", "stem": "a",
            "formats": ["mp4"], "segmentSeconds": 2.0
        }))
        .unwrap();
        JobPlan {
            request,
            source_file: "source.mp4".into(),
            info: Default::default(),
            piece_seconds: 2.0,
            pieces: (0..3)
                .map(|i| Piece {
                    index: i,
                    start_seconds: f64::from(i) * 2.0,
                    duration_seconds: 2.0,
                    frames: 50,
                    drop_head: 0,
                    drop_tail: 0,
                })
                .collect(),
            cutting: Default::default(),
            has_audio,
            audio_tracks: vec![],
            subtitle_tracks: vec![],
            renditions: vec![],
            watermark_image: None,
        }
    }

    fn out(track: Track, index: u32, frames: u64) -> TranscodeOutput {
        TranscodeOutput {
            job_id: "j".into(),
            track,
            index,
            frames,
            bytes: 1,
        }
    }

    fn input(pieces: &[(u32, u64)], audio: usize) -> MergeInput {
        let mut tasks: Vec<_> = (0..audio).map(|_| out(Track::Audio, 0, 0)).collect();
        tasks.extend(pieces.iter().map(|&(i, f)| out(Track::Video, i, f)));
        MergeInput {
            job_id: "j".into(),
            tasks,
        }
    }

    #[test]
    fn every_piece_once_with_its_frames_in_any_order() {
        let p = plan(false);
        assert!(check_tasks(&input(&[(2, 50), (0, 50), (1, 50)], 0), &p).is_ok());
        let e = check_tasks(&input(&[(0, 50), (1, 50)], 0), &p).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        let e = check_tasks(&input(&[(0, 50), (1, 50), (1, 50)], 0), &p).unwrap_err();
        assert!(e.message.contains("appears 2 times"), "{}", e.message);
        let e = check_tasks(&input(&[(0, 50), (1, 49), (2, 50)], 0), &p).unwrap_err();
        assert_eq!(e.kind, ErrorKind::VerifyFailed);
        let mut other = input(&[(0, 50), (1, 50), (2, 50)], 0);
        other.tasks[1].job_id = "k".into();
        let e = check_tasks(&other, &p).unwrap_err();
        assert!(
            e.message.contains("piece 1 belongs to job k"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_audio_once_when_the_job_has_audio() {
        let all = [(0, 50), (1, 50), (2, 50)];
        assert!(check_tasks(&input(&all, 1), &plan(true)).is_ok());
        let e = check_tasks(&input(&all, 0), &plan(true)).unwrap_err();
        assert!(
            e.message.contains("0 audio tasks; the job has 1"),
            "{}",
            e.message
        );
        let e = check_tasks(&input(&all, 2), &plan(true)).unwrap_err();
        assert!(e.message.contains("2 audio tasks"), "{}", e.message);
        let e = check_tasks(&input(&all, 1), &plan(false)).unwrap_err();
        assert!(e.message.contains("the job has 0"), "{}", e.message);
    }

    #[test]
    fn every_audio_track_once_and_the_subtitles_once() {
        let all = [(0, 50), (1, 50), (2, 50)];
        let mut p = plan(true);
        p.audio_tracks = vec![0, 2];
        p.subtitle_tracks = vec![1];
        let mut i = input(&all, 0);
        i.tasks.push(out(Track::Audio, 2, 0));
        i.tasks.push(out(Track::Audio, 0, 0));
        i.tasks.push(out(Track::Subtitles, 0, 0));
        assert!(check_tasks(&i, &p).is_ok());
        // Track 1 instead of 2.
        let mut wrong = i.clone();
        wrong.tasks[3].index = 1;
        let e = check_tasks(&wrong, &p).unwrap_err();
        assert!(
            e.message
                .contains("audio tracks [0, 1]; the job encodes [0, 2]"),
            "{}",
            e.message
        );
        // The subtitles missing.
        let mut none = i.clone();
        none.tasks.pop();
        let e = check_tasks(&none, &p).unwrap_err();
        assert!(
            e.message.contains("0 subtitles tasks; the job has 1"),
            "{}",
            e.message
        );
    }
}
