"""The simple system (s.simple.yaml: one function, no workflow, no NAS) driven
by Alibaba's official `oss2` client, as a user would: `local-runner --s-yaml
s.simple.yaml up --json`, a V4-signed upload under the trigger prefix, then
the outputs and the manifest read back.

Needs the binaries built (`cargo build --workspace --bins`, scripts/test.sh
does it) and ffmpeg.
"""

import json
import subprocess
import time

import pytest

from conftest import REPO, bucket_of, frames, start_runner


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    with start_runner(state, "--s-yaml", str(REPO / "s.simple.yaml")) as info:
        yield info


def wait_for_manifest(bucket, key, seconds=300):
    deadline = time.time() + seconds
    while not bucket.object_exists(key):
        assert time.time() < deadline, f"no {key} within {seconds} s"
        time.sleep(0.5)
    return json.loads(bucket.get_object(key).read())


def test_up_json_has_no_workflow(system):
    assert system["flowName"] is None
    assert system["workflowEndpoint"] is None
    assert system["triggerPrefix"] == "source/"
    assert system["outputPrefix"] == "dest/"


def test_an_oss2_upload_is_transcoded_by_the_one_function(system, tmp_path):
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "aac", "-shortest",
         str(clip)],
        check=True)
    bucket = bucket_of(system)
    key = system["triggerPrefix"] + "clip.mp4"
    bucket.put_object_from_file(key, str(clip))
    manifest = wait_for_manifest(bucket, "dest/clip.mp4/manifest.json")
    assert manifest["status"] == "succeeded", manifest.get("error")
    assert manifest["source"]["key"] == key
    assert abs(manifest["probe"]["durationSeconds"] - 4.0) < 0.1
    # s.simple.yaml's formats, under the workflow's keys.
    assert [(o["format"], o["key"]) for o in manifest["outputs"]] == [
        ("mp4", "dest/clip.mp4/clip.mp4"),
        ("gif", "dest/clip.mp4/clip.gif"),
        ("jpg", "dest/clip.mp4/clip.jpg"),
    ]
    # One piece: the whole file in one transcode.
    transcode = next(s for s in manifest["steps"] if s["step"] == "transcode")
    assert transcode["invocations"] == 1
    local = tmp_path / "out.mp4"
    bucket.get_object_to_file("dest/clip.mp4/clip.mp4", str(local))
    assert frames(local) == frames(clip) == 100
    assert bucket.get_object("dest/clip.mp4/clip.gif").read(6) == b"GIF89a"
    assert bucket.get_object("dest/clip.mp4/clip.jpg").read(3) == b"\xff\xd8\xff"


def test_an_upload_that_is_not_a_video_starts_nothing(system, tmp_path):
    bucket = bucket_of(system)
    bucket.put_object(system["triggerPrefix"] + "readme.txt", b"not a video")
    # The video uploaded after it is processed; the text file never is.
    clip = tmp_path / "after.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
         "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)
    bucket.put_object_from_file(system["triggerPrefix"] + "after.mp4", str(clip))
    wait_for_manifest(bucket, "dest/after.mp4/manifest.json")
    assert not bucket.object_exists("dest/readme.txt/manifest.json")
