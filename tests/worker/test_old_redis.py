"""A Frappe bench's own Redis may be older than the commands the claim script prefers: on a server
without ZMSCORE (Redis < 6.2; here it is renamed away) the claim falls back to one ZSCORE per job
and a worker still drains batches of jobs, each finished once."""

from __future__ import annotations

import pytest

from tests.conftest import BenchFixture, make_bench
from tests.worker_helpers import add_job, job


@pytest.fixture
def old(tmp_path, redis_factory) -> BenchFixture:
    server = redis_factory("--rename-command", "ZMSCORE", "")
    return BenchFixture(make_bench(tmp_path / "bench", server), server)


def test_worker_drains_batches_without_zmscore(old):
    client, bench_id = old.client(), old.bench.bench_id
    with pytest.raises(Exception, match="unknown command"):
        client.execute_command("ZMSCORE", "k", "m")
    ids = [add_job(client, bench_id, old.site, "testapp.jobs.add", {"a": n, "b": 1}) for n in range(300)]
    result = old.run("worker", "--burst", "--quiet", "--no-fork", timeout=120)
    assert result.returncode == 0, result.stderr
    statuses = [job(client, job_id).get("status") for job_id in ids]
    assert statuses == ["finished"] * len(ids)
    assert [job(client, job_id).get("bj_attempts") for job_id in ids] == ["1"] * len(ids)
