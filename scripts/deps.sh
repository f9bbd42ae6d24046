#!/usr/bin/env bash
# Installs what the tests and the demo need beyond the Rust toolchain, only
# when it is missing, and says exactly what to run when it cannot:
#   ffmpeg   ffmpeg and ffprobe, Debian's package (apt-get, as root)
#   python   the pinned Python clients of tests/python/requirements.txt, in a
#            virtual environment .venv/ (callers put .venv/bin first on PATH)
#   node     the pinned npm packages of tests/node/ and player/ (npm ci)
#   chromium Debian's Chromium, for the player test (apt-get, as root)
#   zig      what scripts/build-code.sh links with: zig (PyPI ziglang, into
#            .venv/) and cargo-zigbuild (crates.io, into .tools/bin), pinned
#
#   scripts/deps.sh                 # all but zig
#   scripts/deps.sh ffmpeg          # only ffmpeg (the demo)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "deps: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
apt_updated=
# apt_install [--with-recommends] PACKAGE...
apt_install() {
  local recommends=--no-install-recommends
  if [ "${1:-}" = --with-recommends ]; then
    recommends=
    shift
  fi
  if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
    say "missing: $*. Install it, then run this again:"
    say "  sudo apt-get install -y $*"
    exit 1
  fi
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  say "installing $* (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $recommends "$@" >/dev/null
}

# A stamp holds the hash of the file that was installed from, so a second run
# costs nothing and a changed pin reinstalls.
fresh() { [ -f "$2" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$(cat "$2")" ]; }
stamp() { sha256sum "$1" | cut -d' ' -f1 >"$2"; }

need_ffmpeg() {
  if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
    apt_install ffmpeg
  fi
}

# The project's virtual environment .venv/ (Debian's python3 needs
# python3-venv for it).
need_venv() {
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  if [ ! -x .venv/bin/python3 ]; then
    rm -rf .venv
    if ! python3 -m venv .venv >/dev/null 2>&1; then
      rm -rf .venv
      apt_install python3-venv
      python3 -m venv .venv
    fi
  fi
}

need_python() {
  local req=tests/python/requirements.txt
  need_venv
  if ! fresh "$req" .venv/.requirements.sha256; then
    say "installing the pinned Python clients into .venv ($req)"
    .venv/bin/python3 -m pip install -q --disable-pip-version-check -r "$req"
    stamp "$req" .venv/.requirements.sha256
  fi
}

need_node() {
  local dir
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  for dir in tests/node player; do
    [ -f "$dir/package-lock.json" ] || continue
    if ! fresh "$dir/package-lock.json" "$dir/node_modules/.lock.sha256"; then
      say "installing the pinned npm packages ($dir/package-lock.json)"
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
      stamp "$dir/package-lock.json" "$dir/node_modules/.lock.sha256"
    fi
  done
}

# The browser the player test drives (playwright-core starts it; it never
# downloads one): Debian's Chromium, whose Media Source Extensions take
# H.264 and AAC. With its recommended packages (fonts, Mesa's drivers), as
# the player test was run.
need_chromium() {
  command -v chromium >/dev/null 2>&1 || apt_install --with-recommends chromium
}

# Pinned: the handler binaries FC runs are linked by these.
ZIGLANG_VERSION=0.15.1
CARGO_ZIGBUILD_VERSION=0.24.1
need_zig() {
  need_venv
  if ! .venv/bin/python3 -m ziglang version 2>/dev/null | grep -qx "$ZIGLANG_VERSION"; then
    say "installing zig $ZIGLANG_VERSION into .venv (PyPI ziglang)"
    .venv/bin/python3 -m pip install -q --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"
  fi
  if ! .tools/bin/cargo-zigbuild --version 2>/dev/null | grep -q " $CARGO_ZIGBUILD_VERSION"; then
    say "installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION into .tools/ (crates.io)"
    cargo install -q --locked --root .tools "cargo-zigbuild@$CARGO_ZIGBUILD_VERSION"
  fi
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(ffmpeg python node chromium)
for w in "${wanted[@]}"; do
  case "$w" in
    ffmpeg) need_ffmpeg ;;
    python) need_python ;;
    node) need_node ;;
    zig) need_zig ;;
    chromium) need_chromium ;;
    *) say "unknown part $w (ffmpeg, python, node, chromium, zig)"; exit 2 ;;
  esac
done
