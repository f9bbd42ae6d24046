"""What media teams really upload, through `local-runner up` and Alibaba's
official `oss2` client: every video extension the trigger accepts by default
(camera MOV/ProRes, browser WebM, broadcast MPEG-2 TS, AVI, FLV, MKV, M4V) and
upper-case extensions from phones and cameras. Each upload must produce
faithful outputs (every frame, the audio, the duration), two uploads that
differ only in extension must never share outputs, and an upload that is not
a video must start no job.

Needs the binaries built (`cargo build --workspace --bins`; scripts/test.sh
does it) and ffmpeg.
"""

import json
import subprocess
import time

import oss2
import pytest

from conftest import bucket_of, start_runner


LAVFI = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]

# name -> (seconds, ffmpeg codec arguments): one file per kind of source.
UPLOADS = {
    "phone.mp4": (2.0, ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
    "PHONE.MP4": (2.4, ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
    "camera.mov": (2.0, ["-c:v", "prores_ks", "-profile:v", "0", "-c:a", "pcm_s16le"]),
    "CAMERA.MOV": (2.2, ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
    "screen.mkv": (2.0, ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus"]),
    "browser.webm": (2.0, ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                           "-b:v", "500k", "-c:a", "libopus"]),
    "broadcast.ts": (2.0, ["-c:v", "mpeg2video", "-b:v", "2M", "-c:a", "mp2"]),
    "itunes.m4v": (2.0, ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
    "old.avi": (2.0, ["-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame"]),
    "stream.flv": (2.0, ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
    # Same name, other extension and content: outputs must stay apart.
    "twin.mp4": (1.2, ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
    "twin.mov": (2.8, ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    # --var overrides s.yaml vars from the command line: mp4 only keeps the
    # run short; every extension goes through the same split and encode.
    with start_runner(tmp_path_factory.mktemp("state"),
                      "--var", "formats=mp4", "--var", "segmentSeconds=1") as info:
        yield info


def probe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_type,codec_name,nb_read_frames:format=duration", "-of", "json", str(path)],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def video_frames(p):
    return int(next(s for s in p["streams"] if s["codec_type"] == "video")["nb_read_frames"])


def has_audio(p):
    return any(s["codec_type"] == "audio" for s in p["streams"])


def make(path, seconds, codec):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *LAVFI, "-t", str(seconds), *codec,
                    "-shortest", str(path)], check=True)


def wait_for(bucket, key, limit=600):
    deadline = time.time() + limit
    while not bucket.object_exists(key):
        assert time.time() < deadline, f"no {key} within {limit} s"
        time.sleep(0.5)


def test_up_json_says_which_uploads_start_a_job(system):
    exts = system["inputExtensions"]
    for e in ["mp4", "mov", "mkv", "webm", "ts", "m4v", "avi", "flv"]:
        assert e in exts, (e, exts)
    # One trigger for every extension: its suffix is empty.
    assert system["triggerSuffix"] == ""


def test_every_kind_of_upload_is_processed_faithfully(system, tmp_path):
    bucket = bucket_of(system)
    prefix = system["triggerPrefix"]
    out = system["outputPrefix"].rstrip("/")
    # Not a video: under the trigger prefix, so the trigger fires, and
    # oss-trigger skips it; uploaded first, so it has long been handled
    # when the videos are done.
    bucket.put_object(prefix + "notes.txt", b"not a video")
    sources = {}
    for name, (seconds, codec) in UPLOADS.items():
        path = tmp_path / name
        make(path, seconds, codec)
        sources[name] = probe(path)
        bucket.put_object_from_file(prefix + name, str(path))

    for name, src in sources.items():
        base = f"{out}/{name}"
        wait_for(bucket, base + "/manifest.json")
        manifest = json.loads(bucket.get_object(base + "/manifest.json").read())
        assert manifest["status"] == "succeeded", (name, manifest.get("error"))
        assert manifest["source"]["key"] == prefix + name
        mp4 = next(o for o in manifest["outputs"] if o["format"] == "mp4")
        stem = name.rsplit(".", 1)[0]
        assert mp4["key"] == f"{base}/{stem}.mp4"
        local = tmp_path / "out" / name / f"{stem}.mp4"
        local.parent.mkdir(parents=True)
        bucket.get_object_to_file(mp4["key"], str(local))
        got = probe(local)
        assert video_frames(got) == video_frames(src), name
        assert has_audio(got), name
        assert abs(float(got["format"]["duration"]) - float(src["format"]["duration"])) < 0.1, name
        assert [s["codec_name"] for s in got["streams"]] == ["h264", "aac"], name

    # Same stem, other extension: separate outputs, each from its own source.
    twins = {n: video_frames(sources[n]) for n in ["twin.mp4", "twin.mov"]}
    assert twins["twin.mp4"] != twins["twin.mov"]
    for n, f in twins.items():
        local = tmp_path / "out" / n / "twin.mp4"
        assert video_frames(probe(local)) == f

    keys = [o.key for o in oss2.ObjectIterator(bucket, prefix=out + "/")]
    assert not [k for k in keys if "notes" in k], keys
    assert {k.split("/")[1] for k in keys} == set(UPLOADS), keys
