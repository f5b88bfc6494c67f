"""Every Redis key bench-jobs touches, in one place. See docs/storage.md for the contract.

RQ's own keys (so `rq info` and rq-dashboard can read them):
    rq:queues                      SET of queue keys
    rq:queue:{bench_id}:{queue}    LIST of job ids, head = next to run
    rq:job:{id}                    HASH, RQ's job fields plus our `bj_*` fields
    rq:workers, rq:workers:{q}     SETs of worker keys
    rq:worker:{name}               HASH, RQ's worker fields
    rq:wip:{rq_queue}, rq:failed:{rq_queue}   RQ registries (ZSETs) we keep in step

Our own keys live under `bj:{bench_id}:`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench_jobs.bench import settings as S

RQ_QUEUES = "rq:queues"
RQ_WORKERS = "rq:workers"
RQ_JOB_PREFIX = "rq:job:"
RQ_QUEUE_PREFIX = "rq:queue:"
RQ_WORKER_PREFIX = "rq:worker:"
RQ_WIP_PREFIX = "rq:wip:"  # RQ's StartedJobRegistry of a queue

# How long Redis keeps a job after it ends (Frappe's rq_results_ttl / rq_job_failure_ttl defaults),
# and how many failed jobs a queue keeps (rq_failed_jobs_limit).
DEFAULT_RESULTS_TTL = S.RESULTS_TTL.default
DEFAULT_FAILURE_TTL = S.FAILURE_TTL.default
DEFAULT_FAILED_LIMIT = S.FAILED_JOBS_LIMIT.default

# Job states as RQ names them; "stopped" and "canceled" too.
QUEUED, STARTED, SCHEDULED, DEFERRED = "queued", "started", "scheduled", "deferred"
FINISHED, FAILED, CANCELED, STOPPED = "finished", "failed", "canceled", "stopped"
ACTIVE_STATES = (QUEUED, STARTED, SCHEDULED, DEFERRED)
INDEXED_STATES = (QUEUED, STARTED, SCHEDULED, FAILED, FINISHED, CANCELED)
ALL_STATES = (QUEUED, STARTED, SCHEDULED, DEFERRED, FINISHED, FAILED, CANCELED, STOPPED)


def job_key(job_id: str) -> str:
    return f"{RQ_JOB_PREFIX}{job_id}"


def worker_key(name: str) -> str:
    return f"{RQ_WORKER_PREFIX}{name}"


@dataclass(frozen=True)
class Keys:
    """Key names for one bench."""

    bench_id: str

    @property
    def prefix(self) -> str:
        return f"bj:{self.bench_id}"

    # -- queues ----------------------------------------------------------------
    def rq_queue_name(self, queue: str) -> str:
        """The RQ queue name: `{bench_id}:{queue}`, so benches can share a Redis."""
        return f"{self.bench_id}:{queue}"

    def queue(self, queue: str) -> str:
        return f"{RQ_QUEUE_PREFIX}{self.rq_queue_name(queue)}"

    def wake(self, queue: str) -> str:
        """LIST of wake-up tokens; idle workers BLPOP it (capped, tokens carry no data)."""
        return f"{self.prefix}:wake:{queue}"

    def rq_wip(self, queue: str) -> str:
        return f"{RQ_WIP_PREFIX}{self.rq_queue_name(queue)}"

    def rq_failed(self, queue: str) -> str:
        return f"rq:failed:{self.rq_queue_name(queue)}"

    def rq_workers_of(self, queue: str) -> str:
        return f"rq:workers:{self.rq_queue_name(queue)}"

    # -- per-site indexes (bounded queries: counts and first pages in O(log N)) --
    def index(self, state: str, queue: str, site: str) -> str:
        """ZSET of job ids of one site in one queue and state.

        queued: score = enqueue time; started: start time; scheduled: due time;
        failed/finished/canceled: end time.
        """
        return f"{self.prefix}:idx:{state}:{queue}:{site}"

    def sites_seen(self) -> str:
        """SET of site names that ever enqueued (for --all-sites without reading disk)."""
        return f"{self.prefix}:sites"

    def started(self) -> str:
        """ZSET of running job ids of the bench, score = start time (recovery sweep reads it)."""
        return f"{self.prefix}:started"

    def scheduled(self) -> str:
        """ZSET of job ids due later (retries, --in/--at), score = due time."""
        return f"{self.prefix}:scheduled"

    # -- workers ---------------------------------------------------------------
    def workers(self) -> str:
        """SET of this bench's worker names."""
        return f"{self.prefix}:workers"

    def worker_alive(self, name: str) -> str:
        """STRING with a short TTL, refreshed by the worker's heartbeat; gone = worker dead."""
        return f"{self.prefix}:alive:{name}"

    def worker_stop(self, name: str) -> str:
        """LIST: commands for one worker (e.g. stop job X)."""
        return f"{self.prefix}:control:{name}"

    def sweep_lock(self) -> str:
        return f"{self.prefix}:lock:sweep"

    # -- logs kept in Redis (capped streams) -------------------------------------
    def error_log(self, site: str) -> str:
        return f"{self.prefix}:errorlog:{site}"

    def scheduled_job_log(self, site: str) -> str:
        return f"{self.prefix}:schedlog:{site}"

    # -- scheduler -------------------------------------------------------------
    def scheduler_lease(self) -> str:
        return f"{self.prefix}:scheduler:lease"

    def scheduler_members(self) -> str:
        """HASH owner token -> JSON {host, pid, started, seen} of every live scheduler process."""
        return f"{self.prefix}:scheduler:members"

    def scheduler_last(self, site: str) -> str:
        """HASH event key -> last slot enqueued (ISO time)."""
        return f"{self.prefix}:scheduler:last:{site}"

    def scheduler_slot(self, site: str, event: str, slot: str) -> str:
        return f"{self.prefix}:scheduler:slot:{site}:{event}:{slot}"

    def scheduler_lag(self) -> str:
        """HASH '{site}|{event key}' -> seconds between a slot and its enqueue (for metrics)."""
        return f"{self.prefix}:scheduler:lag"

    # -- metrics ---------------------------------------------------------------
    def throughput(self, span: str, bucket: int) -> str:
        """HASH '{site}|{queue}|{ok|failed|retried}' -> runs ended in one minute (span "m", bucket =
        epoch // 60) or hour ("h", epoch // 3600); written by finish.lua, expiring after 2 h / 2 days."""
        return f"{self.prefix}:tput:{span}:{bucket}"

    def durations(self) -> str:
        """HASH of job duration histogram buckets: '{queue}|{method}|{bucket}' -> count."""
        return f"{self.prefix}:metrics:durations"
