#!/usr/bin/env bash
# A local multi-node Ray cluster on this machine: a head and N worker nodes, each with its own ports
# and temp dir, token authentication on. Stops only the processes it started (by process group).
#
#   infra/local/ray-cluster.sh start|stop|status
#
# Settings (environment, all optional):
#   ARENA_RAY_CLUSTER_DIR     state, logs and node temp dirs   (${ARENA_HOME:-~/.arena}/ray-cluster)
#   ARENA_RAY_WORKERS         worker nodes                      (2)
#   ARENA_RAY_HEAD_CPUS       CPUs the head offers              (0: jobs' drivers only, training on workers)
#   ARENA_RAY_WORKER_CPUS     CPUs each worker node offers      (1)
#   ARENA_RAY_WORKER_GPUS     GPUs each worker node offers      (0)
#   ARENA_RAY_PORT            head (GCS) port                   (6380)
#   ARENA_RAY_DASHBOARD_PORT  dashboard / Jobs API port         (8265)
#   ARENA_RAY_PORT_BASE       node i uses ports BASE+1000*i ... BASE+1000*i+999   (20000)
#   RAY                       the ray executable                ("ray" on PATH)
# Authentication: RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token (created
# when missing). Clients (arena submit, arena jobs) read the token from the same place. Every start
# sets the token file to mode 0600, whoever made it (a local ray.init may have left it 0644), and refuses
# one that is a symbolic link or not this user's.
set -euo pipefail

CLUSTER_DIR=${ARENA_RAY_CLUSTER_DIR:-${ARENA_HOME:-$HOME/.arena}/ray-cluster}
WORKERS=${ARENA_RAY_WORKERS:-2}
HEAD_CPUS=${ARENA_RAY_HEAD_CPUS:-0}
WORKER_CPUS=${ARENA_RAY_WORKER_CPUS:-1}
WORKER_GPUS=${ARENA_RAY_WORKER_GPUS:-0}
GCS_PORT=${ARENA_RAY_PORT:-6380}
DASHBOARD_PORT=${ARENA_RAY_DASHBOARD_PORT:-8265}
PORT_BASE=${ARENA_RAY_PORT_BASE:-20000}
RAY=${RAY:-ray}
HOST=127.0.0.1

die() { echo "ray-cluster: $*" >&2; exit 2; }

# Ports of node $1 (0 = head), as `ray start` options: a block of 1000 per node.
node_ports() {
  local base=$((PORT_BASE + 1000 * $1))
  echo "--node-manager-port=$((base + 1)) --object-manager-port=$((base + 2))" \
    "--dashboard-agent-listen-port=$((base + 3)) --dashboard-agent-grpc-port=$((base + 4))" \
    "--runtime-env-agent-port=$((base + 5)) --metrics-export-port=$((base + 6))" \
    "--min-worker-port=$((base + 100)) --max-worker-port=$((base + 999))"
}

ensure_token() {
  export RAY_AUTH_MODE=token
  local path=${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}
  if [[ -L $path ]]; then
    die "the Ray auth token $path is a symbolic link; refusing it"
  fi
  if [[ -e $path ]]; then
    [[ -f $path && $(stat -c %u -- "$path") == "$(id -u)" ]] || die "the Ray auth token $path is not a file of $(id -un)'s"
    chmod 600 -- "$path"
  fi
  [[ -n ${RAY_AUTH_TOKEN:-} ]] && return 0
  if [[ ! -s $path ]]; then
    (umask 077 && mkdir -p "$(dirname "$path")" && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$path")
    echo "ray-cluster: created a Ray auth token in $path"
  fi
}

# Start one node in a session of its own, so that `stop` can end exactly its processes.
start_node() {
  local index=$1; shift
  local temp_dir=$CLUSTER_DIR/node$index
  mkdir -p "$temp_dir"
  # shellcheck disable=SC2046  # node_ports prints separate options on purpose
  RAY_TMPDIR=$temp_dir setsid "$RAY" start "$@" $(node_ports "$index") --temp-dir="$temp_dir" \
    --disable-usage-stats >"$CLUSTER_DIR/node$index.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$CLUSTER_DIR/node$index.pgid"
  if ! wait "$pid"; then
    stop >/dev/null
    die "node $index did not start, so the cluster was stopped again; see $CLUSTER_DIR/node$index.log"
  fi
}

group_alive() {
  ps -eo pgid=,args= | awk -v g="$1" -v d="$CLUSTER_DIR/" '$1 == g && index($0, d) { found = 1 } END { exit !found }'
}

start() {
  command -v "$RAY" >/dev/null || die "'$RAY' not found; activate the virtualenv or set RAY=/path/to/ray"
  [[ -e $CLUSTER_DIR/node0.pgid ]] && die "a cluster is already running from $CLUSTER_DIR; run '$0 stop' first"
  mkdir -p "$CLUSTER_DIR"
  ensure_token
  # Jobs run `python` from the PATH of the node; make it the python that sits beside this ray.
  PATH="$(dirname "$(command -v "$RAY")"):$PATH"
  export PATH
  # Worker nodes may join (0 here, as some test setups use, makes Ray refuse every `ray start --address`).
  export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1
  start_node 0 --head --node-ip-address="$HOST" --port="$GCS_PORT" --num-cpus="$HEAD_CPUS" --num-gpus=0 \
    --dashboard-host="$HOST" --dashboard-port="$DASHBOARD_PORT" --include-dashboard=true \
    --ray-client-server-port="$PORT_BASE"
  local index
  for ((index = 1; index <= WORKERS; index++)); do
    start_node "$index" --address="$HOST:$GCS_PORT" --node-ip-address="$HOST" \
      --num-cpus="$WORKER_CPUS" --num-gpus="$WORKER_GPUS"
  done
  echo "ray-cluster: head + $WORKERS worker nodes up (state and logs in $CLUSTER_DIR)"
  echo "ray-cluster: RAY_ADDRESS=$HOST:$GCS_PORT (ray.init, arena train)"
  echo "ray-cluster: RAY_API_SERVER_ADDRESS=http://$HOST:$DASHBOARD_PORT (Jobs API: arena submit / arena jobs)"
}

stop() {
  local file pgid waited any=0 files=()
  # Workers first, the head last.
  shopt -s nullglob
  mapfile -t files < <(printf '%s\n' "$CLUSTER_DIR"/node*.pgid | sort -rV)
  for file in "${files[@]}"; do
    [[ -n $file ]] || continue
    any=1
    pgid=$(<"$file")
    if group_alive "$pgid"; then
      kill -TERM -- "-$pgid" 2>/dev/null || true
      for ((waited = 0; waited < 20; waited++)); do
        group_alive "$pgid" || break
        sleep 0.5
      done
      kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$file"
  done
  ((any)) && echo "ray-cluster: stopped ($CLUSTER_DIR)" || echo "ray-cluster: not running ($CLUSTER_DIR)"
}

status() {
  local file running=0
  for file in "$CLUSTER_DIR"/node*.pgid; do
    [[ -e $file ]] || continue
    if group_alive "$(<"$file")"; then
      echo "$(basename "$file" .pgid): running"
      running=1
    else
      echo "$(basename "$file" .pgid): gone"
    fi
  done
  ((running)) || { echo "ray-cluster: not running ($CLUSTER_DIR)"; return 3; }
  echo "ray-cluster: RAY_API_SERVER_ADDRESS=http://$HOST:$DASHBOARD_PORT"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
