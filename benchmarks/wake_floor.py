"""One-by-one round trips with this machine's cores idle, then kept awake: the floor under single enqueue.

On a virtual machine a core with nothing to run halts, and waking it (an interrupt through the host)
costs more than Redis running a small script. Every one-by-one round trip pays that twice (Redis' core
wakes for the command, the caller's for the reply), so the one-by-one rates of compare.py follow the
machine's idleness more than the code. This script measures the same loops twice in one run: once as
compare.py does, and once with a busy loop at nice 19 on the side, which keeps a core from halting
while taking CPU only when nothing else wants it. Alternated, 3 repetitions, medians (min-max).

    .venv/bin/python benchmarks/wake_floor.py            # ~1 minute
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from _common import make_bench, private_redis, scratch_dir

ADD = "testapp.jobs.add"
SITE = "site1.test"
COUNT = 3000
RQ_COUNT = 1000


@contextlib.contextmanager
def cores_awake(on: bool) -> Iterator[None]:
    """A nice-19 busy loop while the block runs (when `on`)."""
    if not on:
        yield
        return
    spinner = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait(10)


def rate(count: int, call: Callable[[int], object]) -> float:
    began = time.perf_counter()
    for n in range(count):
        call(n)
    return count / (time.perf_counter() - began)


def main() -> None:
    from rq import Queue

    import bench_jobs
    from bench_jobs.bench import context

    with scratch_dir("bench-wake-") as tmp, private_redis(tmp / "redis") as server:
        bench = make_bench(tmp / "bench", server, sites=(SITE,))
        context.init(SITE, str(bench.path))
        client = server.client()
        queue = Queue("default", connection=client)
        sha = client.script_load("return 1")  # FLUSHALL below keeps scripts
        for n in range(200):  # warm both sides' caches and the held connection
            bench_jobs.enqueue(ADD, a=n, b=1)
            queue.enqueue(ADD, kwargs={"a": n, "b": 1})
        figures: dict[tuple[str, bool], list[float]] = {}
        for _ in range(3):
            for awake in (False, True):
                with cores_awake(awake):
                    client.flushall()
                    row = {
                        "redis-py EVALSHA `return 1`": rate(COUNT, lambda _: client.evalsha(sha, 0)),
                        "bench_jobs.enqueue": rate(COUNT, lambda n: bench_jobs.enqueue(ADD, a=n, b=1)),
                        "RQ Queue.enqueue": rate(RQ_COUNT, lambda n: queue.enqueue(ADD, kwargs={"a": n, "b": 1})),
                    }
                for name, value in row.items():
                    figures.setdefault((name, awake), []).append(value)
    print("one by one, per second: medians (min-max) of 3; cores idle | kept awake by a nice-19 busy loop")
    for name in ("redis-py EVALSHA `return 1`", "bench_jobs.enqueue", "RQ Queue.enqueue"):
        cells = []
        for awake in (False, True):
            values = figures[(name, awake)]
            cells.append(f"{statistics.median(values):,.0f}/s ({min(values):,.0f}-{max(values):,.0f})")
        print(f"{name:30} {cells[0]:28} | {cells[1]}")
    for awake in (False, True):
        ours = statistics.median(figures[("bench_jobs.enqueue", awake)])
        floor = statistics.median(figures[("redis-py EVALSHA `return 1`", awake)])
        rq = statistics.median(figures[("RQ Queue.enqueue", awake)])
        print(f"{'kept awake' if awake else 'idle'}: bench_jobs.enqueue = {ours / floor:.2f} of the bare round trip's "
              f"rate, {ours / rq:.1f}x RQ")


if __name__ == "__main__":
    main()
