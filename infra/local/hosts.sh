#!/usr/bin/env bash
# Rehearse a cluster of separate machines on this one Linux machine (as root), before paying for one.
#
# Each host is a network namespace with its own address and hostname on a private switch, and its
# own process tree (a PID namespace), /tmp, /home and /mnt (a mount namespace). Nothing is shared
# between hosts but the switch and, on the cluster's hosts, /mnt/shared (an NFS stand-in). No
# address is given outside the namespaces this script makes, and `down` removes every namespace,
# link and process that it started.
#
#   infra/local/hosts.sh up                 # laptop, head, worker1, worker2; Ray, PostgreSQL, MLflow
#   infra/local/hosts.sh env                # what the laptop needs: RAY_AUTH_TOKEN and the addresses
#   infra/local/hosts.sh exec HOST CMD ...  # run a command on a host (its own HOME=/home/arena)
#   infra/local/hosts.sh add HOST [shared]  # one more machine on the switch (with /mnt/shared: a cluster host)
#   infra/local/hosts.sh join HOST          # start a Ray worker node on HOST (added first if new)
#   infra/local/hosts.sh kill HOST          # pull the plug: link down, every process killed at once
#   infra/local/hosts.sh list               # hosts, addresses, alive or not
#   infra/local/hosts.sh down               # remove everything (safe to repeat)
#
# A session on the laptop:  infra/local/hosts.sh exec laptop bash
# then `arena cluster check --address http://arena-head:8265` and `arena submit ...` as on a real laptop.
#
# Settings (environment, all optional):
#   ARENA_HOSTS_DIR      state of the rehearsal: one folder per host, the shared folder   (see below)
#   ARENA_HOSTS_SUBNET   first three octets of the hosts' addresses (a /24 on the switch)  (10.213.7)
#   ARENA_HOSTS_WORKER_CPUS  CPUs each worker node offers to Ray                           (1)
#   ARENA_HOSTS_SERVICES     0: hosts only, no Ray, PostgreSQL or MLflow                   (1)
#
# This script runs as root, so its state folder must be one that no one else could have prepared. Without
# ARENA_HOSTS_DIR, `up` makes a new one with an unpredictable name (/tmp/arena-hosts.XXXXXXXXXX) and
# keeps its path in /run/arena-hosts.dir for the other commands. A given ARENA_HOSTS_DIR must be absent
# or an empty folder of this user's; either way, before any use, the folder must be this user's, written
# by no one else, with no symbolic link on its path and every folder above it root's or this user's.
# `down` removes only a folder that `up` marked as a rehearsal's, and never follows a link out of it.
set -euo pipefail

