//! Audio jobs through the media steps the handlers run (split's plan, the
//! audio task, merge): every sound container, rate and channel conversion,
//! loudness normalisation and denoising, and m4a/mp3 of a video job. The
//! outputs are judged by plain ffmpeg/ffprobe runs, not by our own code.

mod common;

use std::path::Path;
use std::process::Command;

use common::{pipeline, tools};
use vpf_core::job::{Format, Profile};
use vpf_media::testmedia::{Clip, Sound};

/// What plain ffmpeg prints for `filters` applied to `path`'s first audio
/// track: the value after `key` on the last line that has it.
fn ffmpeg_value(path: &Path, filters: &str, key: &str) -> f64 {
    let out = Command::new(tools().ffmpeg)
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-af", filters, "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .rfind(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no {key} for {}: {log}", path.display()));
    let value = line.split_once(key).unwrap().1.trim();
    value
        .trim_end_matches("LUFS")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"))
}

fn samples(path: &Path) -> u64 {
    ffmpeg_value(
        path,
        "astats=measure_perchannel=none:measure_overall=Number_of_samples",
        "Number of samples:",
    ) as u64
}

fn lufs(path: &Path) -> f64 {
    ffmpeg_value(path, "ebur128=framelog=verbose", "I:")
}

/// RMS level (dBFS) after `band` (a filter that keeps part of the spectrum).
fn rms_db(path: &Path, band: &str) -> f64 {
    ffmpeg_value(
        path,
        &format!("{band},astats=measure_perchannel=none:measure_overall=RMS_level"),
        "RMS level dB:",
    )
}

fn stream(path: &Path, entry: &str) -> String {
    common::ffprobe(
        &[
            "-select_streams",
            "a:0",
            "-show_entries",
            &format!("stream={entry}"),
            "-of",
            "csv=p=0",
        ],
        path,
    )
    .trim()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sound_container_gives_m4a_mp3_and_audio_only_hls() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    for ext in ["mp3", "m4a", "aac", "wav", "flac", "ogg", "opus"] {
        let src = dir.path().join(format!("in.{ext}"));
        Sound::new(7.3).rate(44100).write(&t, &src).await.unwrap();
        let formats = [
            Format::M4a,
            Format::Mp3,
            Format::Hls,
            Format::Mp4,
            Format::Jpg,
        ];
        let job = pipeline(&t, &src, &formats, 30.0, Profile::default())
            .await
            .unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert!(
            job.plan.pieces.is_empty(),
            "{ext}: an audio job has no pieces"
        );
        let made: Vec<Format> = job.outputs.iter().map(|p| p.format).collect();
        assert_eq!(made, [Format::M4a, Format::Mp3, Format::Hls], "{ext}");
        let skipped = job.plan.skipped();
        assert_eq!(
            skipped.iter().map(|s| s.format).collect::<Vec<_>>(),
            [Format::Mp4, Format::Jpg],
            "{ext}"
        );
        assert!(
            skipped[0].reason.contains("no video"),
            "{}",
            skipped[0].reason
        );

        // What the source plays, counted by plain ffmpeg (a raw AAC stream
        // plays its encoder's priming too: that is what its players hear).
        let want = samples(&src);
        let m4a = job.main(Format::M4a);
        let mp3 = job.main(Format::Mp3);
        assert_eq!(stream(&m4a, "codec_name"), "aac", "{ext}");
        assert_eq!(stream(&mp3, "codec_name"), "mp3", "{ext}");
        let rate = if ext == "opus" { "48000" } else { "44100" };
        assert_eq!(stream(&m4a, "sample_rate"), rate, "{ext}");
        for (out, frame) in [(&m4a, 1024), (&mp3, 1152)] {
            let got = samples(out);
            assert!(
                got.abs_diff(want) <= frame,
                "{ext}: {} has {got} samples, the source {want}",
                out.display()
            );
        }
        let hls = job.main(Format::Hls);
        let playlist = std::fs::read_to_string(&hls).unwrap();
        assert_eq!(playlist.matches("#EXTINF").count(), 2, "{ext}: {playlist}");
        assert!(samples(&hls).abs_diff(want) <= 2048, "{ext}: HLS length");
        assert!(
            common::ffprobe(
                &["-show_entries", "stream=codec_type", "-of", "csv=p=0"],
                &hls
            )
            .lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.trim() == "audio"),
            "{ext}: the HLS holds sound alone"
        );
        for p in &job.outputs {
            let l = p
                .loudness_lufs
                .unwrap_or_else(|| panic!("{ext}: {} loudness", p.format));
            assert!((l - lufs(&p.main().unwrap().path)).abs() < 0.2, "{ext}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_rate_and_channels_are_converted() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.wav");
    Sound::new(3.0)
        .rate(44100)
        .channels(2)
        .write(&t, &src)
        .await
        .unwrap();
    let profile = Profile {
        sample_rate: Some(22050),
        channels: Some(1),
        ..Profile::default()
    };
    let job = pipeline(&t, &src, &[Format::M4a, Format::Mp3], 30.0, profile)
        .await
        .unwrap();
    for f in [Format::M4a, Format::Mp3] {
        let out = job.main(f);
        assert_eq!(stream(&out, "sample_rate"), "22050", "{f}");
        assert_eq!(stream(&out, "channels"), "1", "{f}");
        // Three seconds at the new rate.
        assert!(
            samples(&out).abs_diff(66150) <= 1152,
            "{f}: {}",
            samples(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loudness_reaches_the_target_from_a_quiet_and_a_loud_source() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    for (name, tone_db) in [("quiet", -45.0), ("loud", -2.0)] {
        let src = dir.path().join(format!("{name}.flac"));
        Sound::new(8.0)
            .tone_db(tone_db)
            .write(&t, &src)
            .await
            .unwrap();
        let before = lufs(&src);
        let profile = Profile {
            loudness_lufs: Some(-16.0),
            ..Profile::default()
        };
        let job = pipeline(
            &t,
            &src,
            &[Format::M4a, Format::Mp3, Format::Hls],
            30.0,
            profile,
        )
        .await
        .unwrap();
        assert!(
            (before + 16.0).abs() > 10.0,
            "{name}: the source is far from the target"
        );
        for p in &job.outputs {
            let got = lufs(&p.main().unwrap().path);
            assert!(
                (got + 16.0).abs() <= 1.0,
                "{name} {}: {got} LUFS (source {before})",
                p.format
            );
            assert!((p.loudness_lufs.unwrap() - got).abs() < 0.2);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denoising_lowers_the_noise_and_keeps_the_tone() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("noisy.wav");
    Sound::new(6.0)
        .channels(1)
        .noise(0.01)
        .write(&t, &src)
        .await
        .unwrap();
    let mut outs = Vec::new();
    for denoise in [false, true] {
        let profile = Profile {
            denoise,
            audio_kbps: 256,
            ..Profile::default()
        };
        let job = pipeline(&t, &src, &[Format::M4a], 30.0, profile)
            .await
            .unwrap();
        let out = dir.path().join(format!("out-{denoise}.m4a"));
        std::fs::copy(job.main(Format::M4a), &out).unwrap();
        outs.push(out);
    }
    // Noise: what lies far above the 440 Hz tone. Tone: a narrow band on it.
    let noise = |p: &Path| rms_db(p, "highpass=f=3000,highpass=f=3000");
    let tone = |p: &Path| rms_db(p, "bandpass=f=440:width_type=q:w=20");
    let (plain, clean) = (&outs[0], &outs[1]);
    assert!(
        noise(clean) <= noise(plain) - 6.0,
        "noise {} dB denoised, {} dB not",
        noise(clean),
        noise(plain)
    );
    assert!((tone(clean) - tone(plain)).abs() <= 1.0, "the tone is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_job_gives_its_sound_as_m4a_and_mp3_too() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.mp4");
    Clip::new(320, 240)
        .seconds(4.0)
        .write(&t, &src)
        .await
        .unwrap();
    let job = pipeline(
        &t,
        &src,
        &[Format::Mp4, Format::M4a, Format::Mp3],
        2.0,
        Profile::default(),
    )
    .await
    .unwrap();
    assert!(job.plan.pieces.len() > 1);
    assert!(job.plan.skipped().is_empty());
    let mp4 = job.main(Format::Mp4);
    let want = samples(&mp4);
    for (f, frame) in [(Format::M4a, 1024), (Format::Mp3, 1152)] {
        let out = job.main(f);
        assert!(
            common::ffprobe(
                &["-show_entries", "stream=codec_type", "-of", "csv=p=0"],
                &out
            )
            .lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.trim() == "audio"),
            "{f}: sound alone"
        );
        assert!(
            samples(&out).abs_diff(want) <= frame,
            "{f}: as long as the MP4's sound"
        );
    }
}
