"""The web side under load: /api/method round trips and dashboard page times at 10,000 and 1,000,000 jobs.

Runs `bench-jobs serve --processes 2` (gunicorn, gthread) against a private redis-server, then:
  1. /api/method/testapp.web_jobs.start_background_job — the seed's whitelisted method, which enqueues
     a job after commit — from C keep-alive client threads for a few seconds: requests/s and p50/p99
     latency, plus one connection in sequence for the latency of an unloaded call. The client runs
     on the same 2 cores as the server (and shares them), so the figure is a lower bound.
  2. Dashboard pages and the jobs API with 10,000 then 1,000,000 queued jobs over 10 sites (bulk
     enqueue): median time of each page over R requests. The pages read through the per-site indexes,
     so their time should not grow with the backlog.

    .venv/bin/python benchmarks/bench_web.py                 # 1,000,000 jobs (about 1 GB in Redis)
    .venv/bin/python benchmarks/bench_web.py --jobs 100000 --seconds 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import quote

from _common import ENV, make_bench, private_redis, scratch_dir

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import JobSpec, enqueue_many
from tests.redis_server import free_port

SITES = [f"site{n}.bench" for n in range(10)]
METHOD = "/api/method/testapp.web_jobs.start_background_job"
CHUNK, BLOCK = 50_000, 500


def load(client, keys: Keys, start: int, stop: int) -> None:
    for low in range(start, stop, CHUNK):
        specs = (JobSpec(site=SITES[n // BLOCK % len(SITES)], queue="default", method="testapp.jobs.add",
                         kwargs={"a": n, "b": 1}, timeout=300) for n in range(low, min(low + CHUNK, stop)))
        enqueue_many(client, keys, specs)


def hammer(port: int, headers: dict[str, str], body: bytes, threads: int, seconds: float) -> dict[str, float]:
    """C threads, each on its own keep-alive connection, POSTing for `seconds`."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            conn.request("POST", METHOD, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "errors": errors[0],
            "p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)]}


def page_times(port: int, token: str, paths: list[str], runs: int) -> dict[str, float]:
    out = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for path in paths:
        samples = []
        for _ in range(runs):
            began = time.perf_counter()
            conn.request("GET", quote(path, safe="/?=&:,"), headers={"Authorization": f"token {token}",
                                                                     "Host": SITES[0]})
            response = conn.getresponse()
            response.read()
            samples.append(time.perf_counter() - began)
            assert response.status == 200, (path, response.status)
        out[path] = 1000 * statistics.median(samples)
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="the big backlog (default 1,000,000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the requests/s run")
    parser.add_argument("--threads", type=int, default=8, help="client connections in the requests/s run")
    parser.add_argument("--runs", type=int, default=15, help="requests per page for its median")
    args = parser.parse_args()

    with scratch_dir("bench-web-") as tmp, private_redis(tmp / "redis") as server:
        bench = make_bench(tmp / "bench", server, sites=tuple(SITES))
        client, keys = server.client(), Keys(bench.bench_id)
        made = subprocess.run([sys.executable, "-m", "bench_jobs", "--bench", str(bench.path), "--site", SITES[0],
                               "api-key", "create", "--role", "admin"], capture_output=True, text=True, env=ENV,
                              check=True)
        token = made.stdout.strip()
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "bench_jobs", "--bench", str(bench.path), "--site", SITES[0],
                                 "serve", "--port", str(port), "--processes", "2"], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/assets/bench_jobs/call.js", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
            body = json.dumps({"doc_name": "DOC-001"}).encode()
            hammer(port, headers, body, 2, 1.0)  # warm up: imports, scrypt check cached per process
            single = hammer(port, headers, body, 1, min(args.seconds, 3.0))
            loaded = hammer(port, headers, body, args.threads, args.seconds)
            sent = sum(client.llen(keys.index("queued", "default", s)) for s in SITES)
            print("/api/method (enqueues a job), gunicorn 2 processes x 8 threads, client on the same 2 cores:")
            print(f"  1 connection:  {single['rps']:7.0f} requests/s  p50 {single['p50_ms']:.2f} ms")
            print(f"  {args.threads} connections: {loaded['rps']:7.0f} requests/s  p50 {loaded['p50_ms']:.2f} ms  "
                  f"p99 {loaded['p99_ms']:.2f} ms  errors {loaded['errors']}  jobs enqueued {sent}")

            client.flushdb()
            deep = '/api/resource/RQ Job?filters={"status":"queued","queue":"default"}&limit_start='
            paths = ["/", "/live?what=overview", "/jobs", "/jobs?site=site0.bench",
                     "/jobs?site=site0.bench&queue=default&status=queued&start=900",
                     "/jobs?site=site0.bench&method=testapp.jobs.*", "/workers",
                     '/api/resource/RQ Job?limit_page_length=20&fields=["*"]', deep + "900", deep + "90000"]
            results = {}
            for size in (10_000, args.jobs):
                have = sum(client.llen(keys.index("queued", "default", s)) for s in SITES)
                began = time.perf_counter()
                load(client, keys, have, size)
                print(f"loaded {size:,} queued jobs over {len(SITES)} sites in {time.perf_counter() - began:.1f} s")
                job_id = client.lrange(keys.index("queued", "default", SITES[0]), 0, 0)[0].decode()
                results[size] = page_times(port, token, [*paths, f"/jobs/{job_id}"], args.runs)
            print(f"\ndashboard and API, median of {args.runs} requests (ms):")
            sizes = list(results)
            print(f"  {'page':<78} " + " ".join(f"{s:>12,}" for s in sizes))
            for index, path in enumerate(results[sizes[0]]):
                label = path if not path.startswith("/jobs/") or "?" in path else "/jobs/<id> (job detail)"
                row = [list(results[s].values())[index] for s in sizes]
                print(f"  {label:<78} " + " ".join(f"{v:12.1f}" for v in row))
        finally:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    main()
