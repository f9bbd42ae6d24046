#!/usr/bin/env bash
# Command 1 of the README: run the whole pipeline on this machine.
# Installs ffmpeg if missing (scripts/deps.sh: as root; otherwise says how), builds the
# handlers and the local runner, makes a sample video if you gave none, and
# runs upload -> trigger -> workflow -> outputs through the local runner.
#
#   scripts/demo.sh [VIDEO]   (any video file: .mp4, .mov, .mkv, .webm, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh ffmpeg
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo is missing: install the Rust toolchain (https://rustup.rs), then run this again" >&2
  exit 1
fi

echo "demo: building (release)" >&2
cargo build --release --locked --workspace --bins --quiet

input="${1:-}"
if [ -z "$input" ]; then
  mkdir -p demo
  input=demo/sample.mp4
  if [ ! -f "$input" ]; then
    echo "demo: making a 20 s 1280x720 sample with stereo audio ($input)" >&2
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i "testsrc2=size=1280x720:rate=30" \
      -f lavfi -i "sine=frequency=440:sample_rate=48000:beep_factor=4" \
      -filter_complex "[1:a]aformat=channel_layouts=stereo[a]" -map 0:v -map "[a]" \
      -t 20 -c:v libx264 -preset veryfast -pix_fmt yuv420p -bf 3 -g 60 -c:a aac -b:a 128k "$input"
  fi
fi

rm -rf demo/state demo/out
./target/release/local-runner --state-dir demo/state run \
  --input "$input" --formats mp4,flv,hls,gif,jpg --segment-seconds 5 --out demo/out
