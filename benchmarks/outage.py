"""The outage cases of issue 11 too long for CI: Redis kill -9 + restart, or CLIENT PAUSE, for N
seconds while three jobs of M seconds run on three live workers (worker_dead_after=3, so every
outage outlasts the alive keys). Each job must end finished, once; no worker may log a death.

    .venv/bin/python benchmarks/outage.py                      # 60 s outages, 40 s jobs, both kinds
    .venv/bin/python benchmarks/outage.py --seconds 20 --job 5 --kind pause
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import RedisProcess, make_bench, scratch_dir

from tests.conftest import BenchFixture
from tests.worker.test_outages import run_through_outage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="outage length")
    parser.add_argument("--job", type=float, default=40.0, help="job length")
    parser.add_argument("--kind", choices=("kill", "pause", "both"), default="both")
    args = parser.parse_args()
    failed = 0
    for kind in (("kill", "pause") if args.kind == "both" else (args.kind,)):
        with scratch_dir("outage-") as tmp:
            server = RedisProcess(tmp / "redis", None, "--appendonly", "yes", "--appendfsync", "always").start()
            bench = BenchFixture(make_bench(tmp / "bench", server), server)
            bench.set_config(worker_dead_after=3)

            def outage(kind: str = kind, server: RedisProcess = server) -> None:
                time.sleep(1)
                if kind == "kill":
                    server.kill()
                    time.sleep(args.seconds)
                    server.start()
                else:
                    server.client().execute_command("CLIENT", "PAUSE", int(args.seconds * 1000), "ALL")
                    time.sleep(args.seconds)

            started = time.monotonic()
            try:
                run_through_outage(bench, tmp, outage, job_seconds=args.job)
                print(f"{kind}: {args.seconds:g}s outage, three {args.job:g}s jobs: each finished once, no death "
                      f"({time.monotonic() - started:.0f}s)")
            except AssertionError as exc:
                failed += 1
                print(f"{kind}: FAILED: {str(exc)[:500]}")
            finally:
                server.kill()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
