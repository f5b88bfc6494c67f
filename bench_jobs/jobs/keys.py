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

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from functools import cached_property

from bench_jobs.bench import settings as S
from bench_jobs.bench.layout import bench_tag

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
# Bounds of a job's numbers, checked at enqueue and again by the worker (a hand-written hash):
# setitimer and ZADD scores overflow long before "any number" does.
MAX_TIMEOUT = 30 * 86400  # seconds
MAX_RETRY = 1000

# Job states as RQ names them; "stopped" and "canceled" too.
QUEUED, STARTED, SCHEDULED, DEFERRED = "queued", "started", "scheduled", "deferred"
FINISHED, FAILED, CANCELED, STOPPED = "finished", "failed", "canceled", "stopped"
ACTIVE_STATES = (QUEUED, STARTED, SCHEDULED, DEFERRED)
# States with a per-site index (Keys.index). Started jobs have none: they are read from the bench-wide
# started set (jobs/running.py), which saves a command per job.
INDEXED_STATES = (QUEUED, SCHEDULED, FAILED, FINISHED, CANCELED)
ALL_STATES = (QUEUED, STARTED, SCHEDULED, DEFERRED, FINISHED, FAILED, CANCELED, STOPPED)


# RQ's job id alphabet (rq.job.JOB_ID_PATTERN): `Job.fetch` refuses anything else, and splits at ':'.
RQ_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_JOB_ID = 200


def acl_glob(text: str) -> str:
    """`text` with Redis glob characters escaped, for an ACL key pattern."""
    return re.sub(r"([*?\\[\]])", r"\\\1", text)


def job_key(job_id: str) -> str:
    return f"{RQ_JOB_PREFIX}{job_id}"


def worker_key(name: str) -> str:
    return f"{RQ_WORKER_PREFIX}{name}"


def worker_executions_key(name: str) -> str:
    """SET of RQ 3 execution ids a worker is running (its key is the worker's key plus this suffix)."""
    return f"{worker_key(name)}:executions"


def rq_results_key(job_id: str) -> str:
    """STREAM of RQ 3 results of a job (rq.results.Result)."""
    return f"rq:results:{job_id}"


def rq_execution_key(execution_id: str) -> str:
    """HASH of one RQ 3 execution (`{composite id}`; see worker_execution_key)."""
    return f"rq:execution:{execution_id}"


def worker_execution_key(name: str) -> str:
    """HASH of a worker's one RQ 3 execution: the worker name with its first '.' made '_' (so it matches
    the bench's `rq:execution:{tag}_*` ACL pattern) and `:bj`; its `job_id` field names the running job
    (lua/dispatch_common.lua rq_execution_of). Jobs of an earlier layout had `{job_id}:bj{attempt}`."""
    return rq_execution_key(name.replace(".", "_", 1) + ":bj")

ID_BYTES = 9  # random bytes of a generated job id: 12 base64url characters


