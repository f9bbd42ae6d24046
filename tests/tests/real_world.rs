//! What users really upload, through the local runner: each source is made
//! here with ffmpeg the way a phone, camera, broadcast chain, browser or
//! screen recorder makes it, uploaded to the emulated OSS, and its outputs
//! checked with plain ffprobe/ffmpeg: they play everywhere (8-bit 4:2:0
//! H.264 at High profile or lower, AAC stereo), upright, SDR BT.709,
//! progressive, with the frames promised; the manifest says what was found
//! and what was done.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use local_runner::flow::Status;
use vpf_core::job::{Cutting, Format, JobStatus};
use vpf_media::Tools;
use vpf_media::testmedia::idet;
use vpf_tests::{client, decodes, probe, request_of, system};
use vpf_tests::{fetch, manifest};

/// One kind of upload.
struct Case {
    /// Object name under `source/`.
    name: &'static str,
    /// ffmpeg arguments after `-y`, writing `{out}`.
    make: Vec<String>,
    /// The upright output size.
    size: (u32, u32),
    audio: bool,
    hdr: bool,
    interlaced: bool,
    any_frame: bool,
    /// Degrees a player turns the picture clockwise (a display matrix
    /// written by a stream copy afterwards: ffmpeg 5.1 ignores it when encoding).
    rotation: u32,
}

fn lavfi_video(spec: &str) -> Vec<String> {
    ["-f", "lavfi", "-i", spec].map(String::from).to_vec()
}

fn tone(seconds: f64, layout: &str) -> Vec<String> {
    vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("sine=frequency=440:sample_rate=48000:duration={seconds}"),
        "-af".into(),
        format!("aformat=channel_layouts={layout}"),
    ]
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// 10-bit HEVC with BT.2020 primaries and an HDR transfer, made from an SDR
/// test picture as zimg converts it (what an HDR camera would record).
fn hdr(trc: &str, npl: u32) -> Vec<String> {
    let mut a = lavfi_video("testsrc2=size=640x360:rate=30:duration=2");
    a.extend(tone(2.0, "stereo"));
    a.extend(words(&format!(
        "-vf format=yuv420p,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv,zscale=t=linear,format=gbrpf32le,zscale=p=bt2020:t={trc}:m=bt2020nc:r=tv:npl={npl},format=yuv420p10le \
         -c:v libx265 -x265-params log-level=error -preset ultrafast -tag:v hvc1 \
         -color_primaries bt2020 -color_trc {trc} -colorspace bt2020nc -c:a aac -shortest"
    )));
    a
}

fn cases() -> Vec<Case> {
    let base = |name, make, size| Case {
        name,
        make,
        size,
        audio: true,
        hdr: false,
        interlaced: false,
        any_frame: false,
        rotation: 0,
    };
    let mut out = Vec::new();

    // iPhone: HEVC 10-bit HLG, portrait (a display matrix turning it 90°).
    out.push(Case {
        hdr: true,
        rotation: 90,
        ..base("phone-hlg.mov", hdr("arib-std-b67", 100), (360, 640))
    });
    // A camera's HDR10: HEVC 10-bit PQ.
    out.push(Case {
        hdr: true,
        ..base("camera-pq.mp4", hdr("smpte2084", 203), (640, 360))
    });
    // Broadcast: 1080i25 MPEG-2, top field first, MP2, starting at 10 s.
    let mut ts = lavfi_video("testsrc2=size=1920x1080:rate=50:duration=2");
    ts.extend(tone(2.0, "stereo"));
    ts.extend(words(
        "-vf tinterlace=mode=interleave_top,setfield=tff -c:v mpeg2video -b:v 15M \
         -flags +ilme+ildct -top 1 -c:a mp2 -output_ts_offset 10 -f mpegts",
    ));
    out.push(Case {
        interlaced: true,
        ..base("broadcast-1080i.ts", ts, (1920, 1080))
    });
    // A screen recording: one key frame in a minute.
    let mut screen = lavfi_video("testsrc2=size=320x240:rate=25:duration=60");
    screen.extend(tone(60.0, "stereo"));
    screen.extend(words(
        "-c:v libx264 -preset ultrafast -g 100000 -keyint_min 100000 -sc_threshold 0 -c:a aac",
    ));
    out.push(Case {
        any_frame: true,
        ..base("screen-one-key-frame.mp4", screen, (320, 240))
    });
    // Variable frame rate: frames dropped as a phone under load does.
    let mut vfr = lavfi_video("testsrc2=size=320x240:rate=30:duration=3");
    vfr.extend(tone(3.0, "stereo"));
    vfr.extend(words(
        "-vf select='not(eq(mod(n\\,7)\\,3))' -fps_mode passthrough -c:v libx264 -c:a aac",
    ));
    out.push(base("vfr.mp4", vfr, (320, 240)));
    // Odd size, a 120 fps clip, a half-second clip.
    let mut odd = lavfi_video("testsrc2=size=853x480:rate=25:duration=1,format=yuv444p");
    odd.extend(tone(1.0, "stereo"));
    odd.extend(words("-c:v libx264 -c:a aac"));
    out.push(base("odd-853x480.mp4", odd, (852, 480)));
    let mut fast = lavfi_video("testsrc2=size=320x240:rate=120:duration=1");
    fast.extend(tone(1.0, "stereo"));
    fast.extend(words("-c:v libx264 -c:a aac"));
    out.push(base("slow-motion-120fps.mp4", fast, (320, 240)));
    let mut half = lavfi_video("testsrc2=size=320x240:rate=30:duration=0.5");
    half.extend(tone(0.5, "stereo"));
    half.extend(words("-c:v libx264 -c:a aac"));
    out.push(base("half-second.mp4", half, (320, 240)));
    // Camera MOV: ProRes 422 with PCM audio and a timecode track.
    let mut prores = lavfi_video("testsrc2=size=640x360:rate=25:duration=1");
    prores.extend(tone(1.0, "stereo"));
    prores.extend(words(
        "-c:v prores_ks -profile:v 2 -c:a pcm_s16le -timecode 10:00:00:00",
    ));
    out.push(base("camera-prores.mov", prores, (640, 360)));
    // Browser: VP9 and Opus in WebM.
    let mut webm = lavfi_video("testsrc2=size=320x240:rate=30:duration=1");
    webm.extend(tone(1.0, "stereo"));
    webm.extend(words(
        "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k -c:a libopus",
    ));
    out.push(base("browser.webm", webm, (320, 240)));
    // 5.1 sound, downmixed to stereo for the web.
    let mut surround = lavfi_video("testsrc2=size=320x240:rate=25:duration=1");
    surround.extend(tone(1.0, "5.1"));
    surround.extend(words("-c:v libx264 -c:a aac"));
    out.push(base("surround-5.1.mp4", surround, (320, 240)));
    out
}

