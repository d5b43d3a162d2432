#!/usr/bin/env bash
# The main job on a fresh machine: install fio (the baseline) when we can, build lsio in release
# mode, and run its demo benchmark on generated data in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v fio >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing fio (the baseline the demo compares against)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >/dev/null
  else
    echo "fio is not installed and we are not root: the demo runs without the fio rows" >&2
  fi
fi
cargo build --release --locked -p lsio_cli
exec target/release/lsio demo "$@"
