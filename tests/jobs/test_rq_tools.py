"""RQ's own tools see the whole truth about a bench: a busy worker's current job (RQ 3 executions),
failed jobs' tracebacks and finished results (RQ's results stream), the finished and scheduled
registries — driven through rq's API, `rq info` and rq-dashboard's JSON endpoints, against a real worker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq import Queue, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.workers import list_workers
from tests.conftest import BenchFixture, make_bench
from tests.worker_helpers import add_job, job

RQ = Path(sys.executable).parent / "rq"


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def own(tmp_path, redis_factory) -> BenchFixture:
    """A bench on a Redis of its own: rq-dashboard lists every worker of a server, other tests' too."""
    server = redis_factory()
    return BenchFixture(make_bench(tmp_path / "bench", server), server)


@pytest.fixture
def dashboard(own):
    """rq-dashboard's Flask app on the bench's Redis, reading job payloads as JSON (bench-jobs' format)."""
    rq_dashboard = pytest.importorskip("rq_dashboard")
    from rq_dashboard import web
    from rq_dashboard.cli import make_flask_app

    app = make_flask_app(None, None, None, "/rq")
    app.config["RQ_DASHBOARD_REDIS_URL"] = [own.redis.url]
    web.config.serializer = JSONSerializer
    web.setup_rq_connection(app)
    assert rq_dashboard
    return app.test_client()


def get_json(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, response.data[:500]
    return json.loads(response.data)


@pytest.mark.slow
def test_rq_and_rq_dashboard_read_a_bench(own, dashboard, tmp_path):
    bench = own
    client, bench_id = bench.client(), bench.bench.bench_id
    keys = Keys(bench_id)
    rq_queue = f"{bench_id}:default"
    worker = bench.popen("worker", "--queue", "default", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: list_workers(client, keys), what="the worker to register")
        name = list_workers(client, keys)[0]["name"]

        # A busy worker's current job, as RQ 3 reads it (rq:worker:{name}:executions).
        busy = add_job(client, bench_id, bench.site, "testapp.jobs.sleep", {"seconds": 3})
        wait_for(lambda: job(client, busy).get("status") == "started", what="the job to start")
        (rq_worker,) = [w for w in Worker.all(connection=client, serializer=JSONSerializer) if w.name == name]
        assert rq_worker.get_state() == "busy"
        assert rq_worker.get_current_job_id() == busy
        current = rq_worker.get_current_job()
        assert current.func_name == "testapp.jobs.sleep" and current.kwargs == {"seconds": 3}
        # (rq-dashboard 0.9 lists workers with RQ's default pickle serializer whatever its --json says,
        # so its workers.json cannot describe the current job of any JSON-serialized RQ job.)
        wait_for(lambda: job(client, busy).get("status") == "finished", what="the slow job to finish")
        rq_worker = next(w for w in Worker.all(connection=client) if w.name == name)
        assert rq_worker.get_current_job_id() is None
        workers = get_json(dashboard, "/rq/0/data/workers.json")["workers"]
        (shown,) = [w for w in workers if w["name"] == name]
        assert shown["current_job"] == "idle" and shown["successful_job_count"] == 1

        # Finished: the result through RQ's results stream, in the finished registry.
        done = add_job(client, bench_id, bench.site, "testapp.jobs.add", {"a": 1, "b": 2})
        wait_for(lambda: job(client, done).get("status") == "finished", what="add to finish")
        assert Job.fetch(done, connection=client, serializer=JSONSerializer).return_value() == 3
        queue = Queue(rq_queue, connection=client, serializer=JSONSerializer)
        assert done in queue.finished_job_registry.get_job_ids()
        assert get_json(dashboard, f"/rq/0/data/job/{done}.json")["result"] == 3

        # Failed: the traceback as RQ keeps it.
        failed = add_job(client, bench_id, bench.site, "testapp.jobs.fail", {"message": "boom-from-bench"})
        wait_for(lambda: job(client, failed).get("status") == "failed", what="fail to fail")
        result = Job.fetch(failed, connection=client, serializer=JSONSerializer).latest_result()
        assert "Traceback" in result.exc_string and "boom-from-bench" in result.exc_string
        assert failed in queue.failed_job_registry.get_job_ids()
        assert "boom-from-bench" in get_json(dashboard, f"/rq/0/data/job/{failed}.json")["exc_info"]
    finally:
        worker.terminate()
        worker.wait(30)

    # Scheduled: in RQ's scheduled registry while due later, out of it once canceled.
    later = bench.cli("enqueue", "testapp.jobs.noop", "--in", "1h")
    assert later.exit_code == 0, later.output
    later_id = later.stdout.strip().split()[-1]
    assert later_id in queue.scheduled_job_registry.get_job_ids()
    queues = {q["name"]: q for q in get_json(dashboard, "/rq/0/data/queues.json")["queues"]}
    assert queues[rq_queue]["scheduled_job_registry_count"] == 1
    assert queues[rq_queue]["finished_job_registry_count"] >= 2
    info = subprocess.run([str(RQ), "info", "--url", bench.redis.url, rq_queue], capture_output=True, text=True,
                          timeout=60)
    assert " 1 failed" in info.stdout and " 0 finished" not in info.stdout, info.stdout
    assert bench.cli("jobs", "cancel", later_id).exit_code == 0
    assert later_id not in queue.scheduled_job_registry.get_job_ids()