/// A music video with its cover art as a second (attached picture) stream.
fn add_cover_art(dir: &Path) -> PathBuf {
    let pic = dir.join("cover.png");
    ffmpeg(&words(&format!(
        "-f lavfi -i color=c=red:s=200x200 -frames:v 1 {}",
        pic.display()
    )));
    let plain = dir.join("plain-music.mp4");
    let mut a = lavfi_video("testsrc2=size=320x240:rate=25:duration=1");
    a.extend(tone(1.0, "stereo"));
    a.extend(words(&format!("-c:v libx264 -c:a aac {}", plain.display())));
    ffmpeg(&a);
    let out = dir.join("music-with-cover.mp4");
    ffmpeg(&words(&format!(
        "-i {} -i {} -map 0 -map 1 -c copy -c:v:1 png -disposition:v:1 attached_pic {}",
        plain.display(),
        pic.display(),
        out.display()
    )));
    out
}

fn ffmpeg(args: &[String]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ffprobe_json(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_world_uploads_come_out_playable_everywhere() {
    let t = Tools::from_env();
    let tmp = tempfile::tempdir().unwrap();
    let mut sources: Vec<(Case, PathBuf)> = Vec::new();
    for case in cases() {
        let path = tmp.path().join(case.name);
        let made = if case.rotation == 0 {
            path.clone()
        } else {
            tmp.path().join(format!("upright-{}", case.name))
        };
        let mut a = case.make.clone();
        a.push(made.to_string_lossy().into_owned());
        ffmpeg(&a);
        if case.rotation != 0 {
            // The tag is counter-clockwise.
            let ccw = (360 - case.rotation) % 360;
            ffmpeg(&words(&format!(
                "-i {} -map 0 -c copy -metadata:s:v:0 rotate={ccw} {}",
                made.display(),
                path.display()
            )));
        }
        sources.push((case, path));
    }
    let cover = add_cover_art(tmp.path());
    sources.push((
        Case {
            name: "music-with-cover.mp4",
            make: Vec::new(),
            size: (320, 240),
            audio: true,
            hdr: false,
            interlaced: false,
            any_frame: false,
            rotation: 0,
        },
        cover,
    ));

    let sys = system(
        &tmp.path().join("state"),
        &[("segmentSeconds", "10"), ("formats", "mp4,hls,sprite")],
        |_| {},
    )
    .await;
    // Every upload at once, as a team's morning batch arrives.
    let mut started = Vec::new();
    for (case, path) in &sources {
        let key = format!("source/{}", case.name);
        let put = client(&sys)
            .put_file(&sys.bucket, &key, path, None)
            .await
            .expect("upload");
        started.push((
            key.clone(),
            vpf_core::keys::job_id(&sys.bucket, &key, &put.etag),
        ));
    }

    let mut problems = Vec::new();
    for ((case, src), (key, execution)) in sources.iter().zip(&started) {
        let rec = sys
            .wait_for_key(key, execution, Duration::from_secs(900))
            .await
            .expect("execution ends");
        let name = case.name;
        if rec.status != Status::Succeeded {
            problems.push(format!("{name}: {:?} {:?}", rec.status, rec.error));
            continue;
        }
        let req = request_of(&rec);
        let m = manifest(&sys, &req.manifest_key(), tmp.path()).await;
        assert_eq!(m.status, JobStatus::Succeeded, "{name}");
        let mp4 = fetch(
            &sys,
            &format!("{}/{}.mp4", req.output_base, req.stem),
            tmp.path(),
        )
        .await;
        decodes(&mp4);

        let out = probe(&mp4);
        let source = probe(src);
        if out.video_frames != source.video_frames {
            problems.push(format!(
                "{name}: {} frames out, {} decoded from the source",
                out.video_frames, source.video_frames
            ));
        }
        if (out.width, out.height) != case.size {
            problems.push(format!(
                "{name}: {}x{}, want {:?}",
                out.width, out.height, case.size
            ));
        }
        let j = ffprobe_json(&mp4);
        let streams = j["streams"].as_array().cloned().unwrap_or_default();
        let video: Vec<_> = streams
            .iter()
            .filter(|s| s["codec_type"] == "video")
            .collect();
        let Some(v) = video.first() else {
            problems.push(format!("{name}: no video"));
            continue;
        };
        if video.len() != 1 {
            problems.push(format!("{name}: {} video streams", video.len()));
        }
        let profile = v["profile"].as_str().unwrap_or("");
        if v["codec_name"] != "h264"
            || v["pix_fmt"] != "yuv420p"
            || !["Constrained Baseline", "Baseline", "Main", "High"].contains(&profile)
        {
            problems.push(format!(
                "{name}: {} {} {profile} is not playable everywhere",
                v["codec_name"], v["pix_fmt"]
            ));
        }
        if v.get("side_data_list").is_some() {
            problems.push(format!("{name}: rotation metadata left"));
        }
        let audio: Vec<_> = streams
            .iter()
            .filter(|s| s["codec_type"] == "audio")
            .collect();
        if case.audio
            && !audio
                .iter()
                .all(|a| a["codec_name"] == "aac" && a["channels"].as_i64() == Some(2))
        {
            problems.push(format!("{name}: audio is not AAC stereo: {audio:?}"));
        }
        if case.audio && audio.is_empty() {
            problems.push(format!("{name}: the audio was lost"));
        }
        if case.audio && (out.audio_seconds - out.video_seconds).abs() > 0.05 {
            problems.push(format!(
                "{name}: audio {:.3} s, video {:.3} s",
                out.audio_seconds, out.video_seconds
            ));
        }

        // The seek previews cover the whole video.
        let vtt = fetch(&sys, &req.output_key(Format::Sprite), tmp.path()).await;
        let vtt = std::fs::read_to_string(vtt).unwrap_or_default();
        let last_end = vtt
            .lines()
            .filter_map(|l| l.split_once(" --> ").map(|(_, end)| end.to_string()))
            .next_back()
            .and_then(|end| {
                let mut secs = 0.0;
                for part in end.trim().split(':') {
                    secs = secs * 60.0 + part.parse::<f64>().ok()?;
                }
                Some(secs)
            });
        if !last_end.is_some_and(|e| (e - out.video_seconds).abs() < 0.1) {
            problems.push(format!(
                "{name}: thumbnails end at {last_end:?}, the video at {:.3} s",
                out.video_seconds
            ));
        }

        let said = m.conversions.join(" | ");
        if case.hdr {
            for key in ["color_primaries", "color_transfer", "color_space"] {
                if v[key] != "bt709" {
                    problems.push(format!("{name}: {key} is {}", v[key]));
                }
            }
            let found = m
                .probe
                .as_ref()
                .and_then(|p| p.video.as_ref())
                .and_then(|v| v.colour.hdr());
            if found.is_none() || !said.contains("tone-mapped") {
                problems.push(format!("{name}: the manifest does not say HDR ({said})"));
            }
        } else if said.contains("tone-mapped") {
            problems.push(format!("{name}: tone-mapped an SDR source"));
        }
        if case.interlaced {
            let (combed, progressive) = idet(&t, &mp4).await.unwrap();
            if combed * 20 >= progressive {
                problems.push(format!(
                    "{name}: still interlaced (idet {combed} interlaced, {progressive} progressive)"
                ));
            }
            if !said.contains("deinterlaced") {
                problems.push(format!("{name}: the manifest does not say deinterlaced"));
            }
        }
        // The others last less than one 10 s piece: not cut, the source
        // read in place.
        let cutting = if case.any_frame {
            Cutting::AnyFrame
        } else {
            Cutting::Uncut
        };
        if m.cutting != Some(cutting) {
            problems.push(format!("{name}: cut {:?}, want {cutting:?}", m.cutting));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
