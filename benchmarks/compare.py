"""bench-jobs side by side with RQ (SimpleWorker, Worker) and Celery (solo, prefork; Redis broker), same run.

Every row of issue 13's table, plus scaling with 1/2/4/8 worker processes and 10 vs 1,000 sites.
Each repetition runs every measurement once, all sides back to back on one private redis-server
(flushed between measurements), so machine noise hits the anchors and bench-jobs alike: compare
ratios first. Before starting it waits for the load average to fall below --load-below (at most
--quiet-timeout seconds) and says so in the output if it never did.

    .venv/bin/python benchmarks/compare.py                  # 3 repetitions, full sizes (~15 min)
    .venv/bin/python benchmarks/compare.py --quick          # 1 repetition, small sizes (~2 min)
    .venv/bin/python benchmarks/compare.py --markdown       # also print the README section
    .venv/bin/python benchmarks/compare.py --readme README.md   # rewrite the README's section in place

Needs the `bench` extra (`pip install -e ".[test,bench]"`) for Celery.
Figures: medians over the repetitions, with min-max; "vs" = how many times better bench-jobs is
(rates: ours / theirs; times, bytes and commands: theirs / ours).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import ENV, ROOT, make_bench, parse_stamp, private_redis, scratch_dir

from bench_jobs.bench.config import update_json
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import JobSpec, enqueue_many

NOOP = "testapp.jobs.noop"
ADD = "testapp.jobs.add"
SITE = "site1.test"
# The bench id of a standard Frappe install (/home/frappe/frappe-bench), set rather than derived from the
# scratch directory: job ids begin with it, so a random temp name (whose '_' made the tag a 13-character
# digest, else 32 characters of path) moved bytes per queued job by ~60 B from run to run.
BENCH_ID = "home-frappe-frappe-bench"
PY = sys.executable
BIN = Path(PY).parent
MARK_START = "<!-- compare.py:start -->"
MARK_END = "<!-- compare.py:end -->"
TIMES, DASH = "\u00d7", "\u2013"  # the multiplication sign and the en dash of the printed table


@dataclass
class Sizes:
    drain: int = 20_000  # jobs per bench-jobs drain
    rq_drain: int = 4_000  # RQ SimpleWorker drains ~300/s here: fewer jobs, same rate
    rq_fork_drain: int = 600
    celery_drain: int = 10_000
    iso_drain: int = 4_000
    latency: int = 200
    single: int = 3_000
    memory: int = 100_000
    commands: int = 5_000
    bulk: int = 50_000
    starts: int = 7
    scaling: int = 20_000


QUICK = Sizes(drain=4_000, rq_drain=800, rq_fork_drain=150, celery_drain=2_000, iso_drain=800, latency=50,
              single=500, memory=20_000, commands=1_000, bulk=10_000, starts=3, scaling=4_000)


# -- plumbing ---------------------------------------------------------------------------------------
def wait_quiet(threshold: float, timeout: float) -> tuple[bool, float]:
    """Wait until the 1-minute load average is below `threshold`; (quiet?, load when we went on)."""
    deadline = time.monotonic() + timeout
    while True:
        load = os.getloadavg()[0]
        if load < threshold:
            return True, load
        if time.monotonic() >= deadline:
            return False, load
        time.sleep(5)


def run_all(commands: list[list[str]], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900) -> None:
    procs = [subprocess.Popen(cmd, env=env or ENV, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for cmd in commands]
    for proc in procs:
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err.decode()[-2000:]


def span(client: Any, ids: list[str]) -> float:
    """Seconds from the first job's start to the last job's end (RQ-style job hashes, both sides)."""
    rows = []
    for start in range(0, len(ids), 5000):
        with client.pipeline(transaction=False) as pipe:
            for job_id in ids[start:start + 5000]:
                pipe.hmget(f"rq:job:{job_id}", "started_at", "ended_at", "status")
            rows += pipe.execute()
    done = [r for r in rows if r[2] == b"finished"]
    assert len(done) == len(ids), f"only {len(done)} of {len(ids)} finished"
    return max(parse_stamp(r[1]) for r in done) - min(parse_stamp(r[0]) for r in done)


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def command_calls(client: Any) -> int:
    """Commands Redis ran since CONFIG RESETSTAT, those called from Lua scripts included."""
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_config"))


WAKE_WAITER = """import sys, time, redis
client = redis.Redis.from_url(sys.argv[1])
client.set("floor:ready", "1")
while True:
    if client.blpop(["floor:wake"], timeout=1):
        client.rpush("floor:woke", repr(time.time()))
