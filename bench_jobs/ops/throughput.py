"""Jobs ended per minute (last hour) and per hour (last day), from the counters finish.lua keeps.

One home for these figures: the dashboard's chart and `metrics` (bench_jobs_jobs_ended_last_hour)
both read them here. Each read is one pipeline of 60 or 24 HGETALLs, whatever the backlog.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.keys import Keys

if TYPE_CHECKING:
    import redis

OUTCOMES = ("ok", "failed", "retried")
SPANS = {"hour": ("m", 60, 60), "day": ("h", 3600, 24)}  # name -> (key span, bucket seconds, buckets)



def read(client: redis.Redis, keys: Keys, span: str = "hour", now: float | None = None) -> list[dict[str, Any]]:
    """Oldest bucket first: {"t": bucket start (epoch), "counts": {(site, queue, outcome): n}}."""
    kind, seconds, count = SPANS[span]
    last = int((time.time() if now is None else now) // seconds)
    buckets = list(range(last - count + 1, last + 1))
    pipe = client.pipeline(transaction=False)
    for bucket in buckets:
        pipe.hgetall(keys.throughput(kind, bucket))
    out = []
    for bucket, raw in zip(buckets, pipe.execute(), strict=True):
        counts: dict[tuple[str, str, str], int] = {}
        for field, value in raw.items():
            site, _, rest = (text(field) or "").partition("|")
            queue, _, outcome = rest.rpartition("|")
            counts[(site, queue, outcome)] = int(text(value) or "")
        out.append({"t": bucket * seconds, "counts": counts})
    return out


def series(client: redis.Redis, keys: Keys, span: str = "hour", site: str | None = None,
           queue: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
    """Per bucket: {"t", "ok", "failed", "retried"}, summed over the sites and queues selected."""
    rows = []
    for bucket in read(client, keys, span, now):
        row: dict[str, Any] = {"t": bucket["t"], **dict.fromkeys(OUTCOMES, 0)}
        for (s, q, outcome), n in bucket["counts"].items():
            if (site is None or s == site) and (queue is None or q == queue) and outcome in OUTCOMES:
                row[outcome] += n
        rows.append(row)
    return rows


def last_hour_totals(client: redis.Redis, keys: Keys, now: float | None = None) -> dict[tuple[str, str, str], int]:
    """(site, queue, outcome) -> runs ended in the last 60 minutes (what `metrics` exports)."""
    totals: dict[tuple[str, str, str], int] = {}
    for bucket in read(client, keys, "hour", now):
        for label, n in bucket["counts"].items():
            totals[label] = totals.get(label, 0) + n
    return totals
