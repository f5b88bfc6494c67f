"""Endings a stopping worker could not write because Redis was gone: kept on disk, written later.

A worker asked to stop waits at most `STOP_REDIS_WAIT` seconds for Redis to record the job it just
ran; past that it leaves the ending in `data/worker_endings/` and exits. The next worker of the bench
to start (or a worker whose Redis comes back) records it: finish.lua applies it only while the job
is still started by the worker that ran it, so a job the sweep has meanwhile recovered is left alone.
The sweep holds its verdicts for one `worker_dead_after` after an outage, which is the time a
process manager has to start a worker again before the job is called dead.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from bench_jobs.bench.config import write_atomic
from bench_jobs.bench.connection import transient
from bench_jobs.jobs.dispatch import Dispatcher, Ending
from bench_jobs.jobs.model import Job
from bench_jobs.worker.runner import error_line

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench
    from bench_jobs.jobs.keys import Keys
    from bench_jobs.logs.writer import WorkLog

STOP_REDIS_WAIT = 10.0  # seconds a stopping worker waits for Redis before it spools its ending


def spool_dir(bench: Bench) -> Path:
    return bench.path / "data" / "worker_endings"


def save(bench: Bench, worker: str, job_id: str, ending: Ending) -> Path:
    fields = asdict(ending)
    fields["exc_info"] = base64.b64encode(ending.exc_info).decode()
    path = spool_dir(bench) / f"{job_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"worker": worker, "job_id": job_id, "ending": fields}))
    return path


def keep(bench: Bench, worker: str, job: Job, ending: Ending, reason: Exception, log: WorkLog) -> None:
    """Save the ending of a job a stopping worker could not write (Redis gone), and say where it is."""
    path = save(bench, worker, job.id, ending)
    log.warning("spooled", f"stopping while Redis is unreachable ({reason}); the job's ending "
                f"({ending.status}) is kept in {path} and recorded by the next worker to start",
                job_id=job.id, site=job.site, method=job.method)


def record_left(bench: Bench, client: redis.Redis, keys: Keys, log: WorkLog) -> None:
    """At a worker's start: record the endings that stopping workers of this bench left on disk."""
    import redis

    try:
        for job_id, applied in replay(bench, client, keys):
            log.info("recorded" if applied else "lost",
                     "ending left on disk by a worker stopped while Redis was away: "
                     + ("recorded" if applied else "not recorded (the job was recovered meanwhile)"),
                     job_id=job_id)
    except redis.RedisError as exc:
        if not transient(exc):
            raise
        log.warning("redis-down", f"endings left on disk not recorded yet: {error_line(exc)}")


def replay(bench: Bench, client: redis.Redis, keys: Keys) -> list[tuple[str, bool]]:
    """Write every spooled ending; (job id, applied) for each. A file is removed once Redis answered
    (applied or not: a job no longer started by its worker has been recovered by the sweep)."""
    done: list[tuple[str, bool]] = []
    directory = spool_dir(bench)
    if not directory.is_dir():
        return done
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            fields = dict(data["ending"])
            fields["exc_info"] = base64.b64decode(fields.get("exc_info") or "")
            ending, worker, job_id = Ending(**fields), str(data["worker"]), str(data["job_id"])
        except (OSError, ValueError, KeyError, TypeError):
            path.replace(path.with_suffix(".unreadable"))  # kept for a human, never retried
            continue
        job = Job(job_id, attempts=1)
        applied, _ = Dispatcher(client, keys, worker).finish(job, ending)
        os.unlink(path)
        done.append((job_id, applied))
    return done
