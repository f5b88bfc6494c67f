"""max_queued_jobs: past the limit enqueue raises QueueOverloaded (count and limit) and writes nothing."""

from __future__ import annotations

import pytest

from bench_jobs.errors import QueueOverloaded
from bench_jobs.jobs.enqueue import enqueue
from tests.conftest import assert_clean_error
from tests.enqueue_helpers import job_hash, job_ids


def fill(queue: str, count: int, site: str | None = None) -> list[str]:
    return [enqueue("testapp.jobs.noop", queue=queue, site=site) for _ in range(count)]


def test_limit_from_common_config(bench, keys) -> None:
    bench.set_config(max_queued_jobs=3)
    queued = fill("default", 3)
    with pytest.raises(QueueOverloaded) as info:
        enqueue("testapp.jobs.add", job_id="refused", a=1, b=2)
    assert (info.value.queue, info.value.count, info.value.limit) == ("default", 3, 3)
    assert "queue 'default' is overloaded: 3 jobs queued, the limit is 3" in info.value.message
    client = bench.client()
    assert job_ids(client, keys) == queued
    assert job_hash(client, keys.user_job_id("site1.test", "refused")) == {}
    fill("short", 3)  # the limit is per queue


def test_limit_per_site_and_per_queue(bench, keys) -> None:
    bench.set_config(max_queued_jobs=100, workers={"long": {"max_queued_jobs": 1}})
    bench.set_config(site="site2.test", max_queued_jobs=2)
    fill("long", 1)
    with pytest.raises(QueueOverloaded, match="the limit is 1"):
        enqueue("testapp.jobs.noop", queue="long")
    fill("default", 2, site="site2.test")
    with pytest.raises(QueueOverloaded, match="2 jobs queued, the limit is 2"):
        enqueue("testapp.jobs.noop", site="site2.test")


def test_draining_the_queue_lifts_the_limit(bench, keys) -> None:
    bench.set_config(max_queued_jobs=1)
    fill("default", 1)
    with pytest.raises(QueueOverloaded):
        enqueue("testapp.jobs.noop")
    bench.client().lpop(keys.queue("default"))  # a worker took it
    fill("default", 1)


def test_duplicate_of_an_active_job_is_not_refused_as_overloaded(bench, keys) -> None:
    bench.set_config(max_queued_jobs=1)
    job_id = enqueue("testapp.jobs.noop", job_id="one", deduplicate=True)
    assert enqueue("testapp.jobs.noop", job_id="one", deduplicate=True) == job_id


def test_cli_reports_overload_cleanly(bench, keys) -> None:
    bench.set_config(max_queued_jobs=2)
    fill("default", 2)
    result = bench.cli("enqueue", "testapp.jobs.noop")
    assert_clean_error(result, "queue 'default' is overloaded: 2 jobs queued, the limit is 2", "max_queued_jobs")
    assert len(job_ids(bench.client(), keys)) == 2


def test_bad_limit_is_a_config_error(bench, keys) -> None:
    bench.set_config(max_queued_jobs="lots")
    result = bench.cli("enqueue", "testapp.jobs.noop")
    assert_clean_error(result, "max_queued_jobs in sites/common_site_config.json is 'lots'; it must be a whole number")