"""


# -- the sides ---------------------------------------------------------------------------------------
class Lab:
    """One redis-server and one bench for the whole run; each measurement starts from FLUSHALL."""

    def __init__(self, tmp: Path, server: Any, sizes: Sizes) -> None:
        self.tmp, self.server, self.sizes = tmp, server, sizes
        self.client = server.client()
        self.bench = make_bench(tmp / "bench", server, sites=(SITE,))
        update_json(self.bench.common_config_file, {"bench_id": BENCH_ID})
        self.bench.reload()
        self.keys = Keys(self.bench.bench_id)
        self.sites_1000 = [f"s{n:04d}.test" for n in range(1000)]
        self.worker = [PY, "-m", "bench_jobs", "--bench", str(self.bench.path), "worker", "--quiet"]
        self.rq = [str(BIN / "rq"), "worker", "-u", server.url, "-q", "default", "--burst", "--quiet"]
        self.celery_env = {**ENV, "BJ_CELERY_BROKER": server.url,
                           "PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks"), ENV["PYTHONPATH"]])}

    def fresh(self) -> None:
        self.client.flushall()

    # bench-jobs ------------------------------------------------------------------------------------
    def enqueue_ours(self, count: int, sites: list[str] | None = None, method: str = NOOP,
                     kwargs: dict[str, Any] | None = None) -> list[str]:
        sites = sites or [SITE]
        specs = (JobSpec(site=sites[n % len(sites)], queue="default", method=method, kwargs=kwargs or {}, timeout=300)
                 for n in range(count))
        return [r.id for r in enqueue_many(self.client, self.keys, specs)]

    def drain_ours(self, procs: int, count: int, extra: tuple[str, ...] = ("--no-fork",),
                   sites: list[str] | None = None) -> float:
        self.fresh()
        ids = self.enqueue_ours(count, sites)
        run_all([[*self.worker, *extra, "--burst"]] * procs, self.tmp)
        return count / span(self.client, ids)

    # RQ --------------------------------------------------------------------------------------------
    def drain_rq(self, procs: int, count: int, worker_class: str) -> float:
        from rq import Queue

        self.fresh()
        queue = Queue("default", connection=self.client)
        ids = [j.id for j in queue.enqueue_many([Queue.prepare_data(NOOP) for _ in range(count)])]
        run_all([[*self.rq, "-w", worker_class]] * procs, self.tmp)
        return count / span(self.client, ids)

    # Celery ----------------------------------------------------------------------------------------
    def drain_celery(self, procs: int, count: int, pool: str, concurrency: int = 1) -> float:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        os.environ["BJ_CELERY_BROKER"] = self.server.url
        from celery_tasks import app

        app.conf.broker_url = self.server.url
        self.fresh()
        with app.producer_or_acquire() as producer:
            for _ in range(count):
                app.send_task("noop", producer=producer)
        out = self.tmp / f"celery-{time.monotonic_ns()}"
        out.mkdir()
        env = {**self.celery_env, "BJ_CELERY_OUT": str(out)}
        cmd = [str(BIN / "celery"), "-A", "celery_tasks", "worker", "--pool", pool, "-c", str(concurrency),
               "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        procs_ = [subprocess.Popen([*cmd, "-n", f"w{n}@%h"], env=env, cwd=self.tmp, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) for n in range(procs)]
        try:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                if self.client.llen("celery") == 0 and self.client.hlen("unacked") == 0:
                    break
                time.sleep(0.05)
            time.sleep(0.5)  # the last task each process took before its ack was emptied
        finally:
            for proc in procs_:
                proc.send_signal(signal.SIGTERM)
            for proc in procs_:
                proc.wait(60)
        seen = [json.loads(p.read_text()) for p in out.glob("*.json")]
        done = sum(s["count"] for s in seen)
        assert done == count, f"celery ran {done} of {count}"
        return count / (max(s["last"] for s in seen) - min(s["first"] for s in seen))

    # idle dispatch -----------------------------------------------------------------------------------
    def wake_floor(self) -> list[float]:
        """What any Redis-based dispatch pays here: an idle process blocked in a bare redis-py BLPOP, woken
        by an LPUSH sent every 20 ms as `latency` sends jobs; seconds from before the push to the wake-up."""
        waiter = subprocess.Popen([PY, "-c", WAKE_WAITER, self.server.url], env=ENV, cwd=self.tmp)

        def push() -> Callable[[], float | None]:
            self.client.lpush("floor:wake", "1")
            return lambda: float(woke) if (woke := self.client.lpop("floor:woke")) is not None else None

        try:
            return self.samples(lambda: self.client.exists("floor:ready"), push)
        finally:
            waiter.kill()
            waiter.wait(30)

    def latency(self, cmd: list[str], ready: Callable[[], object], enqueue: Callable[[], str]) -> list[float]:
        proc = subprocess.Popen(cmd, env=ENV, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def send() -> Callable[[], float | None]:
            key = f"rq:job:{enqueue()}"

            def started() -> float | None:
                # Read once the job ended: then `started_at` is when the worker began it, on both sides
                # (bench-jobs' claim writes one first, which the finish replaces with the job's start).
                stamp, ended = self.client.hmget(key, "started_at", "ended_at")
                return parse_stamp(stamp) if stamp and ended else None
            return started

        try:
            return self.samples(ready, send)
        finally:
            proc.terminate()
            proc.wait(30)

    def samples(self, ready: Callable[[], object], fire: Callable[[], Callable[[], float | None]]) -> list[float]:
        """Once `ready()`, `sizes.latency` times 20 ms apart: seconds from before `fire()` to the time stamp
        the probe it returns reads. Polled every 2 ms: the stamp is what is measured, and a tighter loop
        would take a core from the worker and Redis on a 2-core machine (both sides alike)."""
        while not ready():
            time.sleep(0.05)
        time.sleep(0.5)
        lat = []
        for _ in range(self.sizes.latency):
            t0 = time.time()
            probe = fire()
            while (stamp := probe()) is None:
                time.sleep(0.002)
            lat.append(stamp - t0)
            time.sleep(0.02)
        return lat


# -- measurements: each returns {figure: value} ------------------------------------------------------------
def m_drain(lab: Lab) -> dict[str, float]:
    s = lab.sizes
    return {
        "ours_2": lab.drain_ours(2, s.drain),
        "rq_simple_2": lab.drain_rq(2, s.rq_drain, "rq.worker.SimpleWorker"),
        "celery_solo_2": lab.drain_celery(2, s.celery_drain, "solo"),
        "ours_1": lab.drain_ours(1, s.drain),
        "celery_solo_1": lab.drain_celery(1, s.celery_drain, "solo"),
    }


def m_isolated(lab: Lab) -> dict[str, float]:
    s = lab.sizes
    return {
        "ours_iso_2": lab.drain_ours(2, s.iso_drain, ()),  # the default: a reused pre-forked child
        "ours_fork_2": lab.drain_ours(2, s.rq_fork_drain, ("--fork-per-job",)),
        "rq_worker_2": lab.drain_rq(2, s.rq_fork_drain, "rq.worker.Worker"),
        "celery_prefork_2": lab.drain_celery(1, s.celery_drain, "prefork", 2),
    }


def m_latency(lab: Lab) -> dict[str, float]:
    from rq import Queue

    from bench_jobs.jobs.store import enqueue_job

    lab.fresh()
    ours = lab.latency([*lab.worker, "--no-fork"], lambda: lab.client.scard(lab.keys.workers()), lambda: enqueue_job(
        lab.client, lab.keys, job_id=None, site=SITE, queue="default", method=NOOP, kwargs={}, timeout=300).id)
    lab.fresh()
    queue = Queue("default", connection=lab.client)
    rq_cmd = [c for c in lab.rq if c != "--burst"] + ["-w", "rq.worker.SimpleWorker"]
    theirs = lab.latency(rq_cmd, lambda: lab.client.keys("rq:worker:*"), lambda: queue.enqueue(NOOP).id)
    lab.fresh()
    floor = lab.wake_floor()
    return {"ours_p50": pct(ours, 50), "ours_p99": pct(ours, 99), "rq_p50": pct(theirs, 50), "rq_p99": pct(theirs, 99),
            "floor_p50": pct(floor, 50), "floor_p99": pct(floor, 99)}


def m_single(lab: Lab) -> dict[str, float]:
    import bench_jobs
    from bench_jobs.bench import context

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from celery_tasks import app
    from rq import Queue

    count = lab.sizes.single
    context.init(SITE, str(lab.bench.path))
    lab.fresh()
    began = time.perf_counter()
    for n in range(count):
        bench_jobs.enqueue(ADD, a=n, b=1)
    ours = count / (time.perf_counter() - began)
    lab.fresh()
    queue = Queue("default", connection=lab.client)
    began = time.perf_counter()
    for n in range(count):
        queue.enqueue(ADD, kwargs={"a": n, "b": 1})
    rq = count / (time.perf_counter() - began)
    lab.fresh()
    app.conf.broker_url = lab.server.url
    with app.producer_or_acquire() as producer:  # one connection, as a web process would keep
        began = time.perf_counter()
        for n in range(count):
            app.send_task("add", kwargs={"a": n, "b": 1}, producer=producer)
        celery = count / (time.perf_counter() - began)
    lab.fresh()
    sha = lab.client.script_load("return 1")
    began = time.perf_counter()
    for _ in range(count):
        lab.client.evalsha(sha, 0)
    floor = count / (time.perf_counter() - began)
    return {"ours": ours, "rq": rq, "celery": celery, "floor": floor}


def m_memory(lab: Lab) -> dict[str, float]:
    from rq import Queue

    count = lab.sizes.memory

    def measure(load: Callable[[], list[str]]) -> tuple[float, float]:
        lab.fresh()
        time.sleep(0.2)
        before = lab.client.info("memory")["used_memory"]
        ids = load()
        after = lab.client.info("memory")["used_memory"]
        sample = ids[len(ids) // 2]
        return (after - before) / count, float(lab.client.memory_usage(f"rq:job:{sample}", samples=0) or 0)

    ours, ours_hash = measure(lambda: lab.enqueue_ours(count, method=ADD, kwargs={"a": 1, "b": 1}))
    queue = Queue("default", connection=lab.client)
    rq, rq_hash = measure(lambda: [j.id for j in queue.enqueue_many(
        [Queue.prepare_data(ADD, kwargs={"a": 1, "b": 1}) for _ in range(count)], pipeline=None)])
    return {"ours": ours, "ours_hash": ours_hash, "rq": rq, "rq_hash": rq_hash}


def m_commands(lab: Lab) -> dict[str, float]:
    from rq import Queue

    count = lab.sizes.commands
    lab.fresh()
    lab.enqueue_ours(count)
    lab.client.config_resetstat()
    run_all([[*lab.worker, "--no-fork", "--burst"]], lab.tmp)
    ours = command_calls(lab.client) / count
    lab.fresh()
    queue = Queue("default", connection=lab.client)
    queue.enqueue_many([Queue.prepare_data(NOOP) for _ in range(count)])
    lab.client.config_resetstat()
    run_all([[*lab.rq, "-w", "rq.worker.SimpleWorker"]], lab.tmp)
    return {"ours": ours, "rq": command_calls(lab.client) / count}


def m_cpu(lab: Lab) -> dict[str, float]:
    """CPU time per processed job of one `--no-fork` worker and of Redis, and the drain rate two cores
    could give if nothing else ran: 2 s / (worker + Redis) per job. The worker's start and exit
    (a burst over an empty queue) are measured apart and taken off."""
    import resource

    def worker_and_redis_cpu(count: int) -> tuple[float, float]:
        lab.fresh()
        if count:
            lab.enqueue_ours(count)
        before, redis_before = resource.getrusage(resource.RUSAGE_CHILDREN), redis_cpu(lab.client)
        run_all([[*lab.worker, "--no-fork", "--burst"]], lab.tmp)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        return worker, redis_cpu(lab.client) - redis_before

    count = lab.sizes.drain
    start_worker, start_redis = worker_and_redis_cpu(0)
    worker, redis = worker_and_redis_cpu(count)
    per_worker, per_redis = (worker - start_worker) / count * 1e6, (redis - start_redis) / count * 1e6
    return {"worker_us": per_worker, "redis_us": per_redis, "ceiling_2": 2e6 / (per_worker + per_redis)}


def redis_cpu(client: Any) -> float:
    """Seconds of CPU the redis-server has used (user + system)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def m_bulk(lab: Lab) -> dict[str, float]:
    from rq import Queue

    count = lab.sizes.bulk

    def rate(work: Callable[[], object]) -> float:
        lab.fresh()
        began = time.perf_counter()
        work()
        return count / (time.perf_counter() - began)

    def ours(sites: list[str]) -> None:
        specs = (JobSpec(site=sites[n % len(sites)], queue="default", method=ADD, kwargs={"a": n, "b": 1},
                         timeout=300) for n in range(count))
        assert len(enqueue_many(lab.client, lab.keys, specs)) == count

    queue = Queue("default", connection=lab.client)
    return {
        "ours_1000": rate(lambda: ours(lab.sites_1000)),
        "ours_1": rate(lambda: ours([SITE])),
        "rq": rate(lambda: queue.enqueue_many([Queue.prepare_data(ADD, kwargs={"a": n, "b": 1})
                                               for n in range(count)])),
    }


