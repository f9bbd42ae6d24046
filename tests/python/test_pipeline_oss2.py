"""The whole pipeline driven by Alibaba's official `oss2` client, as a user
would: `local-runner up --json`, a V4-signed upload under the trigger prefix,
then the outputs read back. Also checks the README's example stays true.

Needs the binaries built (`cargo build --workspace --bins`, scripts/test.sh
does it) and ffmpeg.
"""

import subprocess

import oss2
import pytest

from conftest import bucket_of, frames, start_runner, wait_for_manifest


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    with start_runner(state) as info:
        yield info, state


def test_up_json_names_what_a_client_needs(system):
    info, _ = system
    for k in ["ossEndpoint", "bucket", "region", "accessKeyId", "accessKeySecret",
              "triggerPrefix", "inputExtensions", "outputPrefix", "workflowEndpoint"]:
        assert info.get(k), k
    # The trigger's filter suffix: empty, oss-trigger checks inputExtensions.
    assert info["triggerSuffix"] == ""


def test_an_oss2_upload_under_the_trigger_prefix_is_processed(system, tmp_path):
    info, _ = system
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "aac", "-shortest", str(clip)],
        check=True)
    bucket = bucket_of(info)
    key = info["triggerPrefix"] + "clip.mp4"
    bucket.put_object_from_file(key, str(clip))
    # Outputs of source/clip.mp4 go under dest/clip.mp4/.
    manifest_key = info["outputPrefix"].rstrip("/") + "/clip.mp4/manifest.json"
    manifest = wait_for_manifest(bucket, manifest_key)
    assert manifest["status"] == "succeeded", manifest.get("error")
    assert manifest["source"]["key"] == key
    mp4 = next(o for o in manifest["outputs"] if o["format"] == "mp4")
    local = tmp_path / "out.mp4"
    bucket.get_object_to_file(mp4["key"], str(local))
    assert frames(local) == frames(clip) == 100


def test_a_wrong_secret_is_refused(system):
    info, _ = system
    auth = oss2.ProviderAuthV4(
        oss2.credentials.StaticCredentialsProvider(info["accessKeyId"], "not-the-secret"))
    bucket = oss2.Bucket(auth, info["ossEndpoint"], info["bucket"], region=info["region"])
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.put_object(info["triggerPrefix"] + "x.mp4", b"x")
    assert e.value.status == 403
