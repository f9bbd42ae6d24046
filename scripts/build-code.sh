#!/usr/bin/env bash
# Fill the `code` folders of s.yaml: one release binary per function, named
# bootstrap (the custom runtime's start command is /code/bootstrap).
#
# FC's custom.debian12 runtime is Debian 12 (glibc 2.36) on x86_64; build on a
# Debian 12 host (or container) so the binaries link against the same glibc.
set -euo pipefail
cd "$(dirname "$0")/.."

functions=(oss-trigger split transcode merge after-process)

if [[ "$(uname -m)" != "x86_64" ]]; then
  echo "build-code: FC runs x86_64; this host is $(uname -m)" >&2
  exit 1
fi
if [[ -r /etc/os-release ]] && ! grep -q 'VERSION_ID="12"' /etc/os-release; then
  echo "build-code: warning: not Debian 12; the binaries may need a newer glibc than FC has" >&2
fi

args=()
for f in "${functions[@]}"; do args+=(-p "$f"); done
cargo build --release --locked "${args[@]}"

for f in "${functions[@]}"; do
  bin="target/release/$f"
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
