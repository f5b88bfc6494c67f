"""jobstore: the bulk path writes exactly what the single path writes; once_key; ordering and statuses."""

from __future__ import annotations

import time

import pytest

from bench_jobs.jobs import encoding
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import JobSpec, enqueue_job, enqueue_many
from tests.enqueue_helpers import job_hash, job_ids

VOLATILE = {"created_at", "enqueued_at", "data", "description"}


@pytest.fixture
def setup(bench):
    return bench.client(), Keys(bench.bench.bench_id)


def spec(n: int = 0, **options) -> JobSpec:
    return JobSpec(**{"site": "s1", "queue": "default", "method": "testapp.jobs.add", "kwargs": {"a": n, "b": 1},
                      "timeout": 300, **options})


def test_bulk_job_hash_matches_single_job_hash(setup) -> None:
    client, keys = setup
    options = dict(retry=2, on_success="testapp.enqueue_jobs.on_done", on_failure="testapp.enqueue_jobs.on_done")
    single = enqueue_job(client, keys, job_id=None, **{k: v for k, v in vars(spec(1, **options)).items()
                                                       if k not in ("job_id", "kwargs_json")})
    bulk = enqueue_many(client, keys, [spec(1, **options)])[0]
    one, many = job_hash(client, single.id), job_hash(client, bulk.id)
    assert one.keys() == many.keys()
    assert {k: v for k, v in one.items() if k not in VOLATILE} == {k: v for k, v in many.items() if k not in VOLATILE}
    assert one["data"] == many["data"] and one["description"] == many["description"]


def test_bulk_keeps_order_and_indexes_and_rq_reads_it(setup) -> None:
    from rq.job import Job
    from rq.serializers import JSONSerializer

    client, keys = setup
    specs = [spec(n) for n in range(1200)] + [spec(0, queue="short", site="s2")]
    results = enqueue_many(client, keys, specs, batch_size=500)
    assert [r.status for r in results] == ["enqueued"] * 1201
    assert job_ids(client, keys) == [r.id for r in results[:1200]]
    assert job_ids(client, keys, "short") == [results[-1].id]
    assert client.llen(keys.index("queued", "default", "s1")) == 1200
    assert client.smembers(keys.sites_seen()) == {b"s1", b"s2"}
    assert client.llen(keys.wake("default")) == 1000  # capped
    job = Job.fetch(results[7].id, connection=client, serializer=JSONSerializer)
    assert (job.func_name, job.kwargs) == ("testapp.jobs.add", {"a": 7, "b": 1})


def test_bulk_dedupe_conflict_overload_and_schedule(setup) -> None:
    client, keys = setup
    due = time.time() + 60
    results = enqueue_many(client, keys, [
        spec(0, job_id="x", deduplicate=True), spec(1, job_id="x", deduplicate=True),
        spec(2, job_id="y"), spec(3, job_id="y"),
        spec(4, run_at=due), spec(5, at_front=True),
    ])
    assert [r.status for r in results] == ["enqueued", "duplicate", "enqueued", "conflict", "enqueued", "enqueued"]
    assert encoding.payload_kwargs(job_hash(client, "x")["data"]) == {"a": 0, "b": 1}
    assert job_ids(client, keys) == [results[5].id, "x", "y"]
    assert client.zscore(keys.scheduled(), results[4].id) == pytest.approx(due)

    limited = enqueue_many(client, keys, [spec(n, max_queued=5) for n in range(4)])
    assert [(r.status, r.count) for r in limited] == [("enqueued", 0), ("enqueued", 0), ("overloaded", 5),
                                                        ("overloaded", 5)]
    assert job_hash(client, limited[2].id) == {}


def test_once_key_skips_the_second_enqueue(setup) -> None:
    client, keys = setup
    once = f"{keys.prefix}:test:once"
    first = enqueue_job(client, keys, job_id=None, site="s1", queue="default", method="testapp.jobs.noop",
                        kwargs={}, timeout=60, once_key=once, once_ttl=100)
    second = enqueue_many(client, keys, [spec(0, once_key=once, once_ttl=100)])[0]
    assert (first.status, second.status) == ("enqueued", "skipped")
    assert client.get(once) == first.id.encode() and 0 < client.ttl(once) <= 100
    assert job_ids(client, keys) == [first.id]


def test_scripts_reload_after_script_flush(setup) -> None:
    client, keys = setup
    client.script_flush()
    assert enqueue_job(client, keys, job_id=None, site="s1", queue="default", method="testapp.jobs.noop",
                       kwargs={}, timeout=60).status == "enqueued"
    client.script_flush()
    assert enqueue_many(client, keys, [spec(1)])[0].status == "enqueued"


