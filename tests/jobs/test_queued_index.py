"""The per-site queued index is a LIST in queue order (issue 13: ~47 B a job where the ZSET cost ~136 B):
every write mirrors the queue's, a claim takes its jobs from the head, and the ZSETs a running bench
already has become LISTs in score order, once, wherever they are met first."""

from __future__ import annotations

import time

from bench_jobs.jobs import actions, indexes, repair
from bench_jobs.jobs.dispatch import Dispatcher
from bench_jobs.jobs.keys import Keys, job_key
from bench_jobs.jobs.queries import list_jobs, pending_summary
from bench_jobs.jobs.store import JobSpec, enqueue_many
from tests.worker_helpers import add_job

SITE = "site1.test"


def _index(client, keys: Keys, site: str = SITE, queue: str = "default") -> list[str]:
    return [i.decode() for i in client.lrange(keys.index("queued", queue, site), 0, -1)]


def _queue(client, keys: Keys, queue: str = "default") -> list[str]:
    return [i.decode() for i in client.lrange(keys.queue(queue), 0, -1)]


def test_the_index_follows_the_queue_and_a_claim_takes_its_head(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    a = add_job(client, bid, SITE, "testapp.jobs.noop")
    b = add_job(client, bid, "site2.test", "testapp.jobs.noop")
    c = add_job(client, bid, SITE, "testapp.jobs.noop")
    first = add_job(client, bid, SITE, "testapp.jobs.noop", at_front=True)
    assert _queue(client, keys) == [first, a, b, c]
    assert _index(client, keys) == [first, a, c] and _index(client, keys, "site2.test") == [b]
    assert client.type(keys.index("queued", "default", SITE)) == b"list"

    claimed = Dispatcher(client, keys, "w1").claim_batch(["default"], 3)
    assert [job.id for job in claimed] == [first, a, b]
    assert _index(client, keys) == [c] and _index(client, keys, "site2.test") == []


def test_bulk_enqueue_pushes_front_and_tail_jobs_as_the_queue(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    tail = add_job(client, bid, SITE, "testapp.jobs.noop")
    specs = [JobSpec(site=SITE, queue="default", method="testapp.jobs.noop", kwargs={"n": n}, timeout=300,
                     at_front=n % 2 == 0) for n in range(4)]
    results = enqueue_many(client, keys, specs)
    assert all(r.status == "enqueued" for r in results)
    assert _index(client, keys) == _queue(client, keys)
    assert tail in _index(client, keys)


def test_a_claim_behind_a_changed_head_still_takes_its_ids_out(bench) -> None:
    """A list some tool changed (here: an id of no job at its head) is not taken by position."""
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    a = add_job(client, bid, SITE, "testapp.jobs.noop")
    b = add_job(client, bid, SITE, "testapp.jobs.noop")
    client.lpush(keys.index("queued", "default", SITE), f"{keys.tag}_stray")
    assert [job.id for job in Dispatcher(client, keys, "w1").claim_batch(["default"], 1)] == [a]
    assert _index(client, keys) == [f"{keys.tag}_stray", b]


def test_cancel_and_delete_take_the_id_out(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    ids = [add_job(client, bid, SITE, "testapp.jobs.noop") for _ in range(4)]
    actions.cancel_jobs(client, bench.bench, [ids[1]])
    actions.delete_jobs(client, bench.bench, [ids[2]])
    assert _index(client, keys) == [ids[0], ids[3]] == _queue(client, keys)
    assert client.exists(job_key(ids[2])) == 0


def _old_layout(client, keys: Keys, count: int, site: str = SITE) -> list[str]:
    """Queued jobs whose site index is a ZSET, as enqueue wrote it before the LIST: scores out of the
    order the ids were pushed, so the conversion's order is seen."""
    ids = [add_job(client, keys.bench_id, site, "testapp.jobs.noop") for _ in range(count)]
    key = keys.index("queued", "default", site)
    now = time.time()
    client.delete(key)
    client.zadd(key, {job_id: now - n for n, job_id in enumerate(ids)})  # the last pushed scores oldest
    return ids[::-1]


def test_a_script_converts_an_old_zset_in_score_order(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    by_score = _old_layout(client, keys, 3)
    new = add_job(client, bid, SITE, "testapp.jobs.noop")  # its RPUSH meets the ZSET: WRONGTYPE, converted
    assert client.type(keys.index("queued", "default", SITE)) == b"list"
    assert _index(client, keys) == [*by_score, new]


def test_a_claim_converts_an_old_zset(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    by_score = _old_layout(client, keys, 3)
    claimed = Dispatcher(client, keys, "w1").claim_batch(["default"], 1)
    assert len(claimed) == 1
    assert _index(client, keys) == [i for i in by_score if i != claimed[0].id]


def test_readers_convert_an_old_zset(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    by_score = _old_layout(client, keys, 3)
    summary = pending_summary(client, bench.bench, [SITE], ["default"], limit=5)
    assert summary["queues"][0]["pending"] == 3
    assert [job["id"] for job in summary["queues"][0]["jobs"]] == by_score
    assert client.type(keys.index("queued", "default", SITE)) == b"list"

    by_score = _old_layout(client, keys, 2, site="site2.test")
    rows = list_jobs(client, bench.bench, ["site2.test"], ["default"], statuses=["queued"])
    assert [row["id"] for row in rows] == by_score


def test_jobs_repair_converts_every_old_zset(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    one, two = _old_layout(client, keys, 2), _old_layout(client, keys, 2, site="site2.test")
    assert indexes.convert(client, keys, ["default"]) == 2
    assert _index(client, keys) == one and _index(client, keys, "site2.test") == two
    assert indexes.convert(client, keys, ["default"]) == 0  # once
    _old_layout(client, keys, 1)
    assert sum(repair.full(client, keys, ["default"], [SITE, "site2.test"]).values()) == 0
    assert client.type(keys.index("queued", "default", SITE)) == b"list"


def test_pending_merges_sites_in_enqueue_order_and_ages_the_oldest(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    ids = [add_job(client, bid, site, "testapp.jobs.noop") for site in (SITE, "site2.test", SITE, "site2.test")]
    summary = pending_summary(client, bench.bench, [SITE, "site2.test"], ["default"], limit=3)
    [queue] = summary["queues"]
    assert [job["id"] for job in queue["jobs"]] == ids[:3]
    assert queue["pending"] == 4 and queue["oldest_age_seconds"] is not None and queue["oldest_age_seconds"] >= 0
