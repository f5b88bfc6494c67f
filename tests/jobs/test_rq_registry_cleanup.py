"""RQ's own maintenance must not take a running bench-jobs job for abandoned: RQ 3's
StartedJobRegistry.count (what `rq info` and rq-dashboard call) first runs cleanup(), which fails or
re-queues every STARTED job whose registry score is in the past (RQ scores an execution by when its
heartbeat lapses). Driven through rq's API and `rq info` against a real worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.workers import list_workers
from tests.conftest import BenchFixture, make_bench
from tests.waiting import wait_for
from tests.worker_helpers import add_job, job

RQ = Path(sys.executable).parent / "rq"


@pytest.fixture
def own(tmp_path, redis_factory) -> BenchFixture:
    server = redis_factory()
    return BenchFixture(make_bench(tmp_path / "bench", server), server)


@pytest.mark.slow
def test_rq_cleanup_leaves_a_running_job_alone(own):
    bench = own
    client, bench_id = bench.client(), bench.bench.bench_id
    worker = bench.popen("worker", "--queue", "default", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: list_workers(client, Keys(bench_id)), what="the worker to register")
        busy = add_job(client, bench_id, bench.site, "testapp.jobs.sleep", {"seconds": 4})
        wait_for(lambda: job(client, busy).get("status") == "started", what="the job to start")
        registry = StartedJobRegistry(f"{bench_id}:default", connection=client, serializer=JSONSerializer)
        assert registry.count == 1  # runs RQ's cleanup first
        info = subprocess.run([str(RQ), "info", "-u", bench.redis.url, f"{bench_id}:default"],
                              capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        assert job(client, busy).get("status") == "started"
        wait_for(lambda: job(client, busy).get("status") == "finished", timeout=30, what="the job to finish")
        assert job(client, busy).get("status") == "finished"
    finally:
        worker.terminate()
        worker.wait(30)
