//! A job's folder on NAS: `<mount>/jobs/<jobId>/`. Every file a job writes
//! lives here, under names this module makes, so no key or event field can
//! place a file anywhere else.

use std::path::{Path, PathBuf};

use crate::cost::{Function, Invocation};
use crate::error::{Error, Result};
use crate::manifest::StepTiming;
use crate::plan::JobPlan;

// Read here by the functions and the local runner, which know a job's
// folder by its mount and its id; each fact lives where it is made.
pub use crate::config::DEFAULT_MOUNT;
pub use crate::keys::validate_job_id;

#[derive(Debug, Clone)]
pub struct JobDir {
    path: PathBuf,
}

/// Where rendition `k` of an encoded piece is, beside rendition 0 at
/// `encoded` (`00003.nut`, `00003-r1.nut`, ...).
pub fn rendition_file(encoded: &Path, k: usize) -> PathBuf {
    if k == 0 {
        return encoded.to_path_buf();
    }
    let stem = encoded
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match encoded.extension() {
        Some(ext) => format!("{stem}-r{k}.{}", ext.to_string_lossy()),
        None => format!("{stem}-r{k}"),
    };
    encoded.with_file_name(name)
}

impl JobDir {
    /// The folder of `job_id` under the NAS mount (not created).
    pub fn new(mount: &Path, job_id: &str) -> Result<JobDir> {
        validate_job_id(job_id)?;
        Ok(JobDir {
            path: mount.join("jobs").join(job_id),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn create(&self) -> Result<()> {
        for d in [
            self.pieces_dir(),
            self.encoded_dir(),
            self.out_dir(),
            self.steps_dir(),
        ] {
            tokio_free::create_dir_all(&d)?;
        }
        Ok(())
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    /// The downloaded source. The extension is kept (only letters and digits)
    /// because some demuxers look at it.
    pub fn source(&self, key: &str) -> PathBuf {
        let ext: String = key
            .rsplit_once('.')
            .map(|(_, e)| e)
            .filter(|e| !e.contains('/'))
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(8)
            .collect();
        if ext.is_empty() {
            self.path.join("source")
        } else {
            self.path
                .join(format!("source.{}", ext.to_ascii_lowercase()))
        }
    }

    pub fn pieces_dir(&self) -> PathBuf {
        self.path.join("pieces")
    }
    /// A video-only piece as cut by split.
    pub fn piece(&self, index: u32) -> PathBuf {
        self.pieces_dir().join(format!("{index:05}.mkv"))
    }
    /// What transcode reads for piece `index`: the source itself when split
    /// left the job's one piece uncut, else the piece split cut.
    pub fn piece_input(&self, plan: &JobPlan, index: u32) -> PathBuf {
        match plan.uncut() {
            true => self.source(&plan.request.key),
            false => self.piece(index),
        }
    }
    pub fn encoded_dir(&self) -> PathBuf {
        self.path.join("encoded")
    }
    /// A piece as encoded by transcode. NUT, not Matroska: Matroska rounds
    /// timestamps to milliseconds, NUT keeps the encoder's exact time base, so
    /// the joined video keeps exact frame durations (29.97 fps stays 1001/30000).
    pub fn encoded(&self, index: u32) -> PathBuf {
        self.encoded_dir().join(format!("{index:05}.nut"))
    }
    /// A piece's rendition `k` of the job's ladder (`k` 0, the largest, is
    /// [`JobDir::encoded`] itself: the other formats are made from it).
    pub fn encoded_rendition(&self, index: u32, k: usize) -> PathBuf {
        rendition_file(&self.encoded(index), k)
    }
    /// The once-encoded AAC audio track (the source's first: see [`JobDir::audio_track`]).
    pub fn audio(&self) -> PathBuf {
        self.audio_track(0)
    }
    /// Source audio track `n` (`0:a:n`) encoded once to AAC. Track 0 keeps
    /// the name it had when jobs had one track.
    pub fn audio_track(&self, n: u32) -> PathBuf {
        match n {
            0 => self.path.join("audio.m4a"),
            n => self.path.join(format!("audio-{n}.m4a")),
        }
    }
    /// Audio track `n` as MP3, encoded beside its AAC when the job makes
    /// an mp3 output ([`crate::plan::JobPlan::mp3_track`]).
    pub fn audio_mp3(&self, n: u32) -> PathBuf {
        self.audio_track(n).with_extension("mp3")
    }
    /// Source subtitle track `n` (`0:s:n`) as WebVTT, on the output's timeline.
    pub fn subtitles(&self, n: u32) -> PathBuf {
        self.path.join(format!("subs-{n}.vtt"))
    }
    /// What the tasks make from the source (the audio, the subtitles, and
    /// the encode of an uncut piece): once all of it is there, the source
    /// is no longer needed.
    pub fn from_source(&self, plan: &JobPlan) -> Vec<PathBuf> {
        let audio = plan.audio_plan().into_iter().map(|n| self.audio_track(n));
        let subs = plan.subtitle_tracks.iter().map(|&n| self.subtitles(n));
        // Rendition 0 is written last: once it is there, the piece is encoded.
        let video = plan
            .pieces
            .iter()
            .filter(|_| plan.uncut())
            .map(|p| self.encoded(p.index));
        audio.chain(subs).chain(video).collect()
    }
    /// Remove the source once everything taken from it is there. Each task
    /// that reads the source calls this after writing its output: the last
    /// to finish finds every output and removes it (two finishing together
    /// may both try; missing is fine).
    pub fn release_source(&self, plan: &JobPlan) -> Result<bool> {
        if !self.from_source(plan).iter().all(|p| p.is_file()) {
            return Ok(false);
        }
        match std::fs::remove_file(self.source(&plan.request.key)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(Error::internal(format!("removing the source: {e}"))),
        }
    }
    /// The watermark image, fetched by split and read by every piece's
    /// encode. No extension: ffmpeg tells PNG from JPEG by the content.
    pub fn watermark(&self) -> PathBuf {
        self.path.join("watermark")
    }
    /// Where merge packages outputs before upload.
    pub fn out_dir(&self) -> PathBuf {
        self.path.join("out")
    }
    pub fn plan_file(&self) -> PathBuf {
        self.path.join("job.json")
    }
    pub fn steps_dir(&self) -> PathBuf {
        self.path.join("steps")
    }

    pub fn read_plan(&self) -> Result<JobPlan> {
        let bytes = std::fs::read(self.plan_file()).map_err(|e| {
            Error::invalid(format!(
                "job {} has no plan at {} ({e}); split must run first",
                self.id(),
                self.plan_file().display()
            ))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::internal(format!(
                "job plan {} is unreadable: {e}",
                self.plan_file().display()
            ))
        })
    }

    pub fn write_plan(&self, plan: &JobPlan) -> Result<()> {
        write_atomic(&self.plan_file(), &serde_json::to_vec_pretty(plan)?)
    }

    /// Record a step's wall time; `name` is a step name such as `split` or
    /// `transcode-00003` (letters, digits and `-`).
    pub fn record_step(&self, name: &str, seconds: f64) -> Result<()> {
        if !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            return Err(Error::internal(format!("bad step name {name:?}")));
        }
        tokio_free::create_dir_all(&self.steps_dir())?;
        let t = StepTiming {
            step: name.to_string(),
            invocations: 1,
            seconds,
        };
        write_atomic(
            &self.steps_dir().join(format!("{name}.json")),
            &serde_json::to_vec(&t)?,
        )
    }

    /// Step timings folded by step (`transcode-00003` counts as `transcode`),
    /// in pipeline order.
    pub fn read_steps(&self) -> Vec<StepTiming> {
        let mut folded: Vec<StepTiming> = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.steps_dir()) else {
            return folded;
        };
        for entry in rd.flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let Ok(t) = serde_json::from_slice::<StepTiming>(&bytes) else {
                continue;
            };
            let step = t.step.split('-').next().unwrap_or(&t.step).to_string();
            match folded.iter_mut().find(|f| f.step == step) {
                Some(f) => {
                    f.invocations += t.invocations;
                    f.seconds += t.seconds;
                }
                None => folded.push(StepTiming { step, ..t }),
            }
        }
        let order = |s: &str| match s {
            "split" => 0,
            "audio" => 1,
            "subtitles" => 2,
            "transcode" => 3,
            "merge" => 4,
            _ => 5,
        };
        folded.sort_by_key(|t| order(&t.step));
        folded
    }

    pub fn invocations_dir(&self) -> PathBuf {
        self.path.join("invocations")
    }

    /// Run one invocation's work and record its wall time for the job's
    /// cost, whatever the outcome (a failed attempt is billed too). Nothing
    /// is recorded when the job folder is gone (split removes it when it
    /// fails, after-process when the job ends): recording must not bring
    /// it back. A record that cannot be written costs the manifest a line,
    /// not the job.
    pub async fn metered<T>(
        &self,
        function: Function,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let started = std::time::Instant::now();
        let result = work.await;
        if self.exists() {
            let seconds = started.elapsed().as_secs_f64();
            if let Err(e) = self.record_invocation(function, seconds) {
                tracing::warn!(error = %e, %function, "could not record the invocation");
            }
        }
        result
    }

    /// Each invocation gets a file of its own (`<function>-<n>.json`, the
    /// first free `n`, claimed with create-new), so concurrent tasks and
    /// retries never overwrite one another.
    pub fn record_invocation(&self, function: Function, seconds: f64) -> Result<()> {
        let dir = self.invocations_dir();
        tokio_free::create_dir_all(&dir)?;
        let body = serde_json::to_vec(&Invocation { function, seconds })?;
        for n in 0u32.. {
            let path = dir.join(format!("{function}-{n:05}.json"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return write_atomic(&path, &body),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::internal(format!(
                        "recording an invocation in {}: {e}",
                        dir.display()
                    )));
                }
            }
        }
        Err(Error::internal("no free invocation record name"))
    }