def m_starts(lab: Lab) -> dict[str, float]:
    """Wall time of a whole read command (process start to exit), median of --starts runs each."""
    lab.fresh()
    lab.enqueue_ours(100)
    base = [str(BIN / "bench-jobs"), "--bench", str(lab.bench.path), "--site", SITE]
    commands = {
        "pending": [*base, "show-pending-jobs", "--format", "json"],
        "workers": [*base, "workers", "--format", "json"],
        "jobs_list": [*base, "jobs", "list", "--format", "json"],
        "rq_info": [str(BIN / "rq"), "info", "-u", lab.server.url],
        "import_redis": [PY, "-c", "import redis"],
        "python": [PY, "-c", "pass"],
    }
    out = {}
    for name, cmd in commands.items():
        times = []
        for _ in range(lab.sizes.starts):
            began = time.perf_counter()
            subprocess.run(cmd, env=ENV, cwd=lab.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            times.append((time.perf_counter() - began) * 1000)
        out[name] = statistics.median(times)
    return out


def m_scaling(lab: Lab) -> dict[str, float]:
    count = lab.sizes.scaling
    out = {f"procs_{n}": lab.drain_ours(n, count) for n in (1, 2, 4, 8)}
    out["sites_10"] = lab.drain_ours(2, count, sites=lab.sites_1000[:10])
    out["sites_1000"] = lab.drain_ours(2, count, sites=lab.sites_1000)
    return out


MEASUREMENTS: dict[str, Callable[[Lab], dict[str, float]]] = {
    "drain": m_drain, "isolated": m_isolated, "latency": m_latency, "single": m_single, "memory": m_memory,
    "commands": m_commands, "cpu": m_cpu, "bulk": m_bulk, "starts": m_starts, "scaling": m_scaling,
}


# -- the table --------------------------------------------------------------------------------------------
@dataclass
class Stat:
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self, unit: str, digits: int = 0) -> str:
        fmt = f"{{:,.{digits}f}}"
        med = fmt.format(self.median) + unit
        if len(self.values) < 2:
            return med
        return f"{med} ({fmt.format(min(self.values))}{DASH}{fmt.format(max(self.values))})"


