"""RQ's own `rq info` reads a bench's queues and workers while a bench-jobs worker runs."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import enqueue_job
from bench_jobs.jobs.workers import list_workers
from tests.conftest import BenchFixture, make_bench

RQ = Path(sys.executable).parent / "rq"


def rq_info(url: str, *args: str) -> str:
    proc = subprocess.run([str(RQ), "info", "--url", url, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture
def bench(tmp_path, redis_factory) -> BenchFixture:
    """A bench on a Redis of its own: `rq info` with no queue names reads (and cleans) every queue of the
    server, and other tests leave hand-written hostile jobs on the session's Redis."""
    server = redis_factory()
    return BenchFixture(make_bench(tmp_path / "bench", server), server)


@pytest.mark.slow
def test_rq_info_lists_our_queues_and_workers(bench):
    keys = Keys(bench.bench.bench_id)
    for _ in range(3):  # waiting in `long`, which the worker below does not serve
        enqueue_job(bench.client(), keys, job_id=None, site=bench.site, queue="long", method="testapp.jobs.noop",
                    kwargs={}, timeout=300)
    worker = bench.popen("worker", "--queue", "default,short", stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not list_workers(bench.client(), keys):
            assert worker.poll() is None, "worker exited"
            assert time.monotonic() < deadline, "worker never registered"
            time.sleep(0.1)
        name = list_workers(bench.client(), keys)[0]["name"]
        # RQ lists the queues in rq:queues: enqueued to, or served by a worker (short: never enqueued).
        out_file = bench.path / "ran.txt"
        enqueue_job(bench.client(), keys, job_id=None, site=bench.site, queue="default",
                    method="testapp.jobs.append_line", kwargs={"path": str(out_file), "text": "x"}, timeout=300)
        while not out_file.exists() or list_workers(bench.client(), keys)[0]["successful"] < 1:
            assert time.monotonic() < deadline, "the worker never ran the job"
            time.sleep(0.1)
        out = rq_info(bench.redis.url)
        bench_id = re.escape(bench.bench.bench_id)
        # Queue lines: "{bench_id}:long |███ 3, 0 executing, ..."; the worker line names its queues.
        assert re.search(rf"^{bench_id}:long\s+\|\S*\s+3,", out, re.M), out
        assert re.search(rf"^{bench_id}:default\s+\|\S*\s+0,", out, re.M), out
        assert re.search(rf"^{bench_id}:short\s+\|\S*\s+0,", out, re.M), out
        assert re.search(rf"^{re.escape(name)} \(.*\): \w+ .*{bench_id}:default.*jobs: 1 finished, 0 failed$",
                         out, re.M), out
        # By queue, too: the worker serves default and short.
        by_queue = rq_info(bench.redis.url, "--by-queue")
        assert re.search(rf"^{bench_id}:default:\s.*{re.escape(name)}", by_queue, re.M), by_queue
        assert re.search(rf"^{bench_id}:short:\s.*{re.escape(name)}", by_queue, re.M), by_queue
    finally:
        worker.terminate()
        worker.wait(30)