    /// Every recorded invocation; a record being written (empty) or
    /// unreadable is skipped.
    pub fn read_invocations(&self) -> Vec<Invocation> {
        let Ok(rd) = std::fs::read_dir(self.invocations_dir()) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// Remove the whole folder. Missing is fine: cleanup runs on every path.
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::internal(format!(
                "removing {}: {e}",
                self.path.display()
            ))),
        }
    }

    fn id(&self) -> String {
        self.path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Write a file so that readers see the old content or the new, never half:
/// a temporary name in the same folder, fsync, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = temp_sibling(path);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `dir/.name.tmp-<pid>-<n>`: hidden, unique per process and call.
pub fn temp_sibling(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

// Small blocking file operations are fine inside handlers (they run on a
// multi-threaded runtime and these are metadata calls); kept in one place.
mod tokio_free {
    pub fn create_dir_all(p: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_cannot_escape() {
        let root = Path::new("/mnt/auto");
        for bad in ["", "..", "../x", "a/b", "-rf", "a b", &"x".repeat(129)] {
            assert!(JobDir::new(root, bad).is_err(), "{bad:?}");
        }
        let d = JobDir::new(root, "v-a-0123").unwrap();
        assert_eq!(d.path(), Path::new("/mnt/auto/jobs/v-a-0123"));
        assert_eq!(
            d.piece(3),
            Path::new("/mnt/auto/jobs/v-a-0123/pieces/00003.mkv")
        );
    }

    #[test]
    fn source_extension_is_sanitised() {
        let d = JobDir::new(Path::new("/n"), "j").unwrap();
        assert_eq!(d.source("a/b.MP4"), Path::new("/n/jobs/j/source.mp4"));
        assert_eq!(d.source("a.b/c"), Path::new("/n/jobs/j/source"));
        assert_eq!(d.source("x.../../etc"), Path::new("/n/jobs/j/source"));
        assert_eq!(d.source("x.m$p4"), Path::new("/n/jobs/j/source.mp4"));
    }

    #[test]
    fn the_source_goes_once_every_track_is_taken_from_it() {
        let tmp = tempfile::tempdir().unwrap();
        let d = JobDir::new(tmp.path(), "j1").unwrap();
        d.create().unwrap();
        let plan: JobPlan = serde_json::from_value(serde_json::json!({
            "request": {"jobId": "j1", "bucket": "b", "key": "in/a.mkv", "outputBase": "o",
                        "stem": "a", "formats": ["mp4"], "segmentSeconds": 10.0},
            "sourceFile": "source.mkv", "info": {"formatName": "matroska", "durationSeconds": 1.0,
            "sizeBytes": 1, "bitRate": null, "video": null, "audio": null},
            "pieceSeconds": 10.0, "pieces": [], "hasAudio": true,
            "audioTracks": [0, 2], "subtitleTracks": [1]
        }))
        .unwrap();
        assert_eq!(
            d.from_source(&plan),
            [
                d.path().join("audio.m4a"),
                d.path().join("audio-2.m4a"),
                d.path().join("subs-1.vtt")
            ]
        );
        let source = d.source("in/a.mkv");
        std::fs::write(&source, b"x").unwrap();
        // Each task calls it when done; only the last one removes the source.
        for (i, f) in d.from_source(&plan).iter().enumerate() {
            std::fs::write(f, b"x").unwrap();
            let removed = d.release_source(&plan).unwrap();
            assert_eq!(removed, i == 2);
            assert_eq!(source.exists(), i < 2);
        }
        // A task finishing together with the last finds it gone: fine.
        assert!(d.release_source(&plan).unwrap());

        // An uncut piece reads the source too: it stays until the piece is
        // encoded, whatever the audio and subtitles tasks find.
        let mut uncut = plan.clone();
        uncut.cutting = crate::job::Cutting::Uncut;
        uncut.pieces = vec![crate::job::Piece {
            index: 0,
            start_seconds: 0.0,
            duration_seconds: 1.0,
            frames: 25,
            drop_head: 0,
            drop_tail: 0,
        }];
        assert_eq!(d.piece_input(&uncut, 0), source);
        assert_eq!(d.piece_input(&plan, 0), d.piece(0));
        assert_eq!(d.from_source(&uncut).last(), Some(&d.encoded(0)));
        std::fs::write(&source, b"x").unwrap();
        assert!(!d.release_source(&uncut).unwrap());
        assert!(source.exists(), "kept for the piece's encode");
        std::fs::write(d.encoded(0), b"x").unwrap();
        assert!(d.release_source(&uncut).unwrap());
        assert!(!source.exists());
    }

    /// The futures here are ready at once: poll them once, no runtime needed.
    fn now<T>(f: impl std::future::Future<Output = T>) -> T {
        use std::task::{Context, Poll, Waker};
        match std::pin::pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the future was not ready"),
        }
    }

    #[test]
    fn invocations_are_recorded_each_apart_and_only_while_the_job_lives() {
        let tmp = tempfile::tempdir().unwrap();
        let d = JobDir::new(tmp.path(), "j1").unwrap();
        // No job folder: nothing is recorded, and the folder is not made.
        let out = now(d.metered(Function::Split, async { Ok(7) })).unwrap();
        assert_eq!(out, 7);
        assert!(!d.exists());
        d.create().unwrap();
        now(d.metered(Function::Transcode, async { Ok(()) })).unwrap();
        let failed: Result<()> =
            now(d.metered(Function::Transcode, async { Err(Error::internal("boom")) }));
        assert!(failed.is_err(), "the work's error comes back as it was");
        d.record_invocation(Function::Merge, 2.5).unwrap();
        let mut got = d.read_invocations();
        got.sort_by_key(|a| a.function);
        let fs: Vec<Function> = got.iter().map(|i| i.function).collect();
        assert_eq!(
            fs,
            [Function::Transcode, Function::Transcode, Function::Merge],
            "a failed attempt is billed too, and two transcodes do not overwrite each other"
        );
        assert_eq!(got[2].seconds, 2.5);
    }

    #[test]
    fn steps_fold_and_cleanup_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let d = JobDir::new(tmp.path(), "j1").unwrap();
        d.record_step("split", 1.5).unwrap();
        d.record_step("transcode-00000", 2.0).unwrap();
        d.record_step("transcode-00001", 3.0).unwrap();
        d.record_step("merge", 1.0).unwrap();
        d.record_step("audio", 0.5).unwrap();
        assert!(d.record_step("../x", 1.0).is_err());
        let steps = d.read_steps();
        let names: Vec<_> = steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(names, ["split", "audio", "transcode", "merge"]);
        assert_eq!(steps[2].invocations, 2);
        assert!((steps[2].seconds - 5.0).abs() < 1e-9);
        d.remove().unwrap();
        assert!(!d.exists());
        d.remove().unwrap();
    }
}
