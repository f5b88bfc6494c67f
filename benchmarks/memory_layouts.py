"""Bytes per queued job of job-hash and index layouts, written by hand: what a layout change would save
before anyone builds it (docs/performance.md, "Memory").

Writes 100,000 queued jobs as bench-jobs does (hash, queue list entry, per-site queued index) with the
fields of `compare.py --only memory`'s job, and prints `INFO memory` per job, the hash's `MEMORY USAGE`
and its listpack's size (what the fields take: each 2 bytes over its text, a small integer 2-3 bytes in
all, plus 7) for: the layout before the queued index became a LIST (a ZSET, and the `(**{json})`
description), today's, and hashes RQ still reads: millisecond times, `timeout` left out at the queue's
default, `created_at` to the second or left out (RQ's Job.restore then says "now"), and combinations.
jemalloc gives a listpack of 257-320 B 320 B and one of 193-256 B 256 B: only a hash that crosses 256 B
saves memory. Ids are the bench's tag and `--id-bytes` random bytes in base64url (9, 12 characters,
today; 15, 20 characters, before): an id is stored in the hash's key, the queue and the site's index.

    .venv/bin/python benchmarks/memory_layouts.py [--jobs N] [--only NAME...] [--id-bytes N]
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from typing import Any

from _common import private_redis, scratch_dir

from bench_jobs.jobs.keys import ID_BYTES

TAG = "home-frappe-frappe-bench"  # compare.py's bench id
STAMP = "2026-12-02T09:59:15.559420Z"
TODAY: dict[str, Any] = {
    "created_at": STAMP, "enqueued_at": STAMP, "origin": f"{TAG}:default", "timeout": 300,
    "bj_method": "testapp.jobs.add", "data": b'["testapp.jobs.add",null,[],{"a":1,"b":1}]',
    "description": "testapp.jobs.add(a=1, b=1)", "bj_site": "site1.test", "status": "queued",
}
BEFORE = {**TODAY, "description": 'testapp.jobs.add(**{"a":1,"b":1})'}  # the description before RQ's form
MS = "2026-12-02T09:59:15.559Z"  # rq.utils.utcparse reads it (%f takes 1-6 digits)
SECONDS = "2026-12-02T09:59:15Z"  # utcparse's fallback format


def variant(*changes: str) -> dict[str, Any]:
    """TODAY with the named changes: ms (both times), created-s, or -FIELD (left out)."""
    fields = dict(TODAY)
    for change in changes:
        if change == "ms":
            fields["created_at"] = fields["enqueued_at"] = MS
        elif change == "created-s":
            fields["created_at"] = SECONDS
        else:
            fields.pop(change.removeprefix("-"))
    return fields


# (name, hash fields, queued index kind)
VARIANTS: list[tuple[str, dict[str, Any], str]] = [
    ("before issue 13's LIST", BEFORE, "zset"),
    ("before, LIST index", BEFORE, "list"),
    ("today", TODAY, "list"),
    ("ms", variant("ms"), "list"),
    ("-timeout", variant("-timeout"), "list"),
    ("ms -timeout created-s", variant("ms", "-timeout", "created-s"), "list"),
    ("ms -created_at", variant("ms", "-created_at"), "list"),
    ("-timeout -created_at", variant("-timeout", "-created_at"), "list"),
    ("-enqueued_at -description", variant("-enqueued_at", "-description"), "list"),
]


def listpack_bytes(fields: dict[str, Any]) -> int:
    """The listpack of a small hash: 6 bytes of header, 1 of end, and per field name and value its text
    with a 1-byte header and 1-byte back-length, or an integer below 4096 in 3 bytes."""
    def entry(value: Any) -> int:
        raw = value if isinstance(value, bytes) else str(value).encode()
        if raw.isdigit() and int(raw) < 4096 and (raw == b"0" or not raw.startswith(b"0")):
            return 2 if int(raw) < 128 else 3
        return len(raw) + 2
    return 7 + sum(entry(k) + entry(v) for k, v in fields.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--only", nargs="*", help="variant names (default: all)")
    parser.add_argument("--id-bytes", type=int, default=ID_BYTES, help=f"random bytes per id (default {ID_BYTES})")
    args = parser.parse_args()
    count = args.jobs
    with scratch_dir("bench-layouts-") as tmp, private_redis(tmp / "redis") as server:
        client = server.client()
        for name, fields, index in VARIANTS:
            if args.only and name not in args.only:
                continue
            client.flushall()
            time.sleep(0.1)
            before = client.info("memory")["used_memory"]
            pipe = client.pipeline(transaction=False)
            job_id = ""
            for n in range(count):
                job_id = f"{TAG}_{base64.urlsafe_b64encode(os.urandom(args.id_bytes)).decode()}"
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
            print(f"{name:28} index {index:4}  {per_job:6.1f} B per job   hash {hash_bytes} B"
                  f"   listpack {listpack_bytes(fields)} B", flush=True)


if __name__ == "__main__":
    main()
