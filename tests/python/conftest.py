"""Shared by the tests here.

`emulator`, for the OSS client tests (oss2 in test_oss_emulator.py,
alibabacloud-oss-v2 in test_oss_clients_v2.py): the emulator under test.

It comes from the environment variable OSS_EMULATOR_JSON
(local-runner/tests/oss_python.rs starts one in-process and sets it). Without
it, the `emulator` fixture starts one with
`cargo run -q -p local-runner --example oss-serve -- --json --stdin-lifeline`
and stops it (by closing its stdin) at the end of the session.

`start_runner` and `bucket_of`, for the pipeline tests: the whole system
started as a user starts it (`local-runner up --json`, this build's binaries),
and an oss2 bucket signing V4 with the keys it prints.
"""

import contextlib
import json
import os
import pathlib
import subprocess

import pytest


REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("VPF_BIN_DIR", REPO / "target" / "debug"))


@pytest.fixture(scope="session")
def emulator():
    given = os.environ.get("OSS_EMULATOR_JSON")
    if given:
        yield json.loads(given)
        return
    proc = subprocess.Popen(
        ["cargo", "run", "-q", "-p", "local-runner", "--example", "oss-serve", "--",
         # V1 explicitly: test_v1_signatures_header_and_url signs V1 on
         # purpose; every other test signs V4, as users should.
         "--json", "--stdin-lifeline", "--accept-v1"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail("oss-serve exited before printing its JSON line")
    try:
        yield json.loads(line)
    finally:
        # Closing stdin is the emulator's signal to stop.
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def start_runner(state, *args):
    """`local-runner up --json` on free ports with `args` (global options such
    as `--var NAME=VALUE`); yields the JSON line it prints, stops it after."""
    proc = subprocess.Popen(
        [str(BIN / "local-runner"), "--state-dir", str(state), "--bin-dir", str(BIN), *args,
         "up", "--json", "--oss-port", "0", "--flow-port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail("local-runner up printed nothing: " + proc.stderr.read())
    try:
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def frames(path):
    """Video frames of `path`, counted by plain ffprobe."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True).stdout
    return int(out.strip().split(",")[0])


def bucket_of(info):
    import oss2

    auth = oss2.ProviderAuthV4(
        oss2.credentials.StaticCredentialsProvider(info["accessKeyId"], info["accessKeySecret"]))
    return oss2.Bucket(auth, info["ossEndpoint"], info["bucket"], region=info["region"])


def wait_for_manifest(bucket, key, limit=300):
    """The job record at `key` once after-process wrote it (success or failure)."""
    import json
    import time

    deadline = time.time() + limit
    while not bucket.object_exists(key):
        assert time.time() < deadline, f"no manifest within {limit} s"
        time.sleep(0.5)
    return json.loads(bucket.get_object(key).read())