@dataclass(frozen=True)
class Keys:
    """Key names for one bench."""

    bench_id: str

    @property
    def prefix(self) -> str:
        return f"bj:{self.bench_id}"

    # -- ids -------------------------------------------------------------------
    @cached_property
    def tag(self) -> str:
        return bench_tag(self.bench_id)

    def new_job_id(self) -> str:
        """`{tag}_` + 12 random characters of RQ's alphabet: an RQ job id that an ACL pattern can tell apart
        per bench. 72 random bits rather than uuid4's 122 in 36 characters: an id is stored three times per
        queued job (its key, the queue list, the site's queued index), and 12 characters keep a queued
        job below RQ's bytes (docs/performance.md, "Memory"). Uniqueness does not rest on the bits: the
        enqueue scripts lengthen a fresh id that names an existing hash (lua/enqueue_common.lua `free_id`)."""
        return f"{self.tag}_{base64.urlsafe_b64encode(os.urandom(ID_BYTES)).decode()}"

    def new_job_ids(self, count: int) -> list[str]:
        """`count` new ids from one read of the OS's randomness (the bulk enqueue path)."""
        pool = base64.urlsafe_b64encode(os.urandom(ID_BYTES * count)).decode()
        size = ID_BYTES * 4 // 3
        return [f"{self.tag}_{pool[size * n:size * (n + 1)]}" for n in range(count)]

    def user_job_id(self, site: str, job_id: str) -> str:
        """The stored id of a job id a caller chose: scoped to the bench and the site, so two sites or two
        benches deduplicating on the same name never block each other: `{tag}_{site digest}_{job_id}`
        (the site as 8 hex digits of its SHA-1: site names hold dots, which RQ's ids may not). An id that
        already has that form is returned as it is."""
        scope = f"{self.tag}_{hashlib.sha1(site.encode()).hexdigest()[:8]}_"
        return job_id if job_id.startswith(scope) else scope + job_id

    def worker_name(self, host: str, pid: int, suffix: str) -> str:
        """`{tag}.{host}.{pid}.{suffix}`: the bench's tag first, so `rq:worker:{tag}.*` is this bench's."""
        return f"{self.tag}.{host}.{pid}.{suffix}"

    def acl_patterns(self) -> list[str]:
        """The key patterns of the bench's Redis user (ops/redis_config.py): exactly this bench's keys.
        `rq:queues` and `rq:workers`, the registries every RQ tool reads, are shared and handled apart."""
        b, t = acl_glob(self.bench_id), self.tag
        per_queue = ("queue", "wip", "failed", "finished", "scheduled", "deferred", "canceled", "ready", "workers")
        return [f"~bj:{b}:*", *(f"~rq:{family}:{b}:*" for family in per_queue), f"~rq:job:{t}_*",
                f"~rq:results:{t}_*", f"~rq:execution:{t}_*", f"~rq:worker:{t}.*"]

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

    def rq_finished(self, queue: str) -> str:
        return f"rq:finished:{self.rq_queue_name(queue)}"

    def rq_scheduled(self, queue: str) -> str:
        return f"rq:scheduled:{self.rq_queue_name(queue)}"

    def rq_workers_of(self, queue: str) -> str:
        return f"rq:workers:{self.rq_queue_name(queue)}"

    # -- per-site indexes (bounded queries: counts and first pages without scanning a queue) --
    def index(self, state: str, queue: str, site: str) -> str:
        """Job ids of one site in one queue and state (INDEXED_STATES; jobs/indexes.py reads them).

        queued: a LIST in queue order (the site's part of the queue list; a ZSET scored by enqueue time
        before issue 13's layout, converted on first use); the others ZSETs, scheduled: score = due time;
        failed/finished/canceled: end time.
        No `started` index: jobs/running.py reads started jobs per site from `started()`.
        """
        return f"{self.prefix}:idx:{state}:{queue}:{site}"

    def sites_seen(self) -> str:
        """SET of site names that ever enqueued (for --all-sites without reading disk)."""
        return f"{self.prefix}:sites"

    def started(self) -> str:
        """ZSET of running job ids of the bench, score = start time: the recovery sweep reads it, and
        listings and counts of started jobs per queue and site (jobs/running.py)."""
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

    def contact(self) -> str:
        """STRING with a TTL of half the dead-after time, refreshed by every heartbeat, registration and
        sweep; found missing, nobody of the bench reached Redis for that long (lua/dispatch_common.lua)."""
        return f"{self.prefix}:contact"

    def outage(self) -> str:
        """STRING set for one dead-after time when `contact` was found missing: no death verdicts meanwhile."""
        return f"{self.prefix}:outage"

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
    def throughput(self, span: str, bucket: int | str) -> str:
        """HASH '{site}|{queue}|{ok|failed|retried}' -> runs ended in one minute (span "m", bucket =
        epoch // 60) or hour ("h", epoch // 3600); written by finish.lua, expiring after 2 h / 2 days."""
        return f"{self.prefix}:tput:{span}:{bucket}"

    def durations(self) -> str:
        """HASH of job duration histogram buckets: '{queue}|{method}|{bucket}' -> count."""
        return f"{self.prefix}:metrics:durations"

    # -- what the Lua scripts get (lua/keys.lua reads them in this order) ------
    @cached_property
    def script_keys(self) -> tuple[str, ...]:
        """KEYS[1..8] of every script: the bench's own bench-wide keys. (RQ's shared `rq:queues` and
        `rq:workers` go in ARGV: under the bench's ACL user an EVAL whose KEYS mix them with its own keys
        would match neither its key patterns nor the selector that allows those two sets.)"""
        return (self.started(), self.scheduled(), self.workers(), self.sites_seen(),
                self.durations(), self.sweep_lock(), self.contact(), self.outage())

    @cached_property
    def script_prefixes(self) -> tuple[str, ...]:
        """ARGV[1..20] of every script: RQ's two shared sets, then the prefix of each family of keys whose
        last part (a job id, a queue, a site, a worker name) a script only learns while it runs. Each one
        is the key above without its last part, so a script never spells a key name of its own."""
        return (RQ_QUEUES, RQ_WORKERS, RQ_JOB_PREFIX, self.rq_queue_name(""), self.queue(""), self.rq_wip(""),
                self.rq_failed(""), self.rq_finished(""), self.rq_workers_of("").removesuffix(self.rq_queue_name("")),
                RQ_WORKER_PREFIX, self.index("", "", "").removesuffix("::"), self.wake(""), self.worker_alive(""),
                self.worker_stop(""), self.throughput("m", ""), self.throughput("h", ""), self.rq_scheduled(""),
                rq_results_key(""), rq_execution_key(""), worker_executions_key("").removeprefix(RQ_WORKER_PREFIX))
