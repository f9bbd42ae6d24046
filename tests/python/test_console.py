"""The web console of `local-runner up`, as a user meets it: the page in
headless Chromium (Debian's package, through playwright-core), a clip
dropped on it goes to the bucket by a signed PostObject form and starts a
job; the executions list shows it succeed; its timeline shows every piece's
transcode, the audio task, merge and after-process on their FC instances;
the preview page inside the console plays the MP4, HLS and DASH outputs to
the end (tests/node/console.mjs). Here, with oss2 and plain HTTP: what the
upload did to the bucket (the object, its CORS rule for the console's
origin, no other rule touched) and what the console refuses.

Needs the binaries built (`cargo build --workspace --bins`), ffmpeg, `npm ci`
in `player/` and `tests/node/`, and Chromium. Screenshots and the report:
`target/console-artifacts/`.
"""

import json
import subprocess
import urllib.error
import urllib.request

import oss2
import pytest

from conftest import REPO, bucket_of, start_runner

SECONDS = 8
# 4 s pieces of an 8 s clip with a key frame every second: two pieces.
PIECES = 2
# 640x360: the default ladder's 360p and 234p.
RUNGS = 2


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with start_runner(tmp_path_factory.mktemp("state"),
                      "--var", "formats=mp4,abr,sprite,gif,jpg",
                      "--var", "segmentSeconds=4") as info:
        yield info


def make_clip(path):
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", str(path)],
        check=True)


def call(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_console_upload_timeline_and_players(system, tmp_path):
    url = system["consoleUrl"]
    assert url and url.startswith("http://127.0.0.1:"), system
    clip = tmp_path / "console clip.mp4"
    make_clip(clip)
    out = REPO / "target" / "console-artifacts"
    run = subprocess.run(
        ["node", str(REPO / "tests" / "node" / "console.mjs"),
         "--url", url, "--clip", str(clip), "--pieces", str(PIECES), "--rungs", str(RUNGS),
         "--out", str(out), "--secret", system["accessKeySecret"], "--timeout", "150", "--cycle", "0"],
        capture_output=True, text=True, timeout=200)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["ok"]
    for shot in ["executions.png", "timeline.png", "players.png", "page.png"]:
        assert (out / shot).stat().st_size > 0

    # The browser's form put the clip under the trigger prefix, and the job ran.
    bucket = bucket_of(system)
    key = system["triggerPrefix"] + clip.name
    assert bucket.get_object_meta(key).content_length == clip.stat().st_size
    manifest = json.loads(bucket.get_object(
        system["outputPrefix"].rstrip("/") + "/" + clip.name + "/manifest.json").read())
    assert manifest["status"] == "succeeded"
    assert manifest["jobId"] == summary["execution"]
    assert summary["cost"]["amount"] == pytest.approx(manifest["cost"]["total"]["amount"])
    # The bucket lets the console's origin post forms, as OSS needs for
    # browser uploads; nothing else was allowed.
    origin = url.rstrip("/")
    rules = bucket.get_bucket_cors().rules
    assert [(r.allowed_origins, r.allowed_methods) for r in rules] == [([origin], ["POST"])]


def test_console_refuses_what_it_should(system):
    url = system["consoleUrl"]
    # A page elsewhere whose name was rebound to 127.0.0.1 gets nothing.
    status, text = call(url + "api/executions", headers={"Host": "evil.example:9300"})
    assert status == 403 and "127.0.0.1" in text
    # Nor does a page of another site that the browser names so.
    status, text = call(url + "api/system", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403 and "another site" in text
    # A form is asked for in JSON, which a browser preflights across origins.
    status, _ = call(url + "api/upload-form", b'{"fileName": "a.mp4", "size": 1}',
                     {"content-type": "text/plain"})
    assert status == 415
    # Only outputs are served, not sources.
    status, text = call(url + "files/" + system["triggerPrefix"] + "x.mp4")
    assert status == 403 and "outputs only" in text
    # A form is made only for an upload the trigger would take.
    form = lambda name, size: call(url + "api/upload-form",
                                   json.dumps({"fileName": name, "size": size}).encode(),
                                   {"content-type": "application/json"})
    status, text = form("notes.txt", 10)
    assert status == 400 and "extension .txt is not one this system processes" in text
    status, text = form("clip.mp4", 0)
    assert status == 400
    status, text = form("clip.mp4", 10)
    assert status == 200
    f = json.loads(text)
    assert f["key"] == system["triggerPrefix"] + "clip.mp4"
    assert system["accessKeySecret"] not in text
    assert f["fields"]["x-oss-credential"].startswith(system["accessKeyId"] + "/")
    # The players' files come from the runner itself.
    status, text = call(url + "player/node_modules/hls.js/dist/hls.min.js")
    assert status == 200 and len(text) > 100_000
    status, _ = call(url + "player/package.json")
    assert status == 404
