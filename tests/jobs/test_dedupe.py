"""Dedupe: concurrent enqueuers racing on the same ids get exactly one job per id."""

from __future__ import annotations

import multiprocessing

import pytest

from bench_jobs.bench import context
from bench_jobs.jobs.encoding import payload_kwargs
from bench_jobs.jobs.enqueue import JobIdInUse, enqueue, is_job_enqueued
from tests.enqueue_helpers import job_hash, job_ids

PROCESSES = 6
IDS = 60


def _race(bench_path: str, barrier, results, deduplicate: bool) -> None:
    """One enqueuer: wait for the others, then enqueue every id once."""
    context.reset_clients()
    context.init("site1.test", bench_path)
    barrier.wait(10)
    won = refused = 0
    for n in range(IDS):
        try:
            enqueue("testapp.jobs.add", job_id=f"race-{n}", deduplicate=deduplicate, a=n, b=0)
            won += 1
        except JobIdInUse:
            refused += 1
    results.put((won, refused))


def _run_racers(bench, deduplicate: bool) -> list[tuple[int, int]]:
    mp = multiprocessing.get_context("fork")
    barrier = mp.Barrier(PROCESSES)
    results = mp.Queue()
    procs = [mp.Process(target=_race, args=(str(bench.path), barrier, results, deduplicate))
             for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    return outcomes



def test_racing_enqueuers_with_deduplicate_make_one_job_per_id(bench, keys) -> None:
    outcomes = _run_racers(bench, deduplicate=True)
    assert all(won == IDS for won, _ in outcomes)  # a duplicate is not an error: every caller gets the id
    client = bench.client()
    queued = job_ids(client, keys)
    assert sorted(queued) == sorted(keys.user_job_id("site1.test", f"race-{n}") for n in range(IDS))
    assert client.llen(keys.index("queued", "default", "site1.test")) == IDS


def test_racing_enqueuers_without_deduplicate_one_wins_the_rest_are_refused(bench, keys) -> None:
    outcomes = _run_racers(bench, deduplicate=False)
    assert sum(won for won, _ in outcomes) == IDS
    assert sum(refused for _, refused in outcomes) == IDS * (PROCESSES - 1)
    assert len(job_ids(bench.client(), keys)) == IDS


def test_finished_or_failed_job_does_not_block_its_id(bench, keys) -> None:
    client = bench.client()
    for status in ("finished", "failed", "canceled", "stopped"):
        job_id = enqueue("testapp.jobs.noop", job_id=f"d-{status}", deduplicate=True)
        client.lrem(keys.queue("default"), 0, job_id)
        client.hset(f"rq:job:{job_id}", "status", status)
        assert not is_job_enqueued(job_id)
        assert enqueue("testapp.jobs.noop", job_id=f"d-{status}", deduplicate=True) == job_id
        assert job_hash(client, job_id)["status"] == b"queued"
        assert is_job_enqueued(job_id)


@pytest.mark.parametrize("status", ["queued", "started", "scheduled", "deferred"])
def test_active_job_blocks_its_id(bench, keys, status) -> None:
    client = bench.client()
    job_id = enqueue("testapp.jobs.add", job_id="busy", deduplicate=True, a=1, b=1)
    client.hset(f"rq:job:{job_id}", "status", status)
    assert enqueue("testapp.jobs.add", job_id="busy", deduplicate=True, a=9, b=9) == job_id
    assert payload_kwargs(job_hash(client, job_id)["data"]) == {"a": 1, "b": 1}
    assert len(job_ids(client, keys)) == 1
