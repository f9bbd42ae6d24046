//! A film with dubs and subtitles through the local runner: upload,
//! trigger, workflow, real handler processes, real ffmpeg. The manifest
//! says what became of every track; the outputs carry them.

use std::path::Path;

use local_runner::flow::Status;
use vpf_core::job::{Format, JobStatus, Manifest};
use vpf_core::tracks::TrackKind;
use vpf_media::testmedia::{SubFormat, Subs, Tone, TrackClip};
use vpf_media::{MasterPlaylist, Tools};
use vpf_tests::{all_keys, client, decodes, nas_jobs, request_of, system, upload_and_wait};

/// ffprobe's codec type and language of every stream of `path`.
fn streams(path: &Path) -> Vec<(String, String)> {
    let out = std::process::Command::new(Tools::from_env().ffprobe)
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type:stream_tags=language",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (kind, lang) = l.split_once(',').unwrap_or((l, ""));
            (kind.to_string(), lang.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubs_and_subtitles_reach_the_outputs_and_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("film.mkv");
    TrackClip::new(4.0)
        .tone(Tone::new("eng", 440).default_track())
        .tone(Tone::new("fra", 880))
        .subs(Subs::new(SubFormat::Srt, "eng", &[(0.5, 1.5, "Hello")]))
        .subs(Subs::new(SubFormat::Ass, "fre", &[(1.0, 2.0, "Bonjour")]))
        .subs(Subs::new(SubFormat::Pgs, "jpn", &[(1.0, 2.0, "")]))
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let sys = system(
        &tmp.path().join("state"),
        &[("segmentSeconds", "2"), ("formats", "mp4,flv,hls")],
        |_| {},
    )
    .await;
    let rec = upload_and_wait(&sys, &src, "source/film.mkv").await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    let req = request_of(&rec);

    // The manifest: two audio tracks and two text subtitle tracks kept,
    // the bitmap track dropped with its reason.
    let path = tmp.path().join("manifest.json");
    client(&sys)
        .get_to_file(&sys.bucket, &req.manifest_key(), &path)
        .await
        .unwrap();
    let m: Manifest = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(m.status, JobStatus::Succeeded);
    let probe = m.probe.as_ref().unwrap();
    assert_eq!(probe.audio_tracks.len(), 2);
    assert_eq!(probe.subtitle_tracks.len(), 3);
    let kinds: Vec<(TrackKind, usize, bool)> = m
        .tracks
        .iter()
        .map(|t| (t.kind, t.kept_in.len(), t.dropped.is_some()))
        .collect();
    assert_eq!(
        kinds,
        [
            // English: mp4, flv (the default), hls; French: mp4, hls.
            (TrackKind::Audio, 3, false),
            (TrackKind::Audio, 2, false),
            (TrackKind::Subtitle, 2, false),
            (TrackKind::Subtitle, 2, false),
            (TrackKind::Subtitle, 0, true),
        ]
    );
    assert_eq!(m.tracks[1].left_out[0].format, Format::Flv);
    assert!(
        m.tracks[4]
            .dropped
            .as_deref()
            .unwrap()
            .contains("hdmv_pgs_subtitle")
    );
    let steps: Vec<_> = m
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.invocations))
        .collect();
    assert_eq!(
        steps,
        [
            ("split", 1),
            ("audio", 2),
            ("subtitles", 1),
            ("transcode", 2),
            ("merge", 1)
        ]
    );

    // The MP4 carries every kept track with its language; the FLV one audio track.
    let mp4 = tmp.path().join("film.mp4");
    client(&sys)
        .get_to_file(&sys.bucket, &req.output_key(Format::Mp4), &mp4)
        .await
        .unwrap();
    let s = streams(&mp4);
    let of = |kind: &str| -> Vec<&str> {
        s.iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, l)| l.as_str())
            .collect()
    };
    assert_eq!(of("audio"), ["eng", "fra"]);
    assert_eq!(of("subtitle"), ["eng", "fre"]);
    decodes(&mp4);
    let flv = tmp.path().join("film.flv");
    client(&sys)
        .get_to_file(&sys.bucket, &req.output_key(Format::Flv), &flv)
        .await
        .unwrap();
    assert_eq!(
        streams(&flv).iter().filter(|(k, _)| k == "audio").count(),
        1
    );

    // HLS, as a player finds it in OSS: a master naming every rendition,
    // each of them there.
    let dir = tmp.path().join("hls");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = format!("{}/hls/", req.output_base);
    for k in all_keys(&sys)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
    {
        let name = k.rsplit('/').next().unwrap().to_string();
        client(&sys)
            .get_to_file(&sys.bucket, &k, &dir.join(name))
            .await
            .unwrap();
    }
    let master =
        MasterPlaylist::parse(&std::fs::read_to_string(dir.join("index.m3u8")).unwrap()).unwrap();
    let langs: Vec<(&str, Option<&str>)> = master
        .media
        .iter()
        .map(|x| (x.kind.as_str(), x.language.as_deref()))
        .collect();
    assert_eq!(
        langs,
        [
            ("AUDIO", Some("en")),
            ("AUDIO", Some("fr")),
            ("SUBTITLES", Some("en")),
            ("SUBTITLES", Some("fr"))
        ]
    );
    for uri in master
        .media
        .iter()
        .map(|x| &x.uri)
        .chain(master.variants.iter().map(|v| &v.uri))
    {
        assert!(dir.join(uri).is_file(), "{uri} was not uploaded");
    }
    decodes(&dir.join("index.m3u8"));
    assert!(nas_jobs(&sys).is_empty(), "the job folder is removed");
}
