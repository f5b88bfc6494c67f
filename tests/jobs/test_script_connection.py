"""The connection each pool lends `scripts.run` for good (jobs/scripts.py `_held`): one caller at a
time, threads beside it take pooled connections, a forked child takes its own, a flushed script
cache or a restarted Redis costs nothing but a reload or a reconnect."""

from __future__ import annotations

import os
import threading

from bench_jobs.bench import context
from bench_jobs.jobs.enqueue import enqueue
from tests.conftest import make_bench
from tests.enqueue_helpers import job_ids
from tests.redis_server import RedisProcess


def test_threads_enqueue_side_by_side(bench, keys) -> None:
    """Eight threads at once: each job lands once, under its own id, and every thread's call returns
    its own job's id (a reply read on a shared connection would hand one thread another's)."""
    got: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def produce(n: int) -> None:
        try:
            got[n] = [enqueue("testapp.jobs.add", a=n, b=i) for i in range(150)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    client = bench.client()
    queued = job_ids(client, keys)
    assert len(queued) == len(set(queued)) == 8 * 150
    for n, ids in got.items():
        for i, job_id in enumerate(ids):
            assert client.hget(f"rq:job:{job_id}", "description").decode() == f"testapp.jobs.add(a={n}, b={i})"


def test_a_forked_child_uses_its_own_connection(bench, keys) -> None:
    """The parent's held socket is not written by the child: both go on enqueuing, each reply its own."""
    before = enqueue("testapp.jobs.add", a=1, b=0)
    pid = os.fork()
    if pid == 0:  # the child: exit status says whether its enqueues came back right
        ok = all(bench.client().hget(f"rq:job:{enqueue('testapp.jobs.add', a=2, b=i)}", "description")
                 == f"testapp.jobs.add(a=2, b={i})".encode() for i in range(50))
        os._exit(0 if ok else 1)
    after = [enqueue("testapp.jobs.add", a=3, b=i) for i in range(50)]
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client = bench.client()
    assert [client.hget(f"rq:job:{job_id}", "description").decode() for job_id in after] == \
        [f"testapp.jobs.add(a=3, b={i})" for i in range(50)]
    assert len(job_ids(client, keys)) == 1 + 50 + 50 and before in job_ids(client, keys)


def test_a_flushed_script_cache_is_reloaded_on_the_same_connection(bench, keys) -> None:
    enqueue("testapp.jobs.noop")
    bench.client().script_flush()
    job_id = enqueue("testapp.jobs.noop")
    assert job_id in job_ids(bench.client(), keys)


def test_a_restarted_redis_is_reconnected(tmp_path) -> None:
    server = RedisProcess(tmp_path / "redis", None, "--appendonly", "yes", "--appendfsync", "always").start()
    try:
        bench = make_bench(tmp_path / "bench", server)
        context.reset_clients()
        context.init("site1.test", str(bench.path))
        first = enqueue("testapp.jobs.noop")
        server.restart()  # the held connection's socket is now dead
        second = enqueue("testapp.jobs.noop")
        client = server.client()
        assert client.hget(f"rq:job:{first}", "status") == client.hget(f"rq:job:{second}", "status") == b"queued"
    finally:
        context._default = None
        server.stop()
