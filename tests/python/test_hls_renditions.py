"""A film with two dubs and subtitles, uploaded with Alibaba's `oss2` client
through `local-runner up`: its HLS output is read back by an HLS parser
nobody here wrote (PyPI `m3u8`), as a player would find it: a master
playlist whose variant names an audio group with one rendition per language
(one default) and a subtitle group, every rendition a complete VOD media
playlist as long as the video.

Needs the binaries built (`cargo build --workspace --bins`; scripts/test.sh
does it) and ffmpeg.
"""

import json
import subprocess
import time

import m3u8
import pytest

from conftest import bucket_of, start_runner


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with start_runner(tmp_path_factory.mktemp("state"),
                      "--var", "formats=mp4,hls", "--var", "segmentSeconds=4") as info:
        yield info


SRT = """1
00:00:01,000 --> 00:00:02,500
Bonjour

2
00:00:05,000 --> 00:00:06,000
Au revoir
"""


def make_film(path, srt):
    srt.write_text(SRT)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8",
         "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000:duration=8",
         "-i", str(srt),
         "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-c:s", "srt",
         "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
         "-metadata:s:s:0", "language=fra",
         "-disposition:a:0", "0", "-disposition:a:1", "default",
         str(path)],
        check=True)


def wait_for(bucket, key, limit=600):
    deadline = time.time() + limit
    while not bucket.object_exists(key):
        assert time.time() < deadline, f"no {key} within {limit} s"
        time.sleep(0.5)


def test_master_playlist_and_renditions_parse_as_a_player_reads_them(system, tmp_path):
    bucket = bucket_of(system)
    film = tmp_path / "film.mkv"
    make_film(film, tmp_path / "film.srt")
    key = system["triggerPrefix"] + "film.mkv"
    bucket.put_object_from_file(key, str(film))
    base = system["outputPrefix"].rstrip("/") + "/film.mkv"
    wait_for(bucket, base + "/manifest.json")
    manifest = json.loads(bucket.get_object(base + "/manifest.json").read())
    assert manifest["status"] == "succeeded", manifest.get("error")
    hls = next(o for o in manifest["outputs"] if o["format"] == "hls")
    assert hls["key"] == base + "/hls/index.m3u8"

    def fetch(name):
        return bucket.get_object(f"{base}/hls/{name}").read().decode()

    master = m3u8.loads(fetch("index.m3u8"))
    assert master.is_variant, "index.m3u8 must be a master playlist"
    audio = [m for m in master.media if m.type == "AUDIO"]
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert sorted(m.language for m in audio) == ["en", "fr"], [m.language for m in audio]
    assert [m.language for m in audio if m.default == "YES"] == ["fr"]
    assert [m.language for m in subs] == ["fr"]
    assert len({m.group_id for m in audio}) == 1 and len(subs) == 1
    assert len(master.playlists) == 1
    info = master.playlists[0].stream_info
    assert info.audio == audio[0].group_id and info.subtitles == subs[0].group_id
    assert info.bandwidth and info.resolution == (320, 240), info
    assert "avc1" in info.codecs and "mp4a" in info.codecs, info.codecs

    video = m3u8.loads(fetch(master.playlists[0].uri))
    video_seconds = sum(s.duration for s in video.segments)
    assert abs(video_seconds - 8.0) < 0.05, video_seconds
    for m in audio + subs:
        p = m3u8.loads(fetch(m.uri))
        assert p.is_endlist and p.playlist_type == "vod", m.uri
        seconds = sum(s.duration for s in p.segments)
        assert abs(seconds - video_seconds) < 0.1, (m.uri, seconds, video_seconds)
        for s in p.segments:
            assert bucket.object_exists(f"{base}/hls/{s.uri}"), s.uri
    cues = "".join(fetch(s.uri) for s in m3u8.loads(fetch(subs[0].uri)).segments)
    assert cues.count("WEBVTT") >= 1 and "Bonjour" in cues and "Au revoir" in cues
