"""Sound uploads through `local-runner up` and Alibaba's official `oss2`
client: every sound extension the trigger accepts by default (mp3, m4a, raw
AAC, wav, flac, ogg Vorbis, opus) makes an audio job whose m4a, mp3 and
audio-only HLS hold the source's samples at the loudness target, and whose
manifest lists the video formats it skipped.

Needs the binaries built (`cargo build --workspace --bins`; scripts/test.sh
does it) and ffmpeg.
"""

import json
import re
import subprocess
import time

import pytest

from conftest import bucket_of, start_runner

SECONDS = 7.0
TARGET = -18.0

# name -> ffmpeg codec arguments.
UPLOADS = {
    "podcast.mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "voice.m4a": ["-c:a", "aac", "-b:a", "128k"],
    "raw.aac": ["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
    "master.wav": ["-c:a", "pcm_s16le"],
    "archive.flac": ["-c:a", "flac"],
    "game.ogg": ["-c:a", "libvorbis"],
    "call.opus": ["-c:a", "libopus", "-b:a", "64k"],
}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with start_runner(tmp_path_factory.mktemp("state"),
                      "--var", "formats=mp4,m4a,mp3,hls",
                      "--var", f"loudnessLufs={TARGET}") as info:
        yield info


def measure(path):
    """(samples, integrated LUFS) of the first audio track, by plain ffmpeg."""
    err = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0", "-af",
         "ebur128=framelog=verbose,astats=measure_perchannel=none:measure_overall=Number_of_samples",
         "-f", "null", "-"], check=True, capture_output=True, text=True).stderr
    samples = int(float(re.findall(r"Number of samples: ([0-9.]+)", err)[-1]))
    lufs = float(re.findall(r"I:\s+(-?[0-9.]+) LUFS", err)[-1])
    return samples, lufs


def wait_for(bucket, key, limit=600):
    deadline = time.time() + limit
    while not bucket.object_exists(key):
        assert time.time() < deadline, f"no {key} within {limit} s"
        time.sleep(0.5)


def test_sound_extensions_start_jobs(system):
    for e in ["mp3", "m4a", "aac", "wav", "flac", "ogg", "opus"]:
        assert e in system["inputExtensions"], e


def test_every_sound_upload_becomes_m4a_mp3_and_audio_hls(system, tmp_path):
    bucket = bucket_of(system)
    prefix = system["triggerPrefix"]
    out = system["outputPrefix"].rstrip("/")
    sources = {}
    for name, codec in UPLOADS.items():
        path = tmp_path / name
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"sine=frequency=330:sample_rate=48000:duration={SECONDS},volume=-20dB",
                        *codec, str(path)], check=True)
        sources[name] = measure(path)
        bucket.put_object_from_file(prefix + name, str(path))

    for name, (want, before) in sources.items():
        base = f"{out}/{name}"
        stem = name.rsplit(".", 1)[0]
        wait_for(bucket, base + "/manifest.json")
        manifest = json.loads(bucket.get_object(base + "/manifest.json").read())
        assert manifest["status"] == "succeeded", (name, manifest.get("error"))
        assert [o["format"] for o in manifest["outputs"]] == ["m4a", "mp3", "hls"], name
        assert [s["format"] for s in manifest["skipped"]] == ["mp4"], name
        assert "no video stream" in manifest["skipped"][0]["reason"]
        assert abs(before - TARGET) > 5, (name, before)
        for o in manifest["outputs"]:
            local = tmp_path / "out" / name
            local.mkdir(parents=True, exist_ok=True)
            if o["format"] == "hls":
                # The playlist and its segments, side by side.
                for obj in bucket.list_objects(prefix=base + "/hls/").object_list:
                    bucket.get_object_to_file(obj.key, str(local / obj.key.rsplit("/", 1)[1]))
                path, slack = local / "index.m3u8", 2048
            else:
                path, slack = local / f"{stem}.{o['format']}", 1152
                assert o["key"] == f"{base}/{stem}.{o['format']}"
                bucket.get_object_to_file(o["key"], str(path))
            samples, lufs = measure(path)
            assert abs(samples - want) <= slack, (name, o["format"], samples, want)
            assert abs(lufs - TARGET) <= 1.0, (name, o["format"], lufs)
            assert abs(o["loudnessLufs"] - lufs) < 0.2, (name, o["format"])
