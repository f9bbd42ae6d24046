//! The adaptive-bitrate ladder through the whole media path, on real
//! ffmpeg: every rendition checked with plain ffprobe (frames, key-frame
//! instants, sizes), the playlists and manifest against the bytes.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use vpf_core::job::{Format, Profile};
use vpf_media::MasterPlaylist;
use vpf_media::testmedia::Clip;

/// A rendition's segments in order, as one file ffprobe can read
/// (`concat:` of the initialization segment and every media segment).
fn rendition_url(dir: &Path) -> PathBuf {
    let playlist = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let mut parts = vec![dir.join("init.mp4").display().to_string()];
    parts.extend(
        playlist
            .lines()
            .filter(|l| l.ends_with(".m4s"))
            .map(|l| dir.join(l).display().to_string()),
    );
    PathBuf::from(format!("concat:{}", parts.join("|")))
}

/// (pts, key) of every video packet, in decode order.
fn video_packets(url: &Path) -> Vec<(f64, bool)> {
    ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
        ],
        url,
    )
    .lines()
    .filter_map(|l| {
        let (pts, flags) = l.split_once(',')?;
        Some((pts.parse().ok()?, flags.starts_with('K')))
    })
    .collect()
}

/// Segment start times of a media playlist, from its EXTINF lengths.
fn segment_starts(playlist: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(playlist).unwrap();
    let mut at = 0.0;
    let mut out = Vec::new();
    for l in text.lines() {
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            out.push(at);
            at += d.trim_end_matches(',').parse::<f64>().unwrap();
        }
    }
    out
}

#[tokio::test]
async fn a_ladder_of_aligned_renditions_with_honest_rates() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("clip.mp4");
    // 540p: rungs 540p, 360p and 234p of the default ladder; sparse source
    // key frames (every 5 s) so the pieces do not start on the 2 s grid.
    Clip::new(960, 540)
        .seconds(9.0)
        .gop(150)
        .write(&t, &src)
        .await
        .unwrap();
    let job = pipeline(
        &t,
        &src,
        &[Format::Mp4, Format::Abr],
        4.0,
        Profile::default(),
    )
    .await
    .unwrap();
    let names: Vec<&str> = job
        .plan
        .renditions
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["540p", "360p", "234p"]);
    let frames = job.plan.info.video.as_ref().unwrap().frames;

    let master_path = job.main(Format::Abr);
    let abr = master_path.parent().unwrap().to_path_buf();
    let master = MasterPlaylist::parse(&std::fs::read_to_string(&master_path).unwrap()).unwrap();
    assert_eq!(master.variants.len(), 3);
    assert_eq!(master.media.len(), 1, "one audio rendition");
    let mut starts: Option<Vec<f64>> = None;
    for (v, r) in master.variants.iter().zip(&job.plan.renditions) {
        assert_eq!(v.resolution, Some((r.width, r.height)));
        assert!(v.codecs.as_deref().unwrap().starts_with("avc1."));
        assert!(v.codecs.as_deref().unwrap().ends_with(",mp4a.40.2"));
        assert_eq!(v.audio.as_deref(), Some("audio"));
        let folder = abr.join(&r.name);
        let url = rendition_url(&folder);
        // ffprobe reads every frame of the source in each rendition, at its size.
        let packets = video_packets(&url);
        assert_eq!(packets.len() as u64, frames, "{}", r.name);
        let size = ffprobe(
            &[
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=width,height",
                "-of",
                "csv=p=0",
            ],
            &url,
        );
        assert_eq!(size.trim(), format!("{},{}", r.width, r.height));
        // Every segment starts with a key frame, at the same instant in
        // every rendition.
        let seg = segment_starts(&folder.join("index.m3u8"));
        let mut keys: Vec<f64> = packets.iter().filter(|p| p.1).map(|p| p.0).collect();
        keys.sort_by(f64::total_cmp);
        let first = keys[0];
        for s in &seg {
            assert!(
                keys.iter().any(|k| (k - first - s).abs() < 0.02),
                "{}: no key frame at segment start {s} (keys {keys:?})",
                r.name
            );
        }
        match &starts {
            None => starts = Some(seg),
            Some(s0) => {
                assert_eq!(s0.len(), seg.len(), "{}", r.name);
                for (a, b) in s0.iter().zip(&seg) {
                    assert!((a - b).abs() < 0.001, "{}: {a} vs {b}", r.name);
                }
            }
        }
        // BANDWIDTH is the peak: no segment's rate above it (video and
        // the audio together), and within 10% of the highest.
        let text = std::fs::read_to_string(folder.join("index.m3u8")).unwrap();
        let mut peak = 0.0f64;
        let mut d = 0.0;
        for l in text.lines() {
            if let Some(x) = l.strip_prefix("#EXTINF:") {
                d = x.trim_end_matches(',').parse().unwrap();
            } else if l.ends_with(".m4s") {
                let bytes = std::fs::metadata(folder.join(l)).unwrap().len();
                peak = peak.max(bytes as f64 * 8.0 / d);
            }
        }
        assert!(
            peak <= v.bandwidth as f64,
            "{}: {peak} > {}",
            r.name,
            v.bandwidth
        );
        assert!(
            peak >= v.bandwidth as f64 * 0.9 - 200_000.0,
            "{}: {peak} vs {}",
            r.name,
            v.bandwidth
        );
        assert!(v.average_bandwidth.unwrap() <= v.bandwidth);
        eprintln!(
            "{}: BANDWIDTH {} AVERAGE {} cap {} kbit/s",
            r.name,
            v.bandwidth,
            v.average_bandwidth.unwrap(),
            r.kbps
        );
    }
    // The MP4 is the top rendition.
    let mp4 = json(&job.main(Format::Mp4));
    let v = stream(&mp4, "video").unwrap();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(960), Some(540))
    );
    // The manifest names every rendition and the audio.
    let mpd = std::fs::read_to_string(abr.join("manifest.mpd")).unwrap();
    for r in &job.plan.renditions {
        assert!(
            mpd.contains(&format!("<Representation id=\"{}\"", r.name)),
            "{mpd}"
        );
    }
    assert!(mpd.contains("contentType=\"audio\""));
    if let Some(keep) = std::env::var_os("VPF_KEEP_ABR") {
        let _ = std::process::Command::new("cp")
            .arg("-r")
            .arg(&abr)
            .arg(keep)
            .status();
    }
}
