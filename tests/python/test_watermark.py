"""The watermark with Alibaba's official `oss2` client, as a user sets it
up: the mark image and then a video uploaded to a system started with
`--var watermarkKey=...`, and the mark found by its pixels in the MP4 read
back. Needs the binaries built and ffmpeg.
"""

import subprocess

import pytest

from conftest import bucket_of, start_runner, wait_for_manifest

MARK_KEY = "marks/logo.png"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    with start_runner(state, "--var", f"watermarkKey={MARK_KEY}",
                      "--var", "watermarkCorner=bottom-right",
                      "--var", "watermarkScale=0.25",
                      "--var", "watermarkMargin=0.05",
                      "--var", "formats=mp4") as info:
        yield info


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", *args], check=True)


def rgb_frame(path, width, height, seconds):
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(seconds), "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True).stdout
    assert len(raw) == width * height * 3
    return raw


def magenta_box(raw, width, height):
    xs, ys = [], []
    for y in range(height):
        row = raw[y * width * 3:(y + 1) * width * 3]
        for x in range(width):
            r, g, b = row[3 * x:3 * x + 3]
            if r > 200 and g < 80 and b > 200:
                xs.append(x)
                ys.append(y)
    if not xs:
        return None
    return min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1


def test_an_oss2_uploaded_mark_is_in_the_video(system, tmp_path):
    bucket = bucket_of(system)
    mark = tmp_path / "logo.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=0xff00ff:s=40x20", "-frames:v", "1", str(mark))
    clip = tmp_path / "grey.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x808080:s=320x240:rate=25:d=2",
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(clip))
    bucket.put_object_from_file(MARK_KEY, str(mark))
    bucket.put_object_from_file(system["triggerPrefix"] + "grey.mp4", str(clip))
    manifest_key = system["outputPrefix"].rstrip("/") + "/grey.mp4/manifest.json"
    manifest = wait_for_manifest(bucket, manifest_key)
    assert manifest["status"] == "succeeded", manifest.get("error")
    mp4 = next(o for o in manifest["outputs"] if o["format"] == "mp4")
    local = tmp_path / "out.mp4"
    bucket.get_object_to_file(mp4["key"], str(local))
    # 320 wide: the mark 80x40 (a quarter of the width, 2:1), 16 pixels in
    # (0.05 of the width) from the bottom-right corner.
    want = (320 - 80 - 16, 240 - 40 - 16, 80, 40)
    for seconds in (0, 1.5):
        box = magenta_box(rgb_frame(local, 320, 240, seconds), 320, 240)
        assert box is not None, f"no mark at {seconds} s"
        assert all(abs(a - b) <= 1 for a, b in zip(box, want)), (seconds, box, want)
