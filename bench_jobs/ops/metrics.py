"""Prometheus metrics for one bench, read from Redis on every scrape (a custom Collector).

Nothing is counted in this process: each scrape asks the same bounded queries the listings use
(inspect.pending_summary, workers.list_workers) plus the duration histogram that workers keep in
`bj:{B}:metrics:durations`, so any number of `metrics --serve` processes agree with each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bench_jobs.jobs.encoding import text
from bench_jobs.jobs.keys import Keys

if TYPE_CHECKING:
    import redis
    from prometheus_client.metrics_core import Metric

    from bench_jobs.bench.layout import Bench

NAMESPACE = "bench_jobs"
QUEUE_STATES = ("pending", "started", "scheduled", "failed")



def queue_families(client: redis.Redis, bench: Bench) -> Iterator[Metric]:
    from prometheus_client.core import GaugeMetricFamily

    from bench_jobs.jobs.queries import known_sites, pending_summary

    summary = pending_summary(client, bench, known_sites(client, bench), bench.queue_names(), limit=0,
                              all_sites=True)
    jobs = GaugeMetricFamily(f"{NAMESPACE}_queue_jobs", "Jobs per queue and state, all sites.",
                             labels=["queue", "state"])
    oldest = GaugeMetricFamily(f"{NAMESPACE}_queue_oldest_job_age_seconds",
                               "Age of the oldest pending job (0 when the queue is empty).", labels=["queue"])
    foreign = GaugeMetricFamily(f"{NAMESPACE}_queue_foreign_jobs",
                                "Queued or running jobs bench-jobs did not write (Frappe's RQ jobs), left alone.",
                                labels=["queue"])
    for row in summary["queues"]:
        counts = {"pending": row["pending"], "started": row["started"], "scheduled": row["scheduled"],
                  "failed": row["failed"]}
        for state in QUEUE_STATES:
            jobs.add_metric([row["queue"], state], counts[state])
        oldest.add_metric([row["queue"]], row["oldest_age_seconds"] or 0.0)
        foreign.add_metric([row["queue"]], row.get("foreign_pending", 0))
    yield jobs
    yield oldest
    yield foreign


def worker_families(client: redis.Redis, bench: Bench) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from bench_jobs.jobs.workers import list_workers

    rows = list_workers(client, Keys(bench.bench_id))
    state = GaugeMetricFamily(f"{NAMESPACE}_worker_state", "1 for the state each worker is in.",
                              labels=["worker", "hostname", "state"])
    done = CounterMetricFamily(f"{NAMESPACE}_worker_jobs", "Jobs a worker ended, by result.",
                               labels=["worker", "result"])
    busy = CounterMetricFamily(f"{NAMESPACE}_worker_working_seconds", "Seconds a worker spent running jobs.",
                               labels=["worker"])
    per_queue = GaugeMetricFamily(f"{NAMESPACE}_queue_workers", "Live workers serving each queue.",
                                  labels=["queue"])
    serving = dict.fromkeys(bench.queue_names(), 0)
    for row in rows:
        state.add_metric([row["name"], row["hostname"] or "", row["state"] or "unknown"], 1)
        done.add_metric([row["name"], "successful"], row["successful"])
        done.add_metric([row["name"], "failed"], row["failed"])
        busy.add_metric([row["name"]], row["total_working_time"])
        if row["state"] != "dead":
            for queue in row["queues"]:
                serving[queue] = serving.get(queue, 0) + 1
    for queue, count in serving.items():
        per_queue.add_metric([queue], count)
    yield from (state, done, busy, per_queue)


def duration_buckets(raw: dict[Any, Any]) -> dict[tuple[str, str], dict[str, float]]:
    """'{queue}|{method}|{le}' -> count (plus '|sum', '|count') into {(queue, method): {le: n}}.

    Workers count each run in its own bucket only; Prometheus wants cumulative buckets, which
    `histogram_family` builds.
    """
    series: dict[tuple[str, str], dict[str, float]] = {}
    for field, value in raw.items():
        head, _, le = (text(field) or "").rpartition("|")
        queue, _, method = head.partition("|")
        if queue and method and le:
            series.setdefault((queue, method), {})[le] = float(text(value) or "")
    return series


def histogram_family(series: dict[tuple[str, str], dict[str, float]]) -> Metric:
    from prometheus_client.core import HistogramMetricFamily

    from bench_jobs.jobs.dispatch import BUCKETS

    family = HistogramMetricFamily(f"{NAMESPACE}_job_duration_seconds", "Run time of jobs, by queue and method.",
                                   labels=["queue", "method"])
    for (queue, method), counts in sorted(series.items()):
        running, buckets = 0.0, []
        for le in (*BUCKETS, "+Inf"):
            running += counts.get(str(le), 0.0)
            buckets.append((str(float(le)) if le != "+Inf" else "+Inf", running))
        # The recorded count is authoritative for +Inf (every run lands in exactly one bucket).
        buckets[-1] = ("+Inf", counts.get("count", running))
        family.add_metric([queue, method], buckets, counts.get("sum", 0.0))
    return family


def duration_families(client: redis.Redis, bench: Bench) -> Iterator[Metric]:
    yield histogram_family(duration_buckets(client.hgetall(Keys(bench.bench_id).durations())))


def lag_labels(field: str) -> list[str] | None:
    """'{site}|{event}|[{cron}|]{method}' (the site, then ScheduledEvent.key) -> [site, event, cron, method]."""
    site, *rest = field.split("|")
    if not site or len(rest) not in (2, 3):
        return None
    event, method = rest[0], rest[-1]
    return [site, event, rest[1] if len(rest) == 3 else "", method]


def scheduler_families(client: redis.Redis, bench: Bench) -> Iterator[Metric]:
    """Lag per site and event, as the scheduler records it in `bj:{B}:scheduler:lag`
    ('{site}|{event key}' -> seconds between the event's due slot and its enqueue)."""
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(f"{NAMESPACE}_scheduler_lag_seconds",
                               "Seconds between an event's due slot and its last enqueue.",
                               labels=["site", "event", "cron", "method"])
    for field, value in sorted(client.hgetall(Keys(bench.bench_id).scheduler_lag()).items()):
        labels = lag_labels(text(field) or "")
        if labels:
            family.add_metric(labels, float(text(value) or ""))
    yield family


def throughput_families(client: redis.Redis, bench: Bench) -> Iterator[Metric]:
    """Runs ended in the last hour per site, queue and outcome: the dashboard chart's figures."""
    from prometheus_client.core import GaugeMetricFamily

    from bench_jobs.ops.throughput import last_hour_totals

    family = GaugeMetricFamily(f"{NAMESPACE}_jobs_ended_last_hour",
                               "Job runs ended in the last 60 minutes (ok, failed, retried).",
                               labels=["site", "queue", "outcome"])
    for (site, queue, outcome), count in sorted(last_hour_totals(client, Keys(bench.bench_id)).items()):
        family.add_metric([site, queue, outcome], count)
    yield family


SOURCES = (queue_families, worker_families, duration_families, scheduler_families, throughput_families)


class BenchCollector:
    """Reads the bench's state from Redis each time Prometheus scrapes."""

    def __init__(self, bench: Bench, strict: bool = False) -> None:
        self.bench = bench
        self.strict = strict  # one-shot `metrics` reports a down Redis as an error; --serve as up=0

    def _client(self) -> redis.Redis:
        from bench_jobs.bench.context import redis_for

        return redis_for(self.bench)

    def collect(self) -> Iterator[Metric]:
        import redis
        from prometheus_client.core import GaugeMetricFamily

        from bench_jobs.bench.connection import translate

        started = time.perf_counter()
        families: list[Metric] = []
        up = 1
        try:
            client = self._client()
            for source in SOURCES:
                families.extend(source(client, self.bench))
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError, redis.ResponseError) as exc:
            if self.strict:
                raise translate(exc, self.bench) from None
            families, up = [], 0
        yield GaugeMetricFamily(f"{NAMESPACE}_up", "1 when the bench's Redis answered this scrape.", value=up)
        yield from families
        yield GaugeMetricFamily(f"{NAMESPACE}_scrape_duration_seconds", "Time this scrape took.",
                                value=round(time.perf_counter() - started, 6))


def registry(bench: Bench, strict: bool = False):
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(BenchCollector(bench, strict))
    return reg


def exposition(bench: Bench) -> str:
    """The metrics as Prometheus text, once (raises RedisUnavailable when Redis is down)."""
    from prometheus_client import generate_latest

    return generate_latest(registry(bench, strict=True)).decode("utf-8")
