#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need (Debian
# packages when run as root), then the whole suite, the valgrind runs of the crates with unsafe
# code, and the loom models. Exit code is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n=== %s\n' "$*"; }

# --- Dependencies -------------------------------------------------------------------------
need_pkgs=()
command -v valgrind >/dev/null || need_pkgs+=(valgrind)
command -v fio >/dev/null || need_pkgs+=(fio)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "missing ${need_pkgs[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
fi

# Python packages for the interop tests (implementations we did not write).
python3 -c 'import pyarrow' 2>/dev/null || {
  log "installing pyarrow"
  python3 -m pip install -q --disable-pip-version-check 'pyarrow==23.0.1'
}

# --- Servers for the object-store tests (moto S3, SeaweedFS S3, rclone WebDAV; 127.0.0.1 only) ---
source scripts/servers.sh start
trap 'source scripts/servers.sh stop' EXIT

# --- The suite ------------------------------------------------------------------------------
log "cargo test --workspace"
cargo test --workspace --locked

# --- valgrind: crates with unsafe code ------------------------------------------------------
# Test binaries are listed by cargo itself; proptest runs fewer cases under valgrind (it is ~50x
# slower there), the same properties still checked.
test_binaries() { # crate -> paths of its unit and integration test binaries
  cargo test -p "$1" --locked --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])'
}
run_valgrind() { # crate, extra valgrind flags...
  local crate=$1; shift
  for bin in $(test_binaries "$crate"); do
    log "valgrind $* $(basename "$bin")"
    PROPTEST_CASES=16 valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-possibly-lost=no \
      "$@" "$bin" --test-threads=2 -q
  done
}
run_valgrind lsio_aligned
run_valgrind lsio_io
if [ -d crates/lsio_uring ]; then
  # valgrind does not see what the kernel writes through io_uring: a ring-filled buffer would be
  # reported as uninitialised. Invalid accesses and leaks are still caught.
  run_valgrind lsio_uring --undef-value-errors=no
fi

# --- loom models of the scheduler's own synchronisation ------------------------------------
if [ -f crates/lsio_scheduler/tests/loom.rs ]; then
  log "loom"
  RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p lsio_scheduler --locked --release --test loom
fi

log "all tests passed"
