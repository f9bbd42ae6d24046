#!/usr/bin/env bash
# Fill the `code` folders of s.yaml: one release binary per function, named
# bootstrap (the custom runtime's start command is /code/bootstrap).
#
# The functions run on FC's custom.debian10 runtime, one of the runtimes that
# Alibaba's official FFmpeg6x layer lists (README, "Deploying to Function
# Compute"). Debian 10 has glibc 2.28, so the binaries are linked against
# glibc 2.28 with zig (cargo-zigbuild), whatever the build host: they need
# nothing newer (a test checks every binary's symbol versions) and run on
# Debian 10, 11 and 12 alike. scripts/deps.sh installs the pinned zig and
# cargo-zigbuild when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

functions=(oss-trigger split transcode merge after-process simple)
# The glibc of FC's custom.debian10 runtime (Debian 10 "buster": 2.28).
target=x86_64-unknown-linux-gnu.2.28

if [[ "$(uname -m)" != "x86_64" ]]; then
  echo "build-code: FC runs x86_64; this host is $(uname -m)" >&2
  exit 1
fi
scripts/deps.sh zig
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"

args=()
for f in "${functions[@]}"; do args+=(-p "$f"); done
cargo zigbuild --release --locked --target "$target" "${args[@]}"

for f in "${functions[@]}"; do
  bin="target/x86_64-unknown-linux-gnu/release/$f"
  if [[ ! -x "$bin" ]]; then
    echo "build-code: $bin was not built (does crate $f have a binary named $f?)" >&2
    exit 1
  fi
  rm -rf "code-out/$f"
  mkdir -p "code-out/$f"
  cp "$bin" "code-out/$f/bootstrap"
  chmod 755 "code-out/$f/bootstrap"
  echo "code-out/$f/bootstrap: $(du -h "code-out/$f/bootstrap" | cut -f1)"
done
