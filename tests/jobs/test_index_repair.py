"""Self-healing indexes: ids removed by another tool (rq's own API: Queue.empty(), Job.delete())
disappear from every count — at the next recovery sweep, or at once with `jobs repair`."""

from __future__ import annotations

import json
import subprocess

from rq import Queue
from rq.job import Job

from bench_jobs.jobs.dispatch import Dispatcher
from bench_jobs.jobs.keys import Keys
from bench_jobs.logs.writer import for_bench
from bench_jobs.worker.recovery import after_sweep
from tests.worker_helpers import add_job, put_job, wait_for


def _counts(bench, queue: str = "default") -> tuple[int, int]:
    doc = json.loads(bench.cli("show-pending-jobs", "--format", "json").stdout)
    row = next(q for q in doc["queues"] if q["queue"] == queue)
    return row["pending"], row["failed"]


def _sweep(bench) -> None:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    log = for_bench(bench.bench, "test", quiet=True)
    try:
        after_sweep(client, bench.bench, log, Dispatcher(client, keys, "t").sweep(force=True))
    finally:
        log.close()


def test_rq_queue_empty_is_repaired_by_the_sweep(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    for _ in range(3):
        add_job(client, bid, "site1.test", "testapp.jobs.noop")
    add_job(client, bid, "site2.test", "testapp.jobs.noop")
    assert _counts(bench)[0] == 3
    Queue(Keys(bid).rq_queue_name("default"), connection=client).empty()  # rq-dashboard's "Empty queue"
    doc = json.loads(bench.cli("doctor", "--format", "json", site=None).stdout)
    hint = next(c for c in doc["checks"] if c["name"] == "indexes")
    assert "jobs repair" in hint["fix"] and "queued on default" in hint["detail"], hint
    _sweep(bench)
    assert _counts(bench) == (0, 0)
    wait = bench.cli("jobs", "wait", "--timeout", "5")
    assert wait.exit_code == 0, wait.output + wait.stderr
    assert "repaired" in (bench.path / "logs" / "worker.log").read_text()


def test_rq_job_delete_of_a_queued_and_a_failed_job(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    queued = add_job(client, bid, "site1.test", "testapp.jobs.noop")
    add_job(client, bid, "site1.test", "testapp.jobs.noop")
    failing = put_job(client, bid, "site1.test", "os.system", {"command": "true"}, queue="short")
    proc = bench.run("worker", "--burst", "--queue", "short")
    assert proc.returncode == 0, proc.stderr
    assert _counts(bench, "short")[1] == 1
    for job_id in (queued, failing):
        Job.fetch(job_id, connection=client).delete()
    _sweep(bench)
    assert _counts(bench) == (1, 0) and _counts(bench, "short") == (0, 0)
    assert client.zcard(keys.index("failed", "short", "site1.test")) == 0


def test_jobs_repair_checks_every_index(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    ids = [add_job(client, bid, "site1.test", "testapp.jobs.noop", queue="long") for _ in range(2)]
    client.delete(f"rq:job:{ids[0]}")  # a hash gone without a trace in the queue counts
    result = bench.cli("jobs", "repair")
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 queued" in result.stdout
    assert client.llen(keys.index("queued", "long", "site1.test")) == 1
    assert "nothing to repair" in bench.cli("jobs", "repair").stdout


def test_a_running_worker_repairs_within_a_sweep_interval(bench, tmp_path) -> None:
    """End to end: a worker of another queue is running; rq empties `default` behind its back."""
    client, bid = bench.client(), bench.bench.bench_id
    bench.set_config(worker_dead_after=2)
    for _ in range(2):
        add_job(client, bid, "site1.test", "testapp.jobs.noop")
    worker = bench.popen("worker", "--queue", "long", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        Queue(Keys(bid).rq_queue_name("default"), connection=client).empty()
        wait_for(lambda: _counts(bench) == (0, 0), timeout=30, what="the pending count to drop to 0")
    finally:
        worker.terminate()
        worker.wait(20)


def test_an_id_that_left_the_index_meanwhile_is_not_counted(bench) -> None:
    """The repair reads ids (ZSCAN) before checking them: a job a worker finished in between has left
    the started set already, so it is no drift and no 'repaired' line (it was one in a fresh bench)."""
    from bench_jobs.jobs import scripts

    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    job_id = add_job(client, bid, "site1.test", "testapp.jobs.noop")
    started = keys.started()
    assert client.zscore(started, job_id) is None
    assert int(scripts.run(client, keys, "reconcile", [started], [bid, "started", job_id])) == 0
    client.zadd(started, {job_id: 1})  # a real stale entry: the job is queued, not started
    client.zadd(keys.rq_wip("default"), {job_id: 1})
    assert int(scripts.run(client, keys, "reconcile", [started], [bid, "started", job_id])) == 1
    assert client.zcard(started) == 0
    assert client.zcard(keys.rq_wip("default")) == 0  # RQ's registry kept in step, as the sweep does


def test_old_per_site_started_indexes_are_ignored_then_deleted(bench) -> None:
    """Benches from before issue 13 hold `idx:started:{q}:{s}` sets nothing keeps up to date any more:
    no count or listing reads them, the first repair pass after a sweep deletes them (once), and
    `jobs repair` always does."""
    from bench_jobs.jobs import repair

    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    running = add_job(client, bid, "site1.test", "testapp.jobs.noop")
    Dispatcher(client, keys, "w-old").claim(["default"])
    old = keys.index("started", "default", "site1.test")
    client.zadd(old, {running: 1, f"{keys.tag}_finished-long-ago": 2})
    doc = json.loads(bench.cli("show-pending-jobs", "--format", "json").stdout)
    assert next(q for q in doc["queues"] if q["queue"] == "default")["started"] == 1
    listed = json.loads(bench.cli("jobs", "list", "--status", "started", "--format", "json").stdout)
    assert [row["id"] for row in listed["jobs"]] == [running]
    repair.quick(client, keys, ["default"], ["site1.test"])
    assert not client.exists(old)
    client.zadd(old, {running: 1})  # written again (an old worker still running): the quick pass is done
    repair.quick(client, keys, ["default"], ["site1.test"])
    assert client.exists(old)
    result = bench.cli("jobs", "repair")
    assert result.exit_code == 0, result.output + result.stderr
    assert not client.exists(old) and client.zscore(keys.started(), running) is not None


def test_an_expired_ended_job_is_dropped_without_counting_as_drift(bench) -> None:
    """Finished/failed/canceled hashes expire (result_ttl, failure_ttl) before their lazily trimmed index
    entries: dropping those is housekeeping, not 'changed by another tool' (a tour bench logged it)."""
    from bench_jobs.jobs import scripts

    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    finished = keys.index("finished", "default", "site1.test")
    queued = keys.index("queued", "default", "site1.test")
    client.zadd(finished, {f"{keys.tag}_expired": 1})
    client.rpush(queued, f"{keys.tag}_vanished")
    assert int(scripts.run(client, keys, "reconcile", [finished], [bid, "finished", f"{keys.tag}_expired"])) == 0
    assert client.zcard(finished) == 0
    assert int(scripts.run(client, keys, "reconcile", [queued], [bid, "queued", f"{keys.tag}_vanished"])) == 1
    assert client.llen(queued) == 0