@dataclass
class Row:
    label: str
    ours: str  # "measurement.figure"
    anchors: list[tuple[str, str]]  # (name, "measurement.figure")
    unit: str
    higher_better: bool
    target: str
    check: Callable[[Callable[[str], float]], bool]
    digits: int = 0


ROWS = [
    Row("drain, 2 procs, in-process", "drain.ours_2",
        [(f"Celery solo{TIMES}2", "drain.celery_solo_2"), (f"RQ Simple{TIMES}2", "drain.rq_simple_2")], "/s", True,
        f"≥ 10,000/s and ≥ 3.5{TIMES} Celery solo{TIMES}2", lambda v: v("drain.ours_2") >= 10_000
        and v("drain.ours_2") >= 3.5 * v("drain.celery_solo_2")),
    Row("drain, 1 proc, in-process", "drain.ours_1", [("Celery solo", "drain.celery_solo_1")], "/s", True,
        "≥ 6,000/s", lambda v: v("drain.ours_1") >= 6_000),
    Row("drain, isolated mode, 2 procs", "isolated.ours_iso_2",
        [(f"RQ Worker{TIMES}2", "isolated.rq_worker_2"), ("Celery prefork -c2", "isolated.celery_prefork_2")],
        "/s", True, f"≥ 5{TIMES} RQ Worker and ≥ Celery prefork",
        lambda v: v("isolated.ours_iso_2") >= 5 * v("isolated.rq_worker_2")
        and v("isolated.ours_iso_2") >= v("isolated.celery_prefork_2")),
    Row("  same, a fork per job (--fork-per-job)", "isolated.ours_fork_2",
        [(f"RQ Worker{TIMES}2", "isolated.rq_worker_2")],
        "/s", True, "—", lambda v: True),
    Row("idle dispatch p50 (enqueue → started)", "latency.ours_p50", [("RQ Simple", "latency.rq_p50")], " ms",
        False, "≤ 1 ms", lambda v: v("latency.ours_p50") <= 1, 2),
    Row("idle dispatch p99", "latency.ours_p99", [("RQ Simple", "latency.rq_p99")], " ms", False, "≤ 3 ms",
        lambda v: v("latency.ours_p99") <= 3, 2),
    Row("enqueue one by one (API)", "single.ours", [("RQ", "single.rq"), ("Celery", "single.celery")], "/s", True,
        "≥ 5,000/s", lambda v: v("single.ours") >= 5_000),
    Row("Redis bytes per queued job (INFO memory)", "memory.ours", [("RQ", "memory.rq")], " B", False, "≤ RQ",
        lambda v: v("memory.ours") <= v("memory.rq")),
    Row("  of which the job hash (MEMORY USAGE)", "memory.ours_hash", [("RQ", "memory.rq_hash")], " B", False, "—",
        lambda v: True),
    Row("Redis commands per processed job (scripts incl.)", "commands.ours", [("RQ Simple", "commands.rq")], "",
        False, "≤ 12", lambda v: v("commands.ours") <= 12, 1),
    Row("bulk enqueue, 1,000 sites interleaved", "bulk.ours_1000", [("RQ enqueue_many", "bulk.rq")], "/s", True,
        "≥ 50,000/s", lambda v: v("bulk.ours_1000") >= 50_000),
    Row("  same, one site", "bulk.ours_1", [("RQ enqueue_many", "bulk.rq")], "/s", True, "—", lambda v: True),
    Row("`show-pending-jobs --format json`", "starts.pending", [("rq info", "starts.rq_info"),
        ("import redis", "starts.import_redis")], " ms", False, "< 200 ms", lambda v: v("starts.pending") < 200),
    Row("`workers --format json`", "starts.workers", [("rq info", "starts.rq_info")], " ms", False, "< 200 ms",
        lambda v: v("starts.workers") < 200),
    Row("`jobs list --format json`", "starts.jobs_list", [("rq info", "starts.rq_info")], " ms", False, "< 200 ms",
        lambda v: v("starts.jobs_list") < 200),
]


