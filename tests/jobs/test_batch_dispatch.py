"""Batched dispatch: a worker claims several jobs in one round trip and reports them without waiting.

Nothing that held with one job per round trip may weaken: priority across queues and at_front, a dead
worker's claimed-but-unbegun jobs back at once (in order, no attempt used), a repeated claim answered
with the same jobs, indexes and counters in step.
"""

from __future__ import annotations

import json

import pytest

from bench_jobs.jobs.dispatch import Dispatcher, Ending
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.running import read_started
from bench_jobs.jobs.workers import register_worker
from tests.worker_helpers import add_job, job

SITE = "site1.test"


@pytest.fixture
def setup(bench):
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    register_worker(client, keys, "w1", ["short", "default"], alive_ttl=60)
    return client, bid, keys, Dispatcher(client, keys, "w1")


def test_a_batch_takes_jobs_in_priority_order_across_queues(setup) -> None:
    client, bid, keys, dispatch = setup
    d1 = add_job(client, bid, SITE, "testapp.jobs.noop", queue="default")
    s1 = add_job(client, bid, SITE, "testapp.jobs.noop", queue="short")
    d2 = add_job(client, bid, SITE, "testapp.jobs.noop", queue="default")
    front = add_job(client, bid, SITE, "testapp.jobs.noop", queue="default", at_front=True)
    jobs = dispatch.claim_batch(["short", "default"], 3)
    assert [j.id for j in jobs] == [s1, front, d1]
    assert client.lrange(keys.queue("default"), 0, -1) == [d2.encode()]
    assert all(job(client, j.id)["status"] == "started" for j in jobs)
    assert client.llen(keys.index("queued", "default", SITE)) == 1
    assert client.zcard(keys.started()) == 3
    # no per-site started index (issue 13): started jobs per place are read from the bench-wide set
    assert not client.exists(keys.index("started", "default", SITE))
    started = read_started(client, keys)
    assert (started.count("default", SITE), started.count("short", SITE)) == (2, 1)
    assert started.ids([("default", SITE), ("short", SITE)]) == [j.id for j in jobs]


def test_a_dead_workers_unbegun_jobs_come_back_at_once_in_order_without_using_an_attempt(setup) -> None:
    client, bid, keys, dispatch = setup
    ids = [add_job(client, bid, SITE, "testapp.jobs.noop", retry=0) for _ in range(4)]
    later = add_job(client, bid, SITE, "testapp.jobs.noop")
    jobs = dispatch.claim_batch(["default"], 4)
    assert [j.id for j in jobs] == ids
    dispatch.send_finish(jobs[0], Ending("finished"))  # the first ran and was reported
    dispatch.collect()
    client.delete(keys.worker_alive("w1"))  # what SIGKILL amounts to once the TTL ran out
    result = dispatch.sweep(force=True)
    # ids[1] was running (retry=0: failed "worker died"); ids[2:] never began
    assert result.job_ids == [ids[1]] and result.failed == 1
    assert job(client, ids[1])["bj_error"] == "worker died"
    assert client.lrange(keys.queue("default"), 0, -1) == [i.encode() for i in (*ids[2:], later)]
    for unbegun in ids[2:]:
        data = job(client, unbegun)
        assert data["status"] == "queued" and data["bj_attempts"] == "0" and "bj_error" not in data
    assert client.zcard(keys.started()) == 0
    assert client.llen(keys.index("queued", "default", SITE)) == 3


def test_jobs_given_back_keep_their_order_and_attempts(setup) -> None:
    client, bid, keys, dispatch = setup
    ids = [add_job(client, bid, SITE, "testapp.jobs.noop") for _ in range(3)]
    jobs = dispatch.claim_batch(["default"], 3)
    dispatch.release(jobs[1:])
    assert client.lrange(keys.queue("default"), 0, -1) == [i.encode() for i in ids[1:]]
    assert [job(client, i)["bj_attempts"] for i in ids] == ["1", "0", "0"]


