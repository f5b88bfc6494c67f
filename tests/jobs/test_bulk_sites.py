"""Bulk enqueue with jobs of many sites interleaved: one script call per run of alike jobs whatever
their sites, and each job still lands in its own site's index with its own bj_site."""

from __future__ import annotations

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import JobSpec, enqueue_many
from tests.worker_helpers import job


def test_interleaved_sites_share_calls_and_keep_their_indexes(bench) -> None:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    sites = ["site1.test", "site2.test", "site3.test"]
    specs = [JobSpec(site=sites[n % 3], queue="default", method="testapp.jobs.add", kwargs={"a": n, "b": 1},
                     timeout=300, run_at=(10**10 if n == 4 else None)) for n in range(9)]
    client.config_resetstat()
    results = enqueue_many(client, keys, specs)
    assert [r.status for r in results] == ["enqueued"] * 9
    calls = client.info("commandstats")
    assert calls["cmdstat_evalsha"]["calls"] == 1  # one call for the nine, three sites mixed
    for n, result in enumerate(results):
        assert job(client, result.id)["bj_site"] == sites[n % 3]
    queued = {s: {m.decode() for m in client.lrange(keys.index("queued", "default", s), 0, -1)} for s in sites}
    assert queued == {s: {r.id for n, r in enumerate(results) if n % 3 == i and n != 4} for i, s in enumerate(sites)}
    assert client.zrange(keys.index("scheduled", "default", "site2.test"), 0, -1) == [results[4].id.encode()]
    assert client.lrange(keys.queue("default"), 0, -1) == [r.id.encode() for n, r in enumerate(results) if n != 4]
    assert {m.decode() for m in client.smembers(keys.sites_seen())} == set(sites)
