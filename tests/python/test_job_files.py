"""Per-video settings by a job file, through the whole system with Alibaba's
official `oss2` client: a video uploaded, then a `.json` naming it with
other formats and a crf; the same job file again; job files with mistakes.
And the published schema (schemas/job-file.schema.json) read by PyPI's
`jsonschema`, which must judge every example file as our parser does
(crates/vpf-core/tests/job_file_schema.rs runs the parser on the same files).

Needs the binaries built (`cargo build --workspace --bins`) and ffmpeg.
"""

import json
import pathlib
import subprocess
import time

import jsonschema
import pytest
from alibabacloud_fnf20190315 import models as fnf_models
from alibabacloud_fnf20190315.client import Client as FnfClient
from alibabacloud_tea_openapi import models as open_api_models

from conftest import REPO, bucket_of, start_runner

SCHEMAS = REPO / "schemas"


def examples(kind):
    return sorted((SCHEMAS / "examples" / kind).glob("*.json"))


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((SCHEMAS / "job-file.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", examples("valid"), ids=lambda p: p.name)
def test_the_schema_accepts_each_valid_example(validator, path):
    validator.validate(json.loads(path.read_text()))


@pytest.mark.parametrize("path", examples("invalid"), ids=lambda p: p.name)
def test_the_schema_refuses_each_invalid_example(validator, path):
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(json.loads(path.read_text()))


def test_the_readme_example_is_valid(validator):
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Per-video settings (job files)", 1)[1]
    example = section.split("```json\n", 1)[1].split("```", 1)[0]
    validator.validate(json.loads(example))


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    with start_runner(state) as info:
        yield info


def wait_for(what, check, limit=300):
    deadline = time.time() + limit
    while True:
        got = check()
        if got is not None:
            return got
        assert time.time() < deadline, f"no {what} within {limit} s"
        time.sleep(0.5)


def read_json(bucket, key):
    import oss2

    try:
        return json.loads(bucket.get_object(key).read())
    except oss2.exceptions.NoSuchKey:
        return None


def executions(info):
    host = info["workflowEndpoint"].removeprefix("http://")
    client = FnfClient(open_api_models.Config(
        access_key_id=info["accessKeyId"], access_key_secret=info["accessKeySecret"],
        endpoint=host, protocol="http", region_id=info["region"]))
    r = client.list_executions(fnf_models.ListExecutionsRequest(flow_name=info["flowName"]))
    return sorted(x.name for x in r.body.executions)


def receipt_of(info, bucket, job_file, outcome):
    """The receipt oss-trigger writes for `job_file`, once it says `outcome`."""
    key = info["outputPrefix"].rstrip("/") + "/" + job_file.removeprefix(info["triggerPrefix"]) \
        + "/receipt.json"

    def check():
        r = read_json(bucket, key)
        return r if r and r["outcome"] == outcome else None
    return wait_for(f"{outcome} receipt {key}", check, limit=120)


def test_a_job_file_runs_its_video_again_with_its_settings_once(system, tmp_path):
    info = system
    bucket = bucket_of(info)
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "aac", "-shortest",
         str(clip)], check=True)
    video = info["triggerPrefix"] + "clip.mp4"
    manifest_key = info["outputPrefix"].rstrip("/") + "/clip.mp4/manifest.json"

    # The video alone: the defaults of s.yaml.
    bucket.put_object_from_file(video, str(clip))
    first = wait_for("first manifest", lambda: read_json(bucket, manifest_key))
    assert first["status"] == "succeeded", first.get("error")
    assert sorted(o["format"] for o in first["outputs"]) == ["flv", "hls", "mp4"]
    assert first["settings"]["formats"] == {"value": ["mp4", "flv", "hls"], "source": "s.yaml/env"}
    assert first["settings"]["crf"]["value"] == 23
    assert all(not s["source"].startswith("job file") for s in first["settings"].values())

    # The job file: the same video, two formats and another crf.
    job_file = info["triggerPrefix"] + "jobs/clip-small.json"
    body = json.dumps({"source": video, "formats": ["mp4", "gif"], "crf": 30})
    bucket.put_object(job_file, body)
    receipt = receipt_of(info, bucket, job_file, "started")
    assert receipt["manifestKey"] == manifest_key
    second = wait_for("the job file's manifest", lambda: (
        m if (m := read_json(bucket, manifest_key)) and m["jobId"] == receipt["execution"]
        else None))
    assert second["status"] == "succeeded", second.get("error")
    assert second["jobId"] != first["jobId"]
    assert second["source"]["key"] == video
    assert sorted(o["format"] for o in second["outputs"]) == ["gif", "mp4"]
    settings = second["settings"]
    from_file = "job file " + job_file
    assert settings["formats"] == {"value": ["mp4", "gif"], "source": from_file}
    assert settings["crf"] == {"value": 30, "source": from_file}
    assert settings["preset"] == {"value": "veryfast", "source": "s.yaml/env"}
    assert settings["webhookUrl"]["source"] != from_file
    # The encode really took the crf: x264 writes its options into the stream.
    mp4 = next(o for o in second["outputs"] if o["format"] == "mp4")
    assert b"crf=30.0" in bucket.get_object(mp4["key"]).read()
    assert bucket.object_exists(next(o["key"] for o in second["outputs"] if o["format"] == "gif"))

    # The same job file again: no new execution.
    before = executions(info)
    assert receipt["execution"] in before and first["jobId"] in before
    bucket.put_object(job_file, body)
    again = receipt_of(info, bucket, job_file, "duplicate")
    assert again["execution"] == receipt["execution"]
    assert executions(info) == before

    # Job files with mistakes: rejected, each with its reason; nothing started.
    bad = {
        "unknown-field.json": ({"source": video, "colour": "red"}, "unknown field `colour`"),
        "wrong-type.json": ({"source": video, "crf": "30"}, "field crf: invalid type: string"),
        "missing-video.json": ({"source": info["triggerPrefix"] + "nowhere.mp4"},
                               "upload the video first"),
    }
    for name, (content, words) in bad.items():
        bucket.put_object(info["triggerPrefix"] + "jobs/" + name, json.dumps(content))
    for name, (content, words) in bad.items():
        key = info["triggerPrefix"] + "jobs/" + name
        r = receipt_of(info, bucket, key, "rejected")
        assert r["error"].startswith(f"job file {key}: "), r
        assert words in r["error"], r
        assert "execution" not in r
    assert executions(info) == before
    manifest = read_json(bucket, manifest_key)
    assert manifest["jobId"] == receipt["execution"]
