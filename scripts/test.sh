#!/usr/bin/env bash
# The whole test suite: the one command the README gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked -- --test-threads=2
