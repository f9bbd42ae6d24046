#!/usr/bin/env bash
# The whole test suite: the one command the README gives and .ci/run calls.
# Needs ffmpeg and the Python clients of tests/python/requirements.txt
# (.ci/run installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
# Handler binaries first: the end-to-end tests start them as FC would.
# --all-targets builds them with the same features as `cargo test`, so
# nothing is compiled twice.
cargo build --workspace --all-targets --locked
cargo test --workspace --locked -- --test-threads=2
# The workflow API against Alibaba Cloud's official Python SDK.
python3 -m pytest -q -p no:cacheprovider tests/python/test_flow_api.py tests/python/test_pipeline_oss2.py