@dataclass
class Results:
    stats: dict[str, Stat] = field(default_factory=dict)
    quiet: bool = True
    load: float = 0.0
    reps: int = 0
    sizes: Sizes = field(default_factory=Sizes)

    def add(self, name: str, figures: dict[str, float]) -> None:
        for key, value in figures.items():
            self.stats.setdefault(f"{name}.{key}", Stat()).values.append(value)

    def has(self, key: str) -> bool:
        return key in self.stats

    def value(self, key: str) -> float:
        return self.stats[key].median


def versus(ours: float, theirs: float, higher_better: bool) -> str:
    if not ours or not theirs:
        return "—"
    return f"{(ours / theirs if higher_better else theirs / ours):.1f}{TIMES}"


def table_rows(res: Results) -> Iterator[list[str]]:
    for row in ROWS:
        if not res.has(row.ours):
            continue
        anchors = [(name, key) for name, key in row.anchors if res.has(key)]
        ours = res.stats[row.ours]
        theirs = "; ".join(f"{name} {res.stats[key].text(row.unit, row.digits)}" for name, key in anchors)
        ratio = "; ".join(versus(ours.median, res.value(key), row.higher_better) for _, key in anchors)
        try:
            met = "met" if row.check(res.value) else "NOT met"
        except KeyError:
            met = "?"
        if row.target == "—":
            met = ""
        yield [row.label, theirs, ours.text(row.unit, row.digits), ratio, f"{row.target} {met}".strip()]


