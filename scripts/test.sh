#!/usr/bin/env bash
# The whole test suite: the one command the README gives and .ci/run calls.
# On a machine with only the Rust toolchain it first installs what the tests
# need (scripts/deps.sh: ffmpeg, the pinned Python clients in .venv/, the
# pinned npm packages, Chromium), or says exactly what to run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "test: cargo is missing: install the Rust toolchain (https://rustup.rs), then run this again" >&2
  exit 1
fi
scripts/deps.sh
# Tests call python3 and pytest: the virtual environment's, with the pins.
export PATH="$PWD/.venv/bin:$PATH"
ffmpeg -hide_banner -version | head -n 1
# Handler binaries first: the end-to-end tests start them as FC would.
# --all-targets builds them with the same features as `cargo test`, so
# nothing is compiled twice.
cargo build --workspace --all-targets --locked
cargo test --workspace --locked -- --test-threads=2
# The workflow API and the pipeline against Alibaba Cloud's official Python
# SDKs, and every kind of upload through oss2 (video and sound); the simple
# system (s.simple.yaml) through oss2. (The OSS emulator's own Python
# and Node suites run inside cargo test: local-runner/tests/oss_*.rs.) The HLS
# master playlist with its renditions, read by PyPI m3u8. The adaptive
# streams, read by PyPI m3u8 and mpegdash and played to the end by hls.js and
# dash.js in headless Chromium; the preview page's own server checks. Job
# files through oss2, and their schema read by PyPI jsonschema. The web
# console of `up` driven in headless Chromium: upload, timeline, players.
python3 -m pytest -q -p no:cacheprovider tests/python/test_flow_api.py \
  tests/python/test_pipeline_oss2.py tests/python/test_uploads.py \
  tests/python/test_audio_uploads.py \
  tests/python/test_hls_renditions.py tests/python/test_abr.py \
  tests/python/test_console.py \
  tests/python/test_job_files.py tests/python/test_watermark.py \
  tests/python/test_simple.py
npm test --prefix player
