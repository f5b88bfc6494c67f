"""enqueue(): what lands in Redis (docs/storage.md), RQ compatibility, checks that fail before anything is sent."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime

import pytest

from bench_jobs.bench.apps import MethodNotFound, is_whitelisted, method_path, resolve_method
from bench_jobs.errors import BenchJobsError, MethodNotAllowed, PayloadError, SiteNotFound, UnknownQueue
from bench_jobs.jobs.enqueue import JobIdInUse, enqueue, get_job, is_job_enqueued
from bench_jobs.jobs.model import Job
from tests.enqueue_helpers import bench_keys, job_hash, job_ids, use_bench


def test_enqueue_writes_job_queue_indexes_and_wake_token(bench, keys) -> None:
    client = bench.client()
    before = time.time()
    job_id = enqueue("testapp.jobs.add", a=1, b=2)

    assert job_ids(client, keys) == [job_id]
    data = job_hash(client, job_id)
    assert data["status"] == b"queued"
    assert data["origin"] == f"{keys.bench_id}:default".encode()
    assert data["timeout"] == b"300"
    assert data["bj_site"] == b"site1.test"
    assert data["bj_method"] == b"testapp.jobs.add"
    # defaults and copies are left out (docs/storage.md): no attempts yet, no retry, the default TTLs
    # and copies: the queue is in origin, the kwargs in RQ's data (plain JSON: no zlib frame below 1 KiB)
    for absent in ("bj_attempts", "bj_retry", "retries_left", "bj_enqueued", "result_ttl", "failure_ttl",
                   "bj_queue", "bj_kwargs"):
        assert absent not in data, absent
    assert json.loads(data["data"]) == ["testapp.jobs.add", None, [], {"a": 1, "b": 2}]
    assert data["created_at"].endswith(b"Z") and data["enqueued_at"] == data["created_at"]
    enqueued = Job.moment(data["enqueued_at"].decode()).timestamp()  # type: ignore[union-attr]
    assert before - 1e-6 <= enqueued <= time.time()
    assert "bj_on_success" not in data and "bj_run_at" not in data
    shown = get_job(job_id)
    assert shown is not None and (shown["attempts"], shown["retry"], shown["retries_left"]) == (0, 0, 0)

    assert client.sismember("rq:queues", keys.queue("default"))
    assert client.lrange(keys.index("queued", "default", "site1.test"), 0, -1) == [job_id.encode()]
    assert client.sismember(keys.sites_seen(), "site1.test")
    assert client.llen(keys.wake("default")) == 1


def test_rq_reads_our_jobs(bench, keys) -> None:
    from rq.job import Job, JobStatus
    from rq.serializers import JSONSerializer

    job_id = enqueue("testapp.jobs.add", queue="long", b=[2, 3], a="x")
    job = Job.fetch(job_id, connection=bench.client(), serializer=JSONSerializer)
    assert job.func_name == "testapp.jobs.add"
    assert job.kwargs == {"a": "x", "b": [2, 3]}
    assert job.args == []
    assert job.get_status() == JobStatus.QUEUED
    assert job.origin == f"{keys.bench_id}:long"
    assert job.timeout == 1500
    # RQ's own description (issue 13: shorter than the `(**{json})` form it replaced)
    assert job.description == job.get_call_string() == "testapp.jobs.add(a='x', b=[2, 3])"
    assert job.enqueued_at is not None and job.enqueued_at == job.created_at
    long_value = Job.fetch(enqueue("testapp.jobs.add", a="y" * 100, b=1), connection=bench.client(),
                           serializer=JSONSerializer)
    assert long_value.description == long_value.get_call_string()  # each value cut at 75 characters, as RQ does


def test_a_description_never_fails_an_enqueue() -> None:
    """Values JSON carried but repr() cannot show (nesting at the recursion limit) are shown as `...`."""
    from bench_jobs.jobs.encoding import describe

    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert describe("m.f", {"b": deep, "a": 1}) == "m.f(a=1, b=...)"


def test_timeouts_per_queue_custom_queue_and_explicit(bench, keys) -> None:
    bench.set_config(workers={"reports": {"timeout": 900}})
    client = bench.client()
    assert job_hash(client, enqueue("testapp.jobs.noop", queue="short"))["timeout"] == b"300"
    assert job_hash(client, enqueue("testapp.jobs.noop", queue="long"))["timeout"] == b"1500"
    assert job_hash(client, enqueue("testapp.jobs.noop", queue="reports"))["timeout"] == b"900"
    assert job_hash(client, enqueue("testapp.jobs.noop", queue="long", timeout=5))["timeout"] == b"5"


def test_site_retry_callbacks_at_front_and_callable(bench, keys) -> None:
    from testapp import enqueue_jobs, jobs

    client = bench.client()
    first = enqueue(jobs.noop)
    front = enqueue(jobs.add, at_front=True, site="site2.test", retry=3, a=1, b=2,
                    on_success=enqueue_jobs.on_done, on_failure="testapp.enqueue_jobs.on_done")
    assert job_ids(client, keys) == [front, first]
    data = job_hash(client, front)
    assert data["bj_site"] == b"site2.test"
    assert data["bj_method"] == b"testapp.jobs.add"
    assert data["bj_retry"] == b"3" and data["retries_left"] == b"3"
    assert data["bj_on_success"] == data["bj_on_failure"] == b"testapp.enqueue_jobs.on_done"
    assert client.llen(keys.index("queued", "default", "site2.test")) == 1


def test_scheduled_job_goes_to_scheduled_set_not_queue(bench, keys) -> None:
    from bench_jobs.jobs.enqueue import prepare, send

    client = bench.client()
    due = time.time() + 600
    result = send(prepare("testapp.jobs.noop", {}, run_at=due))
    data = job_hash(client, result.id)
    assert data["status"] == b"scheduled"
    assert float(data["bj_run_at"]) == pytest.approx(due)
    assert client.zscore(keys.scheduled(), result.id) == pytest.approx(due)
    assert client.zscore(keys.index("scheduled", "default", "site1.test"), result.id) == pytest.approx(due)
    assert job_ids(client, keys) == [] and client.llen(keys.wake("default")) == 0


def test_now_and_not_async_run_in_process(bench, keys) -> None:
    assert enqueue("testapp.jobs.add", now=True, a=2, b=3) == 5
    assert enqueue("testapp.jobs.add", is_async=False, a=2, b=5) == 7
    assert enqueue("testapp.jobs.whoami", now=True, site="site2.test")["site"] == "site2.test"
    assert bench_keys(bench.client(), keys) == []


def test_job_id_is_per_site_and_get_job(bench, keys) -> None:
    job_id = enqueue("testapp.jobs.add", job_id="sync", a=1, b=2)
    other = enqueue("testapp.jobs.add", job_id="sync", site="site2.test", a=1, b=2)
    assert (job_id, other) == (keys.user_job_id("site1.test", "sync"), keys.user_job_id("site2.test", "sync"))
    job = get_job("sync")
    assert job["id"] == job_id and job["status"] == "queued" and job["kwargs"] == {"a": 1, "b": 2}
    assert job["site"] == "site1.test" and job["method"] == "testapp.jobs.add" and job["attempts"] == 0
    assert get_job(job_id) == job
    assert is_job_enqueued("sync") and is_job_enqueued("sync", site="site2.test")
    assert get_job("nope") is None and not is_job_enqueued("nope")


def test_active_job_id_without_deduplicate_is_refused(bench, keys) -> None:
    client = bench.client()
    enqueue("testapp.jobs.add", job_id="once", a=1, b=2)
    before = job_hash(client, keys.user_job_id("site1.test", "once"))
    with pytest.raises(JobIdInUse, match="already queued or running"):
        enqueue("testapp.jobs.add", job_id="once", a=5, b=5)
    assert job_hash(client, keys.user_job_id("site1.test", "once")) == before
    assert len(job_ids(client, keys)) == 1


def test_finished_job_id_is_replaced_cleanly(bench, keys) -> None:
    client = bench.client()
    job_id = enqueue("testapp.jobs.add", job_id="again", a=1, b=2)
    # What finish() leaves behind (docs/storage.md): end state, result, end-state index.
    client.lpop(keys.queue("default"))
    client.lrem(keys.index("queued", "default", "site1.test"), 0, job_id)
    client.hset(f"rq:job:{job_id}", mapping={"status": "finished", "bj_result": "3", "ended_at": "x"})
    client.zadd(keys.index("finished", "default", "site1.test"), {job_id: time.time()})

    assert enqueue("testapp.jobs.add", job_id="again", a=2, b=2) == job_id
    data = job_hash(client, job_id)
    assert data["status"] == b"queued" and "bj_result" not in data and "ended_at" not in data
    assert client.zscore(keys.index("finished", "default", "site1.test"), job_id) is None
    assert job_ids(client, keys) == [job_id]


BAD_CALLS = [
    (dict(method="os.system", command="echo hi"), MethodNotAllowed, "not in an installed app"),
    (dict(method="builtins.print"), MethodNotAllowed, "not in an installed app"),
    (dict(method="subprocess.run"), MethodNotAllowed, "not in an installed app"),
    (dict(method="testapp.jobs.os.getpid"), MethodNotAllowed, "resolves to a function of 'posix'"),
    (dict(method="bench_jobs.bench.config.write_atomic", path="/tmp/x", text="x"), MethodNotAllowed,
     "internal to bench_jobs, not a job"),
    (dict(method="testapp.worker_jobs.enqueue"), MethodNotAllowed, "resolves to a function of 'bench_jobs'"),
    (dict(method="testapp.jobs.add.__globals__"), MethodNotAllowed, "goes through a dunder attribute"),
    (dict(method=print), MethodNotAllowed, "not in an installed app"),
    (dict(method=lambda: None), MethodNotAllowed, "module-level functions"),
    (dict(method="noop"), MethodNotAllowed, "not a dotted path"),
    (dict(method="testapp.jobs.nope"), MethodNotFound, "has no function or module 'nope'"),
    (dict(method="testapp.nomodule.run"), MethodNotFound, "'nomodule'"),
    (dict(method="testapp.enqueue_jobs.NOT_CALLABLE"), MethodNotFound, "is not callable"),
    (dict(method="testapp.jobs.noop", queue="nope"), UnknownQueue, "known queues: short, default, long"),
    (dict(method="testapp.jobs.noop", site="nosite.test"), SiteNotFound, "site 'nosite.test' does not exist"),
    (dict(method="testapp.jobs.noop", when=datetime(2026, 1, 1)), PayloadError,
     "argument 'when' is not JSON-serialisable (datetime)"),
    (dict(method="testapp.jobs.noop", items={1, 2}), PayloadError, "argument 'items' is not JSON-serialisable (set)"),
    (dict(method="testapp.jobs.noop", ratio=math.nan), PayloadError, "argument 'ratio' is not JSON-serialisable"),
    (dict(method="testapp.jobs.noop", on_success="os.system"), MethodNotAllowed, "'os.system'"),
    (dict(method="testapp.jobs.noop", on_failure="testapp.jobs.missing"), MethodNotFound, "missing"),
    (dict(method="testapp.jobs.noop", deduplicate=True), BenchJobsError, "deduplicate needs a job_id"),
    (dict(method="testapp.jobs.noop", job_id="has space"), BenchJobsError, "job_id must be"),
    # RQ's job id alphabet: RQ's own Job.fetch refuses ':' and '.', so bench-jobs does too (docs/storage.md)
    (dict(method="testapp.jobs.noop", job_id="sync:42"), BenchJobsError, "letters, digits, '-' or '_'"),
    (dict(method="testapp.jobs.noop", timeout=0), BenchJobsError, "timeout must be"),
    (dict(method="testapp.jobs.noop", retry=-1), BenchJobsError, "retry must be"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS, ids=[str(i) for i in range(len(BAD_CALLS))])
def test_bad_calls_fail_naming_the_problem_and_enqueue_nothing(bench, keys, call, error, message) -> None:
    call = dict(call)
    method = call.pop("method")
    with pytest.raises(error) as info:
        enqueue(method, **call)
    assert message in info.value.message
    assert info.value.hint
    assert bench_keys(bench.client(), keys) == []


def test_bad_calls_with_now_run_nothing(bench, keys, tmp_path) -> None:
    with pytest.raises(PayloadError):
        enqueue("testapp.jobs.append_line", now=True, path=str(tmp_path / "out"), text=b"bytes")
    assert not (tmp_path / "out").exists()


def test_redis_down_is_a_clean_error(bench, keys, redis_factory) -> None:
    from bench_jobs.errors import RedisUnavailable

    server = redis_factory()
    bench.set_config(redis_queue=server.url)
    use_bench(bench)
    server.stop()
    with pytest.raises(RedisUnavailable, match="not reachable") as info:
        enqueue("testapp.jobs.noop")
    assert "redis start" in info.value.hint


def test_allow_list_helpers(bench, keys) -> None:
    from testapp import enqueue_jobs, jobs

    assert method_path(jobs.add) == "testapp.jobs.add"
    assert resolve_method(bench.bench, "testapp.jobs.add") is jobs.add
    # bench_jobs' own jobs run; its internals do not (write_atomic would write any file).
    assert resolve_method(bench.bench, "bench_jobs.jobs.builtin.ping")
    assert is_whitelisted(enqueue_jobs.echo) and enqueue_jobs.echo.whitelisted
    assert not is_whitelisted(jobs.add)


def test_public_enqueue_is_the_function_after_the_module_is_imported() -> None:
    import bench_jobs.jobs.enqueue  # what the runner and CLI import first
    from bench_jobs import enqueue as public

    assert public is bench_jobs.jobs.enqueue.enqueue and callable(public)


def test_without_init_the_bench_and_site_are_discovered_like_the_cli(bench, keys, tmp_path) -> None:
    """A plain app process: no init(); BENCH_PATH / BENCH_SITE, else the working directory and currentsite.txt."""
    import os
    import subprocess
    import sys

    script = "from bench_jobs import enqueue; print(enqueue('testapp.jobs.add', a=1, b=2))"
    env = {**os.environ, "BENCH_PATH": str(bench.path), "BENCH_SITE": "site2.test"}
    run = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert job_hash(bench.client(), run.stdout.strip())["bj_site"] == b"site2.test"

    (bench.path / "sites" / "currentsite.txt").write_text("site1.test\n")
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_PATH", "BENCH_SITE")}
    run = subprocess.run([sys.executable, "-c", script], env=env, cwd=bench.path / "logs", capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert job_hash(bench.client(), run.stdout.strip())["bj_site"] == b"site1.test"