def scaling_rows(res: Results) -> Iterator[list[str]]:
    if not res.has("scaling.procs_1"):
        return
    one = res.value("scaling.procs_1")
    for n in (1, 2, 4, 8):
        stat = res.stats[f"scaling.procs_{n}"]
        yield [f"{n} worker process{'es' if n > 1 else ''} (--no-fork)", stat.text("/s"),
               f"{stat.median / one:.2f}{TIMES}"]
    for n in (10, 1000):
        stat = res.stats[f"scaling.sites_{n}"]
        yield [f"2 processes, jobs of {n:,} sites interleaved", stat.text("/s"),
               f"{stat.median / one:.2f}{TIMES}"]


FLOORS = [
    ("CPU per processed job, one `--no-fork` worker: the worker process", "cpu.worker_us", " µs", 0),
    ("  and Redis (scripts and commands)", "cpu.redis_us", " µs", 0),
    ("  so two cores drain at most 2 s ÷ (worker + Redis CPU per job)", "cpu.ceiling_2", "/s", 0),
    ("idle wake-up, p50: LPUSH → a bare redis-py BLPOP returns (20 ms apart)", "latency.floor_p50", " ms", 2),
    ("idle wake-up, p99", "latency.floor_p99", " ms", 2),
    ("round trips one by one: redis-py EVALSHA of `return 1`", "single.floor", "/s", 0),
    ("`python -c 'import redis'`", "starts.import_redis", " ms", 0),
]


