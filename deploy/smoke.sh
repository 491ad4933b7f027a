#!/usr/bin/env bash
# Builds the container image and runs it the way an operator does, with podman (a machine of
# this project's kind has no Docker engine and reaches no registry; `../shared/container/
# build-and-run.sh` installs podman and makes a local Debian 12 + Python 3.11 base that stands
# in for every `python:*` image, and this script uses that recipe when it is there).
#
#   1. builds the image (docker format, so that the HEALTHCHECK is kept);
#   2. runs `sheetflow migrate` as a one-shot container on a fresh volume (the release step);
#   3. starts the image with the embedded PostgreSQL in that volume, waits for /ready and for
#      the HEALTHCHECK to pass;
#   4. takes a token with `sheetflow token` inside the container, creates a project, uploads a
#      CSV and checks its rows;
#   5. starts a second container with DATABASE_URL pointing at the first one's PostgreSQL (its
#      socket, in the shared volume), two web processes and JSON logs, reads the same rows
#      through it, and checks /metrics and its log;
#   6. sends SIGTERM to both (the second first) and checks each stops with status 0 well within
#      the grace period, and that PostgreSQL shut down cleanly;
#   7. starts the first container again on the same volume and reads the rows once more.
#
# usage: deploy/smoke.sh            (from anywhere; removes what it made, even on failure)
# Environment: IMAGE (tag to build, default localhost/sheetflow:smoke), SHARED (the shared
# folder holding container/build-and-run.sh, default ../shared beside the repository).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
IMAGE=${IMAGE:-localhost/sheetflow:smoke}
GRACE=30
VOLUME=sheetflow-smoke-$$
BUILD_LOG=$(mktemp)
# podman runs HEALTHCHECKs from systemd timers and complains on every run and stop that there is
# no systemd here; `podman healthcheck run` below runs the check itself
podman() { command podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
CONTAINERS=()
step() { printf '\n== %s\n' "$*"; }
fail() { echo "SMOKE FAILED: $*" >&2; for c in "${CONTAINERS[@]}"; do podman logs "$c" 2>&1 | tail -30 >&2 || true; done; exit 1; }
cleanup() {
  for c in "${CONTAINERS[@]}"; do podman rm -f "$c" >/dev/null 2>&1 || true; done
  podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  rm -f "${UPLOAD:-}" "$BUILD_LOG"
}
trap cleanup EXIT

step "podman and the base image"
if ! command -v podman >/dev/null || ! podman image exists python:3.11-slim-bookworm; then
  [ -x "$SHARED/container/build-and-run.sh" ] || [ -f "$SHARED/container/build-and-run.sh" ] ||
    fail "podman or the python base is missing and $SHARED/container/build-and-run.sh is not there"
  # installs podman, builds the base, tags it as the Dockerfile's python:* images, builds and
  # polls the image once
  WORK=${WORK:-/tmp/sheetflow-ctr} bash "$SHARED/container/build-and-run.sh" "$ROOT" "$ROOT/Dockerfile" 8000 /ready
fi
podman --version

step "build $IMAGE"
start=$(date +%s)
podman build --format docker -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" >"$BUILD_LOG" 2>&1 ||
  { tail -40 "$BUILD_LOG"; fail "the image did not build"; }
echo "built in $(( $(date +%s) - start )) s; size $(podman image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
podman image inspect -f 'user={{.Config.User}} exposed={{.Config.ExposedPorts}} stopsignal={{.Config.StopSignal}} healthcheck={{.Config.Healthcheck.Test}}' "$IMAGE"
podman volume create "$VOLUME" >/dev/null

step "release: sheetflow migrate (one-shot, embedded PostgreSQL in the volume)"
podman run --rm -v "$VOLUME:/data" "$IMAGE" sheetflow migrate | tail -3

wait_ready() {  # container, host port
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$2/ready" >/dev/null 2>&1; then return 0; fi
    podman inspect -f '{{.State.Running}}' "$1" | grep -q true || fail "container $1 exited"
    sleep 0.5
  done
  fail "container $1 not ready after 60 s"
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
host_port() { podman port "$1" 8000/tcp | sed 's/.*://'; }

step "web with the embedded PostgreSQL"
ONE=$(podman run -d -p 127.0.0.1::8000 -v "$VOLUME:/data" "$IMAGE")
CONTAINERS+=("$ONE")
PORT1=$(host_port "$ONE")
start=$(date +%s%N)
wait_ready "$ONE" "$PORT1"
echo "ready after $(ms_since "$start") ms on port $PORT1, as $(podman exec "$ONE" id -un)"
podman healthcheck run "$ONE" && echo "healthcheck: healthy"

step "token, project, upload"
TOKEN=$(podman exec "$ONE" sheetflow token smoke --email smoke@example.com)
AUTH="Authorization: Bearer $TOKEN"
BASE1=http://127.0.0.1:$PORT1
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
PROJECT=$(curl -fsS -H "$AUTH" -H 'Content-Type: application/json' -d '{"name": "Smoke"}' \
  "$BASE1/projects" | json '["id"]')
UPLOAD=$(mktemp --suffix=.csv)
printf 'Nome;Idade;Cidade\nAna;30;São Paulo\nBia;41;Lisboa\nCaio;27;Porto\n' > "$UPLOAD"
BATCH=$(curl -fsS -H "$AUTH" -F mode=list_mode -F "files=@$UPLOAD;filename=pessoas.csv" \
  "$BASE1/projects/$PROJECT/batches" | json '["id"]')
ROWS="/projects/$PROJECT/batches/$BATCH/rows"
EXPECTED='[{"nome": "Ana", "idade": "30", "cidade": "São Paulo"}, {"nome": "Bia", "idade": "41", "cidade": "Lisboa"}, {"nome": "Caio", "idade": "27", "cidade": "Porto"}]'
rows_of() {  # base URL -> the rows' data, as JSON, keys in column order
  curl -fsS -H "$AUTH" "$1$ROWS" | python3 -c '
import json, sys
page = json.load(sys.stdin)
order = ["nome", "idade", "cidade"]
print(json.dumps([{k: r["data"][k] for k in order} for r in page["items"]], ensure_ascii=False))'
}
GOT=$(rows_of "$BASE1")
[ "$GOT" = "$EXPECTED" ] || fail "rows through the first container: $GOT"
echo "project $PROJECT, batch $BATCH: 3 rows as uploaded"

step "a second container on the first one's database (DATABASE_URL)"
TWO=$(podman run -d -p 127.0.0.1::8000 -v "$VOLUME:/data" \
  -e "DATABASE_URL=postgresql://postgres@/sheetflow?host=/data/postgres" \
  -e WEB_CONCURRENCY=2 -e SHEETFLOW_LOG_FORMAT=json "$IMAGE")
CONTAINERS+=("$TWO")
PORT2=$(host_port "$TWO")
wait_ready "$TWO" "$PORT2"
GOT=$(rows_of "http://127.0.0.1:$PORT2")
[ "$GOT" = "$EXPECTED" ] || fail "rows through the second container: $GOT"
echo "the second container serves the same 3 rows"
WORKERS=$(curl -fsS "http://127.0.0.1:$PORT2/metrics" | awk '$1 == "sheetflow_web_workers" {print $2}')
[ "$WORKERS" = 2.0 ] || fail "the second container runs $WORKERS web processes, not 2"
echo "it runs 2 web processes (WEB_CONCURRENCY=2, /metrics: sheetflow_web_workers $WORKERS)"
podman logs "$TWO" 2>&1 | python3 -c '
import json, sys
lines = [json.loads(line) for line in sys.stdin if line.strip()]
print(f"its log: {len(lines)} lines, each one JSON object (SHEETFLOW_LOG_FORMAT=json)")' ||
  fail "the second container logged a line that is not JSON"

stop_cleanly() {  # container, name
  local start elapsed code
  start=$(date +%s%N)
  podman stop -t "$GRACE" "$1" >/dev/null
  elapsed=$(ms_since "$start")
  code=$(podman inspect -f '{{.State.ExitCode}}' "$1")
  echo "$2: SIGTERM -> exit $code after $elapsed ms (podman's grace $GRACE s)"
  [ "$code" = 0 ] || fail "$2 exited with $code"
  [ "$elapsed" -lt $(( (GRACE - 5) * 1000 )) ] || fail "$2 took $elapsed ms to stop"
}

step "SIGTERM"
stop_cleanly "$TWO" second
stop_cleanly "$ONE" first
podman logs "$ONE" 2>&1 | grep -E "Shutting down|Finished server process" | sed 's/^/  log: /'
PGLOG=$(podman run --rm -v "$VOLUME:/data" "$IMAGE" tail -n 3 /data/postgres/log)
echo "$PGLOG" | sed 's/^/  postgres: /'
echo "$PGLOG" | grep -q "database system is shut down" || fail "PostgreSQL did not shut down cleanly"

step "the first container again, on the same volume"
podman start "$ONE" >/dev/null
PORT1=$(host_port "$ONE")
wait_ready "$ONE" "$PORT1"
GOT=$(rows_of "http://127.0.0.1:$PORT1")
[ "$GOT" = "$EXPECTED" ] || fail "rows after a restart: $GOT"
echo "the rows are still there"
stop_cleanly "$ONE" first

echo
echo "SMOKE OK"
