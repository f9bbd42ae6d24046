#!/usr/bin/env bash
# The benchmark (README, "Benchmarks"): builds the release binaries, then runs vpf-bench,
# which generates its inputs with ffmpeg and measures, side by side on this
# machine, one plain ffmpeg encode (the floor), the pipeline through the local
# runner (1 and 3 formats), the seed sample's recipe, quality, a piece-length
# sweep, handler cold starts and memory while streaming a >= 2 GB source.
# Results: bench/out/results.json and bench/out/results.md (gitignored).
#
#   scripts/bench.sh            # the full run (~20-25 min on 2 cores; waits for a quiet machine)
#   scripts/bench.sh --smoke    # tiny inputs, under a minute: checks every part works
#   scripts/bench.sh --help     # every option (--only 1080p, --skip-streaming, --no-wait, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || {
  echo "bench.sh: ffmpeg and ffprobe are needed (apt-get install -y ffmpeg)" >&2
  exit 2
}
cargo build --release --locked --workspace --bins
exec ./target/release/vpf-bench "$@"