def test_a_repeated_claim_hands_back_the_same_jobs(setup) -> None:
    """redis-py retries a claim whose reply was lost with the same arguments, and a worker only claims
    with nothing in hand: either way the jobs still started by it come back, none is stranded."""
    client, bid, _keys, dispatch = setup
    ids = [add_job(client, bid, SITE, "testapp.jobs.noop") for _ in range(3)]
    first = dispatch.claim_batch(["default"], 2, now=1000.0)
    again = dispatch.claim_batch(["default"], 2, now=1000.0)
    assert [j.id for j in first] == [j.id for j in again] == ids[:2]
    assert [j.id for j in dispatch.claim_batch(["default"], 2)] == ids[:2]  # still in hand: the same again
    for claimed in first:
        dispatch.send_finish(claimed, Ending("finished", result="null"))
    assert [j.id for j in dispatch.claim_batch(["default"], 2)] == ids[2:]


def test_finishes_sent_without_waiting_apply_in_order_and_the_counters_follow(setup) -> None:
    client, bid, keys, dispatch = setup
    ids = [add_job(client, bid, SITE, "testapp.jobs.noop") for _ in range(3)]
    jobs = dispatch.claim_batch(["default"], 3)
    dispatch.send_finish(jobs[0], Ending("finished", 0.001, result="null"))
    dispatch.send_finish(jobs[1], Ending("failed", 0.002, error="ValueError: x"))
    applied, more = dispatch.finish_batch(jobs[2], Ending("finished", 0.003, result="1"), ["default"], 4)
    assert applied and more == []
    assert [job(client, i)["status"] for i in ids] == ["finished", "failed", "finished"]
    assert [ok for _, ok in dispatch.answered] == [True, True]
    durations = {k.decode(): float(v) for k, v in client.hgetall(keys.durations()).items()}
    assert durations["default|testapp.jobs.noop|count"] == 3
    assert durations["default|testapp.jobs.noop|0.005"] == 3
    assert abs(durations["default|testapp.jobs.noop|sum"] - 0.006) < 1e-9
    worker = {k.decode(): v.decode() for k, v in client.hgetall("rq:worker:w1").items()}
    assert (worker["successful_job_count"], worker["failed_job_count"]) == ("2", "1")
    assert worker["state"] == "idle" and worker["current_job"] == ""
    assert client.zcard(keys.started()) == 0


def test_a_finish_that_is_no_longer_ours_is_reported_not_applied(setup) -> None:
    client, bid, _keys, dispatch = setup
    add_job(client, bid, SITE, "testapp.jobs.noop")
    [claimed] = dispatch.claim_batch(["default"], 5)
    client.hset(f"rq:job:{claimed.id}", "worker_name", "someone-else")  # what a sweep + new claim amounts to
    dispatch.send_finish(claimed, Ending("finished", result=json.dumps(1)))
    assert dispatch.collect() == [(claimed, False)]
    assert job(client, claimed.id)["status"] == "started"


def test_jobs_of_a_batch_whose_ends_were_lost_come_back_even_though_other_ends_arrived(setup) -> None:
    """Under Sentinel a worker's ends of some jobs of a batch could reach the old master (still taking
    writes for a moment) while its claim and the other ends reached the new one: those jobs stay
    `started` by a live worker. Its next claim hands them back (they run again) instead of leaving them
    started until their deadline, which would also skip a scheduled event whose run one of them is."""
    client, bid, _keys, dispatch = setup
    ids = [add_job(client, bid, SITE, "testapp.jobs.noop"), add_job(client, bid, SITE, "testapp.sched_jobs.tick")]
    ids += [add_job(client, bid, SITE, "testapp.jobs.noop") for _ in range(3)]
    jobs = dispatch.claim_batch(["default"], 4)
    assert [j.id for j in jobs] == ids[:4]
    dispatch.send_finish(jobs[0], Ending("finished", result="null"))
    # the ends of jobs[1] and jobs[2] were lost with the old master; the first and the last arrived
    applied, again = dispatch.finish_batch(jobs[3], Ending("finished", result="null"), ["default"], 4)
    assert applied
    assert [j.id for j in again] == ids[1:3] and [j.attempts for j in again] == [1, 1]
    for claimed in again:
        dispatch.send_finish(claimed, Ending("finished", result="null"))
    assert [j.id for j in dispatch.claim_batch(["default"], 4)] == ids[4:]
    assert [job(client, i)["status"] for i in ids[:4]] == ["finished"] * 4