def floor_rows(res: Results) -> Iterator[list[str]]:
    """What this machine allows, measured in the same run: the CPU a processed job costs (so the drain
    ceiling of two cores) and the floor under the latency, single-enqueue and start-up rows."""
    for label, key, unit, digits in FLOORS:
        if res.has(key):
            yield [label, res.stats[key].text(unit, digits)]


def header(res: Results) -> str:
    import redis
    import rq

    try:
        import celery

        celery_version = celery.__version__
    except ImportError:
        celery_version = "not installed"
    quiet = (f"machine quiet (load {res.load:.2f} at start)" if res.quiet
             else f"machine NOT quiet: load {res.load:.2f} at start, figures are noisy")
    return (f"{res.reps} repetition(s); {quiet}; {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"redis-py {redis.__version__}, RQ {rq.__version__}, Celery {celery_version}; "
            f"medians (min{DASH}max); vs = times better than the anchor")


def render_text(res: Results) -> str:
    lines = [header(res), ""]
    cols = ["figure", "anchors, same run", "bench-jobs", "vs", "target"]
    rows = [cols, *table_rows(res)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    scale = list(scaling_rows(res))
    if scale:
        lines += ["", "scaling (drain, jobs/s)"]
        widths = [max(len(r[i]) for r in scale) for i in range(3)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in scale]
    floors = list(floor_rows(res))
    if floors:
        lines += ["", "this machine's floor and ceiling (same run)"]
        width = max(len(r[0]) for r in floors)
        lines += [f"{r[0].ljust(width)}  {r[1]}" for r in floors]
    return "\n".join(lines)


def render_markdown(res: Results) -> str:
    out = [MARK_START, "", f"_Generated by `benchmarks/compare.py`: {header(res)}._", "",
           "| figure | anchors, same run | bench-jobs | vs | target |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(r) + " |" for r in table_rows(res)]
    scale = list(scaling_rows(res))
    if scale:
        out += ["", "| scaling | jobs/s | vs 1 process |", "|---|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in scale]
    floors = list(floor_rows(res))
    if floors:
        out += ["", "| this machine's floor and ceiling (same run) | |", "|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in floors]
    out += ["", MARK_END]
    return "\n".join(out)


def write_readme(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8")
    if MARK_START in text and MARK_END in text:
        head, _, rest = text.partition(MARK_START)
        _, _, tail = rest.partition(MARK_END)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n## Performance\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition: a smoke run")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(MEASUREMENTS)}")
    parser.add_argument("--load-below", type=float, default=1.0, help="wait for this 1-minute load average")
    parser.add_argument("--quiet-timeout", type=float, default=300, help="seconds to wait for it at most")
    parser.add_argument("--markdown", action="store_true", help="also print the README section")
    parser.add_argument("--readme", type=Path, help="rewrite the section between the markers in this file")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    reps = args.reps or (1 if args.quick else 3)
    chosen = [m.strip() for m in args.only.split(",") if m.strip()] or list(MEASUREMENTS)
    unknown = set(chosen) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(sorted(unknown))}")

    quiet, load = wait_quiet(args.load_below, args.quiet_timeout)
    res = Results(quiet=quiet, load=load, reps=reps, sizes=sizes)
    with scratch_dir("bench-compare-") as tmp, private_redis(tmp / "redis") as server:
        lab = Lab(tmp, server, sizes)
        for rep in range(reps):
            for name in chosen:
                began = time.monotonic()
                res.add(name, MEASUREMENTS[name](lab))
                print(f"[rep {rep + 1}/{reps}] {name}: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
    print(render_text(res))
    if args.json:
        args.json.write_text(json.dumps({k: s.values for k, s in res.stats.items()}, indent=1))
    if args.markdown or args.readme:
        section = render_markdown(res)
        if args.markdown:
            print()
            print(section)
        if args.readme:
            write_readme(args.readme, section)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
