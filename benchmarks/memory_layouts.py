"""Bytes per queued job of job-hash and index layouts, written by hand: what a layout change would save
before anyone builds it (docs/performance.md, "Memory").

Writes 100,000 queued jobs as bench-jobs does (hash, queue list entry, per-site queued index) with the
fields of `compare.py --only memory`'s job, and prints `INFO memory` per job and the hash's `MEMORY
USAGE` for: today's hash, without RQ's `enqueued_at`, without `description`, without both; each with
the per-site index as a ZSET (today) and as a LIST.

    .venv/bin/python benchmarks/memory_layouts.py [--jobs N]
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from typing import Any

from _common import private_redis, scratch_dir

TAG = "home-frappe-frappe-bench"  # compare.py's bench id
STAMP = "2026-12-02T09:59:15.559420Z"
TODAY: dict[str, Any] = {
    "created_at": STAMP, "enqueued_at": STAMP, "origin": f"{TAG}:default", "timeout": 300,
    "bj_method": "testapp.jobs.add", "data": b'["testapp.jobs.add",null,[],{"a":1,"b":1}]',
    "description": 'testapp.jobs.add(**{"a":1,"b":1})', "bj_site": "site1.test", "status": "queued",
}


def without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in TODAY.items() if k not in names}


VARIANTS = {"today": TODAY, "-enqueued_at": without("enqueued_at"), "-description": without("description"),
            "-both": without("enqueued_at", "description")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    count = parser.parse_args().jobs
    with scratch_dir("bench-layouts-") as tmp, private_redis(tmp / "redis") as server:
        client = server.client()
        for name, fields in VARIANTS.items():
            for index in ("zset", "list"):
                client.flushall()
                time.sleep(0.1)
                before = client.info("memory")["used_memory"]
                pipe = client.pipeline(transaction=False)
                job_id = ""
                for n in range(count):
                    job_id = f"{TAG}_{base64.urlsafe_b64encode(os.urandom(15)).decode()}"
                    pipe.hset(f"rq:job:{job_id}", mapping=fields)
                    pipe.rpush(f"rq:queue:{TAG}:default", job_id)
                    if index == "zset":
                        pipe.zadd(f"bj:{TAG}:idx:queued:default:site1.test", {job_id: 1.8e9 + n})
                    else:
                        pipe.rpush(f"bj:{TAG}:idx:queued:default:site1.test", job_id)
                    if n % 1000 == 999:
                        pipe.execute()
                pipe.execute()
                per_job = (client.info("memory")["used_memory"] - before) / count
                hash_bytes = client.memory_usage(f"rq:job:{job_id}", samples=0)
                print(f"{name:14} index {index:4}  {per_job:6.1f} B per job   hash {hash_bytes} B", flush=True)


if __name__ == "__main__":
    main()
