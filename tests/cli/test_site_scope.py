"""`--site X` mutating commands act on X's jobs only: another site's id is a clean one-line error
and nothing changes."""

from __future__ import annotations

import pytest

from bench_jobs.jobs.dispatch import Dispatcher
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.workers import register_worker
from tests.conftest import assert_clean_error
from tests.worker_helpers import add_job, job


@pytest.mark.parametrize("command", [("cancel",), ("delete",), ("retry",), ("stop",)])
def test_another_sites_job_is_refused(bench, command) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    job_id = add_job(client, bid, "site2.test", "testapp.jobs.noop", queue="long")
    if command[0] == "stop":
        register_worker(client, keys, "w", ["long"], alive_ttl=60)
        assert Dispatcher(client, keys, "w").claim(["long"]).id == job_id
    before = job(client, job_id)
    result = bench.cli("jobs", *command, job_id, site="site1.test")
    assert_clean_error(result, "belongs to site site2.test, not site1.test")
    assert len(result.stderr.strip().splitlines()) <= 2
    assert job(client, job_id) == before
    assert client.llen(keys.worker_stop("w")) == 0


def test_the_jobs_own_site_may_act(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    job_id = add_job(client, bid, "site2.test", "testapp.jobs.noop", queue="long")
    result = bench.cli("jobs", "cancel", job_id, site="site2.test")
    assert result.exit_code == 0, result.stderr
    assert job(client, job_id)["status"] == "canceled"
