#!/usr/bin/env bash
# An MLflow tracking server on 127.0.0.1, with a SQLite (default) or PostgreSQL backend store and an
# artifacts folder it serves itself. Stops only the processes it started: their process group, and only
# while the group's leader is still the server it started (its start time is kept beside its id).
# The backend URI (and its password) reaches the server by environment, never its command line
# (which `ps` shows anyone), and is printed with its password masked.
#
#   infra/local/mlflow-server.sh start|stop|status
#
# Settings (environment, all optional):
#   ARENA_MLFLOW_DIR          state, log, database and artifacts    (${ARENA_HOME:-~/.arena}/mlflow-server)
#   ARENA_MLFLOW_PORT         port                                  (5000)
#   ARENA_MLFLOW_BACKEND_URI  backend store: sqlite:///... or postgresql://USER:PASS@HOST/DB
#                             (sqlite:///$ARENA_MLFLOW_DIR/mlflow.db)
#   ARENA_MLFLOW_ARTIFACTS    artifacts destination                 ($ARENA_MLFLOW_DIR/artifacts)
#   ARENA_MLFLOW_WAIT         seconds to wait for /health           (120)
#   MLFLOW                    the mlflow executable                 ("mlflow" on PATH)
# Then point arena at it: export ARENA_TRACKING_URI=http://127.0.0.1:5000
set -euo pipefail

STATE_DIR=${ARENA_MLFLOW_DIR:-${ARENA_HOME:-$HOME/.arena}/mlflow-server}
PORT=${ARENA_MLFLOW_PORT:-5000}
BACKEND_URI=${ARENA_MLFLOW_BACKEND_URI:-sqlite:///$STATE_DIR/mlflow.db}
ARTIFACTS=${ARENA_MLFLOW_ARTIFACTS:-$STATE_DIR/artifacts}
WAIT_SECONDS=${ARENA_MLFLOW_WAIT:-120}
MLFLOW=${MLFLOW:-mlflow}
HOST=127.0.0.1
PGID_FILE=$STATE_DIR/server.pgid
URL=http://$HOST:$PORT

die() { echo "mlflow-server: $*" >&2; exit 2; }

# A URI with any password masked: the userinfo's (whatever it holds up to the @, "/" included, as
# SQLAlchemy reads it) and password- or token-like query parameters'.
masked() {
  sed -E -e 's|^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@]*@|\1:***@|' \
    -e 's/([?&][A-Za-z_]*(password|passwd|pwd|secret|token|key)[A-Za-z_]*=)[^&]*/\1***/Ig' <<<"$1"
}

# The start time of process $1 (clock ticks since boot; empty when there is no such process): with the
# process id, what tells the server apart from a later process that got the same id.
started_at() {
  [[ -r /proc/$1/stat ]] || return 0
  sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $20 }'
}

healthy() {
  python3 - "$URL/health" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    sys.exit(0 if response.status == 200 else 1)
EOF
}

# True while the group this script started runs: its leader is the very process recorded (same id,
# same start time), not a later one that reuses the id.
group_alive() {
  [[ -s $PGID_FILE ]] || return 1
  local pgid since
  read -r pgid since <"$PGID_FILE" || true
  [[ $pgid =~ ^[0-9]+$ && -n ${since:-} ]] || return 1
  [[ $(started_at "$pgid") == "$since" ]] || return 1
  ps -eo pgid= | awk -v g="$pgid" '$1 == g { found = 1 } END { exit !found }'
}

start() {
  command -v "$MLFLOW" >/dev/null || die "'$MLFLOW' not found; activate the virtualenv or set MLFLOW=/path/to/mlflow"
  if group_alive; then
    echo "mlflow-server: already running at $URL"
    return 0
  fi
  (umask 077 && mkdir -p "$STATE_DIR")
  chmod 700 "$STATE_DIR"  # private: its log may name the backend
  mkdir -p "$ARTIFACTS"
  if healthy; then
    die "something else already answers at $URL; choose another ARENA_MLFLOW_PORT"
  fi
  MLFLOW_DISABLE_TELEMETRY=true MLFLOW_BACKEND_STORE_URI=$BACKEND_URI setsid "$MLFLOW" server --host "$HOST" \
    --port "$PORT" --workers 1 --serve-artifacts --artifacts-destination "$ARTIFACTS" \
    >"$STATE_DIR/server.log" 2>&1 </dev/null &
  local leader=$!
  echo "$leader $(started_at "$leader")" >"$PGID_FILE"
  local waited
  for ((waited = 0; waited < WAIT_SECONDS; waited++)); do
    if healthy; then
      echo "mlflow-server: up at $URL (backend $(masked "$BACKEND_URI"), artifacts $ARTIFACTS)"
      echo "mlflow-server: ARENA_TRACKING_URI=$URL"
      return 0
    fi
    group_alive || { rm -f "$PGID_FILE"; die "the server exited; see $STATE_DIR/server.log"; }
    sleep 1
  done
  stop >/dev/null
  die "no answer from $URL/health after ${WAIT_SECONDS}s; see $STATE_DIR/server.log"
}

stop() {
  if ! group_alive; then
    rm -f "$PGID_FILE"
    echo "mlflow-server: not running"
    return 0
  fi
  local pgid waited
  read -r pgid _ <"$PGID_FILE"
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for ((waited = 0; waited < 20; waited++)); do
    group_alive || break
    sleep 0.5
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -f "$PGID_FILE"
  echo "mlflow-server: stopped"
}

status() {
  if group_alive && healthy; then
    echo "mlflow-server: running at $URL"
  else
    echo "mlflow-server: not running"
    return 3
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