POINTER=/run/arena-hosts.dir
MARKER=.arena-hosts
SUBNET=${ARENA_HOSTS_SUBNET:-10.213.7}
WORKER_CPUS=${ARENA_HOSTS_WORKER_CPUS:-1}
SERVICES=${ARENA_HOSTS_SERVICES:-1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GCS_PORT=6379
DASHBOARD_PORT=8265
MLFLOW_PORT=5000
HOST_HOME=/home/arena

die() { echo "hosts: $*" >&2; exit 2; }

# The state folder's absolute path (symbolic links left as they are, to be refused), or nothing when
# no rehearsal was started without ARENA_HOSTS_DIR.
state_folder() {
  if [[ -n ${ARENA_HOSTS_DIR:-} ]]; then
    realpath -s -m -- "$ARENA_HOSTS_DIR"
  elif [[ -e $POINTER || -L $POINTER ]]; then
    [[ -f $POINTER && ! -L $POINTER && $(stat -c %u "$POINTER") == "$(id -u)" ]] \
      || die "$POINTER is not a file of $(id -un)'s; remove it, or set ARENA_HOSTS_DIR"
    head -n 1 -- "$POINTER"
  fi
}

# Refuse a state folder someone else could have planted or could still change: every existing part of
# its path a real folder (no symbolic link), the folders above it root's or ours and, when anyone may
# write them, sticky (/tmp); the folder itself ours and written by no one else.
check_state_folder() {
  local path=$1 current="" part owner mode me
  me=$(id -u)
  [[ $path == /* && $path != / ]] || die "state folder '$path': an absolute path below /"
  local -a parts
  IFS=/ read -ra parts <<<"${path#/}"
  for part in "${parts[@]}"; do
    current=$current/$part
    [[ -L $current ]] && die "state folder $path: $current is a symbolic link; refusing it"
    [[ -e $current ]] || return 0
    [[ -d $current ]] || die "state folder $path: $current is not a folder"
    owner=$(stat -c %u -- "$current")
    mode=$(stat -c %a -- "$current")
    if [[ $current == "$path" ]]; then
      [[ $owner == "$me" ]] || die "state folder $path belongs to user $owner, not to $(id -un); refusing it"
      if ((8#$mode & 8#022)); then die "state folder $path can be written by others (mode $mode); refusing it"; fi
    else
      [[ $owner == 0 || $owner == "$me" ]] || die "state folder $path: $current belongs to user $owner; refusing it"
      if ((8#$mode & 8#002)) && ! ((8#$mode & 8#1000)); then
        die "state folder $path: anyone can write $current (mode $mode); refusing it"
      fi
    fi
  done
  return 0
}

# The folder for a new rehearsal: the given one (made if absent, else checked empty), or a fresh one.
make_state_folder() {
  if [[ -z ${ARENA_HOSTS_DIR:-} ]]; then
    DIR=$(mktemp -d /tmp/arena-hosts.XXXXXXXXXX)
    local pending
    pending=$(mktemp "$POINTER.XXXXXX") || die "cannot write $POINTER (root's /run)"
    printf '%s\n' "$DIR" >"$pending"
    mv -f -- "$pending" "$POINTER"
    set_ids
  elif [[ ! -e $DIR && ! -L $DIR ]]; then
    check_state_folder "$DIR"  # the folders above it
    mkdir -p -- "$(dirname -- "$DIR")"
    mkdir -m 700 -- "$DIR"
  fi
  check_state_folder "$DIR"
  [[ -e $DIR/hosts ]] && die "a rehearsal is already up in $DIR; run '$0 down' first"
  [[ -z $(find "$DIR" -mindepth 1 -maxdepth 1 -print -quit) ]] \
    || die "state folder $DIR holds other files; give an empty or a new folder in ARENA_HOSTS_DIR"
  : >"$DIR/$MARKER"
}

# One rehearsal per state folder: its namespaces and links carry a short id of the folder.
set_ids() {
  ID=$(printf %s "$DIR" | md5sum | cut -c1-4)
  SWITCH=arena-$ID-switch
}

DIR=$(state_folder)
ID=""
SWITCH=""
if [[ -n $DIR ]]; then
  set_ids
  check_state_folder "$DIR"
fi
namespace() { echo "arena-$ID-$1"; }
hostname_of() { echo "arena-$1"; }
address() { echo "$SUBNET.$((10 + $(<"$DIR/hosts/$1/index")))"; }
init_pid() { cat "$DIR/hosts/$1/init.pid" 2>/dev/null || true; }
alive() { local pid; pid=$(init_pid "$1"); [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }

require_root_linux() {
  [[ $(uname -s) == Linux ]] || die "needs Linux network namespaces"
  [[ $(id -u) -eq 0 ]] || die "needs root (ip netns, mount namespaces)"
  local tool
  for tool in ip unshare nsenter; do
    command -v "$tool" >/dev/null || die "needs $tool (iproute2, util-linux)"
  done
}

make_switch() {
  ip netns list 2>/dev/null | grep -qw "$SWITCH" && return 0
  ip netns add "$SWITCH"
  ip -n "$SWITCH" link add br0 type bridge
  ip -n "$SWITCH" link set br0 up
}

# The folders under /tmp that hosts must still see: this repository and the PATH's own (a virtualenv).
software_under_tmp() {
  local entry repo
  repo=$(cd "$HERE/../.." && pwd -P)
  {
    echo "$repo"
    tr ':' '\n' <<<"$PATH" | while read -r entry; do
      [[ -d $entry ]] && (cd "$entry" && pwd -P)
    done
  } | awk -v repo="$repo" '/^\/tmp\// && (index($0, repo "/") != 1) { print }' | sort -u | tr '\n' ' '
}

# add HOST [shared]: a namespace on the switch, and an init process that holds its private mounts.
add_host() {
  local name=$1 shared=${2:-} ns index port folder
  [[ $name =~ ^[a-z][a-z0-9]{0,11}$ ]] || die "host name '$name': lower-case letters and digits, 12 at most"
  [[ -e $DIR/hosts/$name ]] && die "host $name exists already"
  make_switch
  index=$(($(find "$DIR/hosts" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) + 1))
  ((index < 240)) || die "too many hosts"
  ns=$(namespace "$name")
  port=a$ID$index
  folder=$DIR/hosts/$name
  mkdir -p "$folder/tmp" "$folder/home/arena" "$folder/mnt"
  chmod 1777 "$folder/tmp"
  echo "$index" >"$folder/index"
  echo "$(address "$name") $(hostname_of "$name")" >>"$DIR/etc-hosts"
  ip netns add "$ns"
  ip link add "$port" type veth peer name eth0 netns "$ns"
  ip link set "$port" netns "$SWITCH"
  ip -n "$SWITCH" link set "$port" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$(address "$name")/24" dev eth0
  ip -n "$ns" link set eth0 up
  if [[ $shared == shared ]]; then mkdir -p "$folder/mnt/shared"; fi
  # The init process: PID 1 of the host. Binds come first: the private /tmp hides the state folder.
  # shellcheck disable=SC2016  # the script's $1.. are its own arguments
  # The software (this repository, its virtualenv) stays visible where it is, even under /tmp: each such
  # folder is bound into the private /tmp before that replaces the machine's (rbind keeps the binds).
  ip netns exec "$ns" unshare --uts --mount --pid --fork --mount-proc --propagation private \
    bash -c '
      set -e
      hostname "$1"
      mount --bind "$2/etc-hosts" /etc/hosts
      mount --bind "$3/home" /home
      mount --bind "$3/mnt" /mnt
      if [ "$4" = shared ]; then mount --bind "$2/shared" /mnt/shared; fi
      for keep in $5; do
        mkdir -p "$3/tmp${keep#/tmp}"
        mount --bind "$keep" "$3/tmp${keep#/tmp}"
      done
      mount --rbind "$3/tmp" /tmp
      trap "exit 0" TERM
      echo ready >"/home/arena/.host-ready"
      while :; do sleep 3600 & wait $! || true; done
    ' _ "$(hostname_of "$name")" "$DIR" "$folder" "$shared" "$(software_under_tmp)" </dev/null >"$folder/init.log" 2>&1 &
  local outer=$! waited
  for ((waited = 0; waited < 100; waited++)); do
    [[ -e $folder/home/arena/.host-ready ]] && break
    sleep 0.1
  done
  [[ -e $folder/home/arena/.host-ready ]] || die "host $name did not start; see $folder/init.log"
  pgrep -P "$outer" >"$folder/init.pid"
  echo "hosts: $name is $(hostname_of "$name") at $(address "$name")"
}

# exec HOST CMD ...: a clean environment, as a login on that machine would have.
host_exec() {
  local name=$1; shift
  alive "$name" || die "host $name is not running"
  nsenter --target "$(init_pid "$name")" --net --uts --mount --pid -- \
    env -i HOME="$HOST_HOME" USER=root LOGNAME=root PATH="$PATH" LANG=C.UTF-8 TMPDIR=/tmp \
    HOSTNAME="$(hostname_of "$name")" "$@"
}

token() { cat "$DIR/hosts/head/home/arena/.ray/auth_token"; }

# The settings a cluster's nodes are started with: what every job on it sees.
cluster_env() {
  echo "ARENA_TRACKING_URI=http://$(hostname_of head):$MLFLOW_PORT"
  echo "ARENA_STORAGE=/mnt/shared/ray_results"
  echo "ARENA_MLFLOW_UI_URL=http://$(hostname_of head):$MLFLOW_PORT"
  echo "MLFLOW_DISABLE_TELEMETRY=true"
}

start_ray_worker() {
  local name=$1
  # shellcheck disable=SC2046  # one word per setting
  host_exec "$name" env $(cluster_env) RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$(token)" ray start \
    --address="$(address head):$GCS_PORT" --node-ip-address="$(address "$name")" \
    --num-cpus="$WORKER_CPUS" --num-gpus=0 --disable-usage-stats >"$DIR/hosts/$name/ray.log" 2>&1 \
    || die "Ray did not start on $name; see $DIR/hosts/$name/ray.log"
}

start_head_services() {
  local log=$DIR/hosts/head/services.log token_file=$DIR/hosts/head/home/arena/.ray/auth_token
  # Token authentication, as Ray 2.60 clusters have it: the head keeps the token in its home;
  # workers and the laptop are given it (`$0 token`).
  mkdir -p "$(dirname "$token_file")"
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")
  host_exec head bash "$HERE/postgres.sh" start "$HOST_HOME/postgres" 5432 >>"$log" 2>&1 \
    || die "PostgreSQL did not start on head; see $log"
  # MLflow on PostgreSQL, artifacts served through the server from the head's own disk. It answers
  # to the head's name: MLflow 3 refuses requests whose Host header it was not told to allow.
  host_exec head env MLFLOW_DISABLE_TELEMETRY=true setsid mlflow server --host 0.0.0.0 \
    --port "$MLFLOW_PORT" --workers 1 \
    --backend-store-uri "postgresql+psycopg://postgres@127.0.0.1:5432/arena" \
    --serve-artifacts --artifacts-destination "$HOST_HOME/mlartifacts" \
    --allowed-hosts "$(hostname_of head),$(hostname_of head):$MLFLOW_PORT,$(address head),$(address head):$MLFLOW_PORT,localhost:$MLFLOW_PORT,127.0.0.1:$MLFLOW_PORT" \
    </dev/null >>"$log" 2>&1 &
  # shellcheck disable=SC2046
  host_exec head env $(cluster_env) RAY_AUTH_MODE=token ray start --head --node-ip-address="$(address head)" \
    --port="$GCS_PORT" --num-cpus=0 --num-gpus=0 --include-dashboard=true --dashboard-host=0.0.0.0 \
    --dashboard-port="$DASHBOARD_PORT" --disable-usage-stats >"$DIR/hosts/head/ray.log" 2>&1 \
    || die "Ray did not start on head; see $DIR/hosts/head/ray.log"
  local waited
  for ((waited = 0; waited < 120; waited++)); do
    host_exec head python3 -c "import urllib.request as r; r.urlopen('http://127.0.0.1:$MLFLOW_PORT/health', timeout=2)" \
      2>/dev/null && return 0
    sleep 1
  done
  die "MLflow did not answer on head after 120 s; see $log"
}

up() {
  require_root_linux
  make_state_folder
  mkdir -p "$DIR/hosts" "$DIR/shared"
  chmod 1777 "$DIR/shared"
  printf '127.0.0.1 localhost\n' >"$DIR/etc-hosts"
  add_host laptop
  add_host head shared
  add_host worker1 shared
  add_host worker2 shared
  if [[ $SERVICES == 1 ]]; then
    if ! command -v ray >/dev/null || ! command -v mlflow >/dev/null; then
      die "ray and mlflow must be on PATH (activate the virtualenv)"
    fi
    start_head_services
    start_ray_worker worker1
    start_ray_worker worker2
    echo "hosts: Ray head at $(address head):$GCS_PORT, Jobs API http://$(hostname_of head):$DASHBOARD_PORT,"
    echo "hosts: MLflow http://$(hostname_of head):$MLFLOW_PORT on PostgreSQL; the cluster's settings:"
    cluster_env | sed 's/^/hosts:   /'
    echo "hosts: on the laptop: $0 exec laptop env RAY_AUTH_TOKEN=\$($0 token) bash"
  fi
}

kill_host() {
  local name=$1 pid
  pid=$(init_pid "$name")
  [[ -n $pid ]] || die "no host $name"
  ip -n "$(namespace "$name")" link set eth0 down 2>/dev/null || true
  # PID 1 of a PID namespace gone: the kernel kills every other process in it at once.
  kill -KILL "$pid" 2>/dev/null || true
  local waited
  for ((waited = 0; waited < 50; waited++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  echo "hosts: $name is down (every process killed)"
}

down() {
  local folder name
  if [[ -z $DIR ]]; then
    echo "hosts: down (no rehearsal was up)"
    return 0
  fi
  if [[ -e $DIR ]]; then
    # Only a folder `up` marked (or an empty one) is removed: never one ARENA_HOSTS_DIR names by mistake.
    if [[ ! -f $DIR/$MARKER || -L $DIR/$MARKER ]] && [[ -n $(find "$DIR" -mindepth 1 -maxdepth 1 -print -quit) ]]; then
      die "$DIR is not a rehearsal's state folder (no $MARKER); removing nothing"
    fi
  fi
  if [[ -d $DIR/hosts && ! -L $DIR/hosts ]]; then
    for folder in "$DIR"/hosts/*/; do
      [[ -L ${folder%/} ]] && continue
      name=$(basename "$folder")
      alive "$name" && kill_host "$name" >/dev/null
      ip netns delete "$(namespace "$name")" 2>/dev/null || true
    done
  fi
  ip netns delete "$SWITCH" 2>/dev/null || true
  # PostgreSQL's files belong to its own user; the folder is ours to remove. rm never follows a link
  # inside it, and --one-file-system keeps it out of anything still mounted there.
  rm -rf --one-file-system -- "$DIR"
  if [[ -z ${ARENA_HOSTS_DIR:-} && -f $POINTER && ! -L $POINTER && $(head -n 1 -- "$POINTER") == "$DIR" ]]; then
    rm -f -- "$POINTER"
  fi
  echo "hosts: down ($DIR)"
}

list() {
  local folder name state
  for folder in "$DIR"/hosts/*/; do
    [[ -d $folder ]] || continue
    name=$(basename "$folder")
    alive "$name" && state=up || state=down
    printf '%-10s %-15s %-14s %s\n' "$name" "$(address "$name")" "$(hostname_of "$name")" "$state"
  done
}

case ${1:-} in
  list | token | env | address | add | join | kill | exec)
    [[ -n $DIR ]] || die "no rehearsal is up; run '$0 up' first (or set ARENA_HOSTS_DIR to its folder)" ;;
esac
case ${1:-} in
  add | join) [[ -f $DIR/$MARKER && ! -L $DIR/$MARKER ]] || die "no rehearsal is up in $DIR; run '$0 up' first" ;;
esac

case ${1:-} in
  up) up ;;
  down) down ;;
  list) list ;;
  token) token ;;
  env) echo "RAY_AUTH_TOKEN=$(token)"; echo "RAY_API_SERVER_ADDRESS=http://$(hostname_of head):$DASHBOARD_PORT" ;;
  address) [[ $# -eq 2 ]] || die "usage: $0 address HOST"; address "$2" ;;
  add) [[ $# -ge 2 ]] || die "usage: $0 add HOST [shared]"; require_root_linux; add_host "$2" "${3:-}" ;;
  join)
    [[ $# -eq 2 ]] || die "usage: $0 join HOST"
    require_root_linux
    [[ -e $DIR/hosts/$2 ]] || add_host "$2" shared
    start_ray_worker "$2" ;;
  kill) [[ $# -eq 2 ]] || die "usage: $0 kill HOST"; kill_host "$2" ;;
  exec) [[ $# -ge 3 ]] || die "usage: $0 exec HOST CMD ..."; shift; host_exec "$@" ;;
  *) echo "usage: $0 up|down|list|env|token|address HOST|add HOST|join HOST|kill HOST|exec HOST CMD ..." >&2; exit 2 ;;
esac
