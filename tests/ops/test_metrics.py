"""metrics: Prometheus text from the bench's Redis, printed once or served over HTTP."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench_jobs.jobs.dispatch import Dispatcher, Ending
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import enqueue_job
from bench_jobs.jobs.workers import register_worker
from tests.conftest import BenchFixture, assert_clean_error, make_bench


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text document (parsed by the real parser)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def enqueue(bench: BenchFixture, queue: str = "default", method: str = "testapp.jobs.noop", site: str = "site1.test"):
    return enqueue_job(bench.client(), Keys(bench.bench.bench_id), job_id=None, site=site, queue=queue,
                       method=method, kwargs={}, timeout=300)


def run_one(bench: BenchFixture, duration: float, status: str = "finished") -> str:
    """Claim and finish one job through the workers' own scripts, as a worker named w1 would."""
    keys = Keys(bench.bench.bench_id)
    register_worker(bench.client(), keys, "w1", ["default", "short"], alive_ttl=30)
    dispatcher = Dispatcher(bench.client(), keys, "w1")
    job = dispatcher.claim(["default"])
    assert job is not None
    dispatcher.finish(job, Ending(status=status, duration=duration, error="" if status == "finished" else "boom"))
    return job.id


def test_metrics_once(bench):
    for _ in range(3):
        enqueue(bench)
    enqueue(bench, queue="long", site="site2.test")
    run_one(bench, 0.02)
    lags = {"site1.test|daily|testapp.jobs.noop": 0.004, "site2.test|cron|*/5 * * * *|testapp.jobs.noop": 0.2}
    bench.client().hset(Keys(bench.bench.bench_id).scheduler_lag(), mapping=lags)
    result = bench.cli("metrics", site=None)
    assert result.exit_code == 0, result.stderr
    got = samples(result.stdout)
    assert got[("bench_jobs_up", ())] == 1
    assert got[("bench_jobs_queue_jobs", (("queue", "default"), ("state", "pending")))] == 2
    assert got[("bench_jobs_queue_jobs", (("queue", "long"), ("state", "pending")))] == 1  # all sites
    assert got[("bench_jobs_queue_jobs", (("queue", "short"), ("state", "pending")))] == 0
    assert got[("bench_jobs_queue_oldest_job_age_seconds", (("queue", "default"),))] >= 0
    assert got[("bench_jobs_queue_workers", (("queue", "default"),))] == 1
    assert got[("bench_jobs_queue_workers", (("queue", "long"),))] == 0
    host = next(dict(k[1])["hostname"] for k in got if k[0] == "bench_jobs_worker_state")
    assert got[("bench_jobs_worker_state", (("hostname", host), ("state", "idle"), ("worker", "w1")))] == 1
    assert got[("bench_jobs_worker_jobs_total", (("result", "successful"), ("worker", "w1")))] == 1
    # The histogram is cumulative: a 20 ms run is above 10 ms and within 25 ms.
    labels = (("method", "testapp.jobs.noop"), ("queue", "default"))
    assert got[("bench_jobs_job_duration_seconds_bucket", (("le", "0.01"), *labels))] == 0
    assert got[("bench_jobs_job_duration_seconds_bucket", (("le", "0.025"), *labels))] == 1
    assert got[("bench_jobs_job_duration_seconds_bucket", (("le", "+Inf"), *labels))] == 1
    assert got[("bench_jobs_job_duration_seconds_count", labels)] == 1
    assert got[("bench_jobs_job_duration_seconds_sum", labels)] == pytest.approx(0.02)
    lag = "bench_jobs_scheduler_lag_seconds"
    daily = (("cron", ""), ("event", "daily"), ("method", "testapp.jobs.noop"), ("site", "site1.test"))
    cron = (("cron", "*/5 * * * *"), ("event", "cron"), ("method", "testapp.jobs.noop"), ("site", "site2.test"))
    assert got[(lag, daily)] == pytest.approx(0.004)
    assert got[(lag, cron)] == pytest.approx(0.2)


def test_metrics_redis_down_is_a_clean_error(tmp_path, redis_factory):
    server = redis_factory()
    bench = BenchFixture(make_bench(tmp_path / "b", server), server)
    server.stop()
    assert_clean_error(bench.cli("metrics", site=None), "not reachable")


def test_parse_address():
    from bench_jobs.cli.metrics import parse_address
    from bench_jobs.errors import BenchJobsError

    assert parse_address("9200") == ("127.0.0.1", 9200)
    assert parse_address(":9200") == ("127.0.0.1", 9200)
    assert parse_address("0.0.0.0:9200") == ("0.0.0.0", 9200)
    assert parse_address("[::1]:9200") == ("::1", 9200)
    with pytest.raises(BenchJobsError):
        parse_address("localhost:http")


def _serve(bench: BenchFixture, address: str = "127.0.0.1:0") -> tuple[subprocess.Popen, str]:
    proc = bench.popen("metrics", "--serve", address, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"http://(127\.0\.0\.1:\d+)/metrics", line)
    assert match, line + proc.stderr.read() if proc.poll() is not None else line
    return proc, f"http://{match.group(1)}/metrics"


def _scrape(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return samples(response.read().decode())


@pytest.mark.slow
def test_metrics_served_over_http_read_redis_on_every_scrape(tmp_path, redis_factory):
    server = redis_factory()
    bench = BenchFixture(make_bench(tmp_path / "b", server), server)
    proc, url = _serve(bench)
    try:
        pending = ("bench_jobs_queue_jobs", (("queue", "short"), ("state", "pending")))
        assert _scrape(url)[pending] == 0
        enqueue(bench, queue="short")
        assert _scrape(url)[pending] == 1
        # Redis goes away: the endpoint still answers, with up=0, and recovers when Redis is back.
        server.stop()
        assert _scrape(url)[("bench_jobs_up", ())] == 0
        server.start()
        deadline = time.monotonic() + 10
        while _scrape(url)[("bench_jobs_up", ())] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_binds_loopback_by_default(bench):
    proc, url = _serve(bench, "0")  # a port alone: loopback, never all interfaces
    try:
        assert url.startswith("http://127.0.0.1:")
        assert _scrape(url)[("bench_jobs_up", ())] == 1
    finally:
        proc.terminate()
        proc.wait(10)
