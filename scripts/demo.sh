#!/usr/bin/env bash
# The whole thing in well under two minutes on a fresh machine with Python 3.11+:
# make ./demo-bench with the demo app (examples/demo_app) and a site, run `bench-jobs start`
# (its own Redis, workers per queue, the scheduler, the web page) in the background, check that the
# dashboard answers and say where to open it, enqueue a job, wait for its
# result, wait for the scheduler to enqueue the app's event and a worker to run it, show what the
# bench looks like, then stop everything. Exits 0 when all of that worked.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

find_python() {
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "demo: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

# Bold headings on a terminal only (and never with NO_COLOR), so a log of the demo stays plain text.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }

if [ ! -x .venv/bin/python ]; then
    step "Creating .venv"
    "$(find_python)" -m venv .venv
fi
if ! .venv/bin/bench-jobs --version >/dev/null 2>&1; then
    step "Installing bench-jobs into .venv (pip install -e .)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
fi

BJ="$ROOT/.venv/bin/bench-jobs"
# The demo app is a plain package in examples/; workers and the scheduler inherit this path.
export PYTHONPATH="$ROOT/examples${PYTHONPATH:+:$PYTHONPATH}"
unset BENCH_PATH BENCH_SITE
BENCH="$ROOT/demo-bench"
SITE="demo.local"

if [ -d "$BENCH" ]; then
    "$BJ" --bench "$BENCH" redis stop >/dev/null 2>&1 || true  # a Redis left by an interrupted run
    rm -rf "$BENCH"
fi
# Free ports of our own, so the demo never touches another Redis (nor the default 11000) and its web
# page never collides with another server on the default 8010.
free_port() {
    .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT="$(free_port)"
WEB_PORT="$(free_port)"
DASHBOARD="http://127.0.0.1:$WEB_PORT/"

step "Making a bench in ./demo-bench with the demo app and site $SITE"
"$BJ" init "$BENCH" --redis-port "$PORT"
cd "$BENCH"
"$BJ" new-site "$SITE"
"$BJ" use "$SITE"
"$BJ" add-app demo_app
"$BJ" setup redis
# The app's `all` event runs every scheduler_interval seconds (Frappe's key; 240 by default): 10 here,
# so the scheduler enqueues something within seconds of the start.
"$ROOT/.venv/bin/python" -c 'import sys; from pathlib import Path; from bench_jobs.bench.config import update_json
update_json(Path(sys.argv[1]), {"scheduler_interval": 10, "web_port": int(sys.argv[2])})' \
    sites/common_site_config.json "$WEB_PORT"

step "Starting the bench: bench-jobs start (Redis, workers per queue, scheduler, web page) — output in demo-bench/logs/start.out"
"$BJ" start >logs/start.out 2>&1 &
START_PID=$!
stop_bench() {
    if kill -0 "$START_PID" 2>/dev/null; then
        kill -TERM "$START_PID" 2>/dev/null || true
        wait "$START_PID" 2>/dev/null || true
    fi
}
trap stop_bench EXIT

for _ in $(seq 1 150); do
    if "$BJ" scheduler status --format json 2>/dev/null | grep -q '"leader": {'; then
        break
    fi
    if ! kill -0 "$START_PID" 2>/dev/null; then
        echo "demo: bench-jobs start exited early:" >&2
        cat logs/start.out >&2
        exit 1
    fi
    sleep 0.2
done
"$BJ" scheduler status

# The web page: loopback only and no API key yet, so its pages are open and read-only (docs/web.md).
dashboard_answers() {
    "$ROOT/.venv/bin/python" -c 'import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "live", timeout=2) as r:
    sys.exit(0 if r.status == 200 and b"\"rows\"" in r.read() else 1)' "$DASHBOARD" 2>/dev/null
}
for _ in $(seq 1 100); do
    dashboard_answers && break
    sleep 0.2
done
if ! dashboard_answers; then
    echo "demo: the web page did not answer on $DASHBOARD; bench-jobs start said:" >&2
    cat logs/start.out >&2
    exit 1
fi
step "The dashboard answers: open $DASHBOARD in a browser while the demo runs"
grep -E '\| Serving ' logs/start.out | sed -n 1p || true

step "Enqueuing the demo job: bench-jobs enqueue demo_app.jobs.hello --kwargs '{\"name\": \"bench-jobs\"}'"
JOB="$("$BJ" enqueue demo_app.jobs.hello --kwargs '{"name": "bench-jobs"}')"
echo "job id: $JOB"
"$BJ" jobs wait --timeout 30
"$BJ" jobs show "$JOB"

step "Waiting for the scheduler to enqueue the app's \`all\` event (every 10 s here) and a worker to run it"
scheduled_run_finished() {
    "$BJ" scheduler log --format json | "$ROOT/.venv/bin/python" -c 'import json, sys
rows = json.load(sys.stdin)["entries"]  # the listing envelope (docs/cli.md)
queued = {r["job_id"] for r in rows if r["kind"] == "queued"}  # "queued": enqueued by the scheduler itself
sys.exit(0 if any(r["kind"] == "end" and r["status"] == "finished" and r["job_id"] in queued for r in rows) else 1)'
}
for _ in $(seq 1 60); do
    scheduled_run_finished && break
    sleep 1
done
if ! scheduled_run_finished; then
    echo "demo: the scheduler did not run the app's event within a minute; bench-jobs start said:" >&2
    cat logs/start.out >&2
    exit 1
fi
# The scheduler's line and the worker's, as `bench-jobs start` printed them. `start` copies its
# children's output into start.out a moment after the result is in Redis, so give it that moment.
for _ in $(seq 1 50); do
    grep -q 'method=demo_app.jobs.tick event=finished' logs/start.out && break
    sleep 0.1
done
grep -m1 'method=demo_app.jobs.tick event=enqueued' logs/start.out || true
grep -m1 'method=demo_app.jobs.tick event=finished' logs/start.out || true

step "bench-jobs show-pending-jobs"
"$BJ" show-pending-jobs
step "bench-jobs workers"
"$BJ" workers
step "bench-jobs scheduler list"
"$BJ" scheduler list
step "bench-jobs scheduler log"
"$BJ" scheduler log -n 5

step "Stopping the bench (SIGTERM to bench-jobs start)"
trap - EXIT
kill -TERM "$START_PID"
wait "$START_PID" || true
tail -n 12 logs/start.out
step "Demo finished: the bench is in ./demo-bench"
echo "PYTHONPATH=examples .venv/bin/bench-jobs --bench demo-bench start runs it again (the demo app is in examples/), with the dashboard on $DASHBOARD; Ctrl-C stops it"
echo "bench-jobs is in .venv/bin: run 'source .venv/bin/activate' (or 'pipx install .' / 'uv tool install .') to have it on PATH"