def test_rq_time_format() -> None:
    assert encoding.rq_time(0) == "1970-01-01T00:00:00.000000Z"


def test_public_enqueue_many(bench) -> None:
    from bench_jobs.bench import context
    from bench_jobs.errors import PayloadError, QueueOverloaded
    from bench_jobs.jobs.enqueue import enqueue_many as public_enqueue_many
    from tests.enqueue_helpers import bench_keys, use_bench

    keys = use_bench(bench)
    try:
        client = bench.client()
        with pytest.raises(PayloadError, match="argument 'when'"):
            public_enqueue_many("testapp.jobs.add", [{"a": 1, "b": 2}, {"when": object()}])
        with pytest.raises(PayloadError, match="must be a dict"):
            public_enqueue_many("testapp.jobs.add", [{"a": 1, "b": 2}, [1, 2]])
        assert bench_keys(client, keys) == []

        ids = public_enqueue_many("testapp.jobs.add", ({"a": n, "b": 1} for n in range(3)), queue="short",
                                  site="site2.test", retry=1)
        assert job_ids(client, keys, "short") == ids
        data = job_hash(client, ids[0])
        assert (data["bj_site"], data["bj_retry"], data["timeout"]) == (b"site2.test", b"1", b"300")

        bench.set_config(max_queued_jobs=5)
        context.local().bench.reload()  # the process's Bench caches config, as a long-lived worker would
        with pytest.raises(QueueOverloaded) as info:
            public_enqueue_many("testapp.jobs.noop", [{}] * 4, queue="short")
        assert len(info.value.enqueued) == 2 and "2 of 4 jobs were enqueued" in info.value.message
        assert len(job_ids(client, keys, "short")) == 5
    finally:
        context._default = None


def test_stale_hash_without_status_is_replaced_not_merged(setup) -> None:
    client, keys = setup
    for n, send in enumerate((lambda s: enqueue_many(client, keys, [s])[0],
                              lambda s: enqueue_job(client, keys, **{k: v for k, v in vars(s).items()
                                                                     if k != "kwargs_json"}))):
        client.hset(f"rq:job:stale{n}", mapping={"bj_result": "old", "exc_info": "old"})
        assert send(spec(n, job_id=f"stale{n}")).status == "enqueued"
        data = job_hash(client, f"stale{n}")
        assert "bj_result" not in data and "exc_info" not in data and data["status"] == b"queued"


class _Repeating(Keys):
    """Keys whose generated ids repeat (`taken` first): what 72 random bits make rare, made certain."""

    taken: str = ""

    def new_job_id(self) -> str:
        return self.taken

    def new_job_ids(self, count: int) -> list[str]:
        return [self.taken] * count


def test_a_fresh_id_that_names_a_job_is_lengthened_and_the_job_left_alone(setup) -> None:
    client, keys = setup
    first = enqueue_job(client, keys, job_id=None, site="s1", queue="default", method="testapp.jobs.add",
                        kwargs={"a": 1, "b": 1}, timeout=300)
    before = job_hash(client, first.id)
    repeating = _Repeating(keys.bench_id)
    object.__setattr__(repeating, "taken", first.id)
    single = enqueue_job(client, repeating, job_id=None, site="s1", queue="default", method="testapp.jobs.add",
                         kwargs={"a": 2, "b": 2}, timeout=300)
    bulk = enqueue_many(client, repeating, [spec(3), spec(4)])
    assert single.id == f"{first.id}-1" and single.status == "enqueued"
    assert [r.id for r in bulk] == [f"{first.id}-2", f"{first.id}-3"]
    assert job_hash(client, first.id) == before  # the first job is untouched
    assert job_ids(client, keys) == [first.id, single.id, *(r.id for r in bulk)]
    assert encoding.payload_kwargs(client.hget(f"rq:job:{bulk[1].id}", "data")) == {"a": 4, "b": 1}


def test_generated_ids_are_the_tag_and_twelve_characters_of_rqs_alphabet(setup) -> None:
    from bench_jobs.jobs.keys import RQ_ID_RE

    _, keys = setup
    ids = [keys.new_job_id(), *keys.new_job_ids(50)]
    assert len(set(ids)) == 51
    for job_id in ids:
        assert job_id.startswith(f"{keys.tag}_") and len(job_id) == len(keys.tag) + 13 and RQ_ID_RE.match(job_id)
