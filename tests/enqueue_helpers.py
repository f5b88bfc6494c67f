"""Helpers shared by the enqueue tests: point the library at a test bench, read what landed in Redis."""

from __future__ import annotations

from bench_jobs.bench import context
from bench_jobs.jobs.keys import Keys


def use_bench(bench, site: str = "site1.test") -> Keys:
    """Make `bench` the process default (as bench_jobs.init would) with fresh Redis clients."""
    context.reset_clients()
    context.init(site, str(bench.path))
    return Keys(bench.bench.bench_id)


def bench_keys(client, keys: Keys) -> list[str]:
    """Every key of this bench (its own prefix and its RQ queues); the session Redis is shared."""
    found = [*client.scan_iter(f"{keys.prefix}:*"), *client.scan_iter(f"rq:queue:{keys.bench_id}:*")]
    return sorted(k.decode() for k in found)


def job_ids(client, keys: Keys, queue: str = "default") -> list[str]:
    return [v.decode() for v in client.lrange(keys.queue(queue), 0, -1)]


def job_hash(client, job_id: str) -> dict[str, bytes]:
    return {k.decode(): v for k, v in client.hgetall(f"rq:job:{job_id}").items()}
