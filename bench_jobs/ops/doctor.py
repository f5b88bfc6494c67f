"""`doctor`: is this bench healthy? Each check is ok, warn or fail, with a one-line fix.

The checks read what the other modules already expose (redis_status.status, workers.list_workers,
inspect.pending_summary, schedview.status); only the Redis INFO fields and the failed-in-the-last-hour
count are asked here. Healthy means no check failed; `strict` counts warnings as failures too.

Thresholds (sites/common_site_config.json):
    doctor_backlog_warn / doctor_backlog_fail            pending jobs in one queue (1000 / 10000)
    doctor_oldest_age_warn / doctor_oldest_age_fail      age of a queue's oldest pending job, s (300 / 3600)
    doctor_failed_warn                                    failed jobs in the last hour, all queues (1)
    doctor_memory_warn / doctor_memory_fail               used / maxmemory, percent (75 / 90)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.errors import BenchJobsError
from bench_jobs.jobs.keys import FAILED, Keys

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    strict: bool = False

    @property
    def healthy(self) -> bool:
        bad = {FAIL, WARN} if self.strict else {FAIL}
        return not any(check.status in bad for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "checks": [asdict(check) for check in self.checks]}


def threshold(bench: Bench, key: str) -> float:
    return float(S.lookup(key).read(bench))


def level(value: float, warn_at: float, fail_at: float) -> str:
    return FAIL if value >= fail_at else WARN if value >= warn_at else OK


# -- Redis -----------------------------------------------------------------------------------------

def redis_check(bench: Bench) -> Check:
    from bench_jobs.ops import redis_status

    try:
        state = redis_status.status(bench)
    except BenchJobsError as exc:  # it answers but refuses us (auth, ACL)
        return Check("redis", FAIL, exc.message, exc.hint)
    if state.state == "loading":
        return Check("redis", FAIL, f"Redis at {state.url} is still loading its data", "wait, then run doctor again")
    if state.state != "running":
        return Check("redis", FAIL, f"Redis at {state.url} is not reachable",
                     "start it with `bench-jobs redis start`, or fix redis_queue in common_site_config.json")
    return Check("redis", OK, f"{state.version} at {state.url}")


def persistence_check(persistence: dict[str, Any]) -> Check:
    fix = "turn on the append-only file: `bench-jobs setup redis` then restart Redis (or appendonly yes)"
    if persistence.get("aof_enabled"):
        return Check("persistence", OK, "AOF on")
    if persistence.get("rdb_saves_configured"):
        return Check("persistence", WARN, "RDB snapshots only: jobs since the last snapshot are lost on a crash", fix)
    return Check("persistence", FAIL, "no persistence: a Redis restart loses every queued job", fix)


def eviction_check(memory: dict[str, Any]) -> Check:
    policy = str(memory.get("maxmemory_policy") or "unknown")
    fix = "set maxmemory-policy noeviction (as `bench-jobs setup redis` does), so Redis refuses writes instead"
    if policy == "noeviction":
        return Check("eviction", OK, "maxmemory-policy noeviction")
    if not int(memory.get("maxmemory") or 0):
        return Check("eviction", WARN, f"maxmemory-policy {policy}; harmless only while maxmemory is unset", fix)
    severity = FAIL if policy.startswith("allkeys") else WARN
    return Check("eviction", severity, f"maxmemory-policy {policy}: Redis may evict jobs under memory pressure", fix)


def memory_check(bench: Bench, memory: dict[str, Any]) -> Check:
    used, limit = int(memory.get("used_memory") or 0), int(memory.get("maxmemory") or 0)
    human = memory.get("used_memory_human") or f"{used}B"
    if not limit:
        return Check("memory", OK, f"{human} used, no maxmemory limit")
    percent = 100.0 * used / limit
    status = level(percent, threshold(bench, "doctor_memory_warn"), threshold(bench, "doctor_memory_fail"))
    fix = None if status == OK else "drain or purge queues (`bench-jobs show-pending-jobs`), or raise maxmemory"
    return Check("memory", status, f"{human} of {memory.get('maxmemory_human')} used ({percent:.0f}%)", fix)


def server_checks(client: redis.Redis, bench: Bench) -> list[Check]:
    persistence = client.info("persistence")
    # INFO does not say whether `save` is configured; CONFIG GET may be denied by an ACL.
    try:
        persistence["rdb_saves_configured"] = bool(client.config_get("save").get("save"))
    except Exception:
        persistence["rdb_saves_configured"] = True
    memory = client.info("memory")
    return [persistence_check(persistence), eviction_check(memory), memory_check(bench, memory)]


# -- workers and backlog ---------------------------------------------------------------------------

def queue_checks(client: redis.Redis, bench: Bench) -> list[Check]:
    from bench_jobs.jobs.queries import known_sites, pending_summary
    from bench_jobs.jobs.workers import list_workers

    workers = list_workers(client, Keys(bench.bench_id))
    summary = pending_summary(client, bench, known_sites(client, bench), bench.queue_names(), limit=0,
                              all_sites=True)
    checks = []
    for row in summary["queues"]:
        queue = row["queue"]
        live = [w for w in workers if queue in w["queues"] and w["state"] != "dead"]
        checks.append(workers_check(queue, len(live), row["pending"]))
        checks.append(backlog_check(bench, queue, row["pending"], row["oldest_age_seconds"]))
        if row.get("foreign_pending"):
            checks.append(foreign_check(queue, row["foreign_pending"]))
    from bench_jobs.jobs.repair import drifted

    stale = drifted(client, Keys(bench.bench_id), bench.queue_names(), known_sites(client, bench))
    if stale:
        checks.append(Check("indexes", WARN, "counts include jobs another tool removed or changed ("
                            + ", ".join(f"{state} on {queue}" for queue, state in stale) + ")",
                            "workers repair this within a sweep interval; `bench-jobs jobs repair` does it now"))
    dead = [w["name"] for w in workers if w["state"] == "dead"]
    if dead:
        checks.append(Check("workers:dead", WARN, f"{len(dead)} worker(s) stopped heartbeating: {', '.join(dead[:3])}",
                            "their jobs are recovered automatically; check logs/worker.error.log for the cause"))
    return checks


def foreign_check(queue: str, pending: int) -> Check:
    """Jobs bench-jobs did not write (Frappe's pickled RQ jobs) wait on the queue: bench-jobs' workers
    leave them alone, so only Frappe's workers can run them."""
    return Check(f"foreign:{queue}", WARN, f"{pending} job(s) not written by bench-jobs (Frappe/RQ) queued or running",
                 "bench-jobs leaves them alone: run Frappe's `bench worker` until `bench-jobs ready-for-migration` "
                 "passes")


def workers_check(queue: str, live: int, pending: int) -> Check:
    name, start = f"workers:{queue}", f"start one: `bench-jobs worker --queue {queue}` (or supervisor/systemd)"
    if live:
        return Check(name, OK, f"{live} worker(s) online")
    if pending:
        return Check(name, FAIL, f"no worker online and {pending} job(s) pending", start)
    return Check(name, WARN, "no worker online (nothing pending yet)", start)


def backlog_check(bench: Bench, queue: str, pending: int, oldest: float | None) -> Check:
    oldest = oldest or 0.0
    by_count = level(pending, threshold(bench, "doctor_backlog_warn"), threshold(bench, "doctor_backlog_fail"))
    by_age = level(oldest, threshold(bench, "doctor_oldest_age_warn"),
                   threshold(bench, "doctor_oldest_age_fail")) if pending else OK
    status = FAIL if FAIL in (by_count, by_age) else WARN if WARN in (by_count, by_age) else OK
    from bench_jobs.bench.units import age

    detail = f"{pending} pending, oldest {age(oldest) if pending else '-'}"
    fix = None if status == OK else (f"add workers for {queue} (workers.{queue}.background_workers) or find "
                                      "slow jobs with `bench-jobs show-pending-jobs`")
    return Check(f"backlog:{queue}", status, detail, fix)


def failed_check(client: redis.Redis, bench: Bench, now: float | None = None) -> Check:
    """Jobs that failed in the last hour: the failed indexes are scored by end time (bounded ZCOUNTs)."""
    from bench_jobs.jobs.queries import known_sites

    now = time.time() if now is None else now
    keys = Keys(bench.bench_id)
    sites = known_sites(client, bench)
    pipe = client.pipeline(transaction=False)
    for queue in bench.queue_names():
        for site in sites:
            pipe.zcount(keys.index(FAILED, queue, site), now - 3600, "+inf")
    count = sum(int(n) for n in pipe.execute())
    status = WARN if count >= threshold(bench, "doctor_failed_warn") else OK
    fix = "see why: `bench-jobs jobs list --status failed`, then `bench-jobs jobs retry ID`" if count else None
    return Check("failed-jobs", status, f"{count} job(s) failed in the last hour", fix)


# -- scheduler -------------------------------------------------------------------------------------

def scheduler_checks(client: redis.Redis, bench: Bench) -> list[Check]:
    from bench_jobs.scheduler.controls import status

    state = status(bench, client, bench.sites())
    checks = []
    fix = "start it: `bench-jobs schedule` (supervisor/systemd run it for you)"
    from bench_jobs.bench.hooks import load_events

    # Needed only when some site has it on and some app schedules something.
    wanted = any(site["active"] for site in state["sites"]) and any(e.ok for e in load_events(bench))
    if not state["alive"]:
        checks.append(Check("scheduler", FAIL if wanted else OK, "no scheduler process is running"
                            + ("" if wanted else " (nothing to schedule)"), fix if wanted else None))
    elif not state["leader"]:
        checks.append(Check("scheduler", WARN, f"{len(state['schedulers'])} scheduler(s) alive, none leading yet",
                            "wait a few seconds; if it persists check logs/scheduler.log"))
    else:
        leader = state["leader"]
        checks.append(Check("scheduler", OK, f"leader {leader['host']} pid {leader['pid']}, "
                                             f"{len(state['schedulers'])} process(es) alive"))
    from bench_jobs.bench.hooks import problems

    for app, problem in problems(bench):
        checks.append(Check(f"hooks:{app}", WARN, problem,
                            f"make {app}'s hooks.py importable without a site, or keep scheduler_events a literal"))
    for site in state["sites"]:
        if site["active"]:
            checks.append(Check(f"scheduler:{site['site']}", OK, "enabled"))
        else:
            checks.append(Check(f"scheduler:{site['site']}", WARN, f"scheduler {site['state']}",
                                f"`bench-jobs --site {site['site']} scheduler enable` / `resume` when intended"))
        if "database unreachable" in site.get("settings_from", ""):  # Frappe's settings could not be read
            checks.append(Check(f"site-db:{site['site']}", WARN, f"settings read from {site['settings_from']}",
                                f"check db_host/db_port/db_password in sites/{site['site']}/site_config.json "
                                "and that MariaDB runs"))
    return checks


def apps_check(bench: Bench) -> Check:
    """Can the workers import the apps? Judged with the environment the generated process files give
    them (nothing of this shell inherited), since that is how the workers start in production."""
    from bench_jobs.ops.process_files import carried_environment, unimportable_apps

    missing = unimportable_apps(bench, carried_environment(bench))
    if not missing:
        return Check("apps", OK, f"{len(bench.apps)} app(s) importable by the workers' interpreter")
    return Check("apps", FAIL, f"{', '.join(missing)} cannot be imported by the workers' interpreter: "
                 "their jobs fail MethodNotFound",
                 "install them into the bench's environment (pip install -e apps/APP), or export PYTHONPATH "
                 "and re-run `bench-jobs setup supervisor|systemd`")


# -- all of it -------------------------------------------------------------------------------------

def diagnose(bench: Bench, strict: bool = False) -> Report:
    """Run every check; a down Redis is one failed check and the Redis-bound checks are skipped."""
    import redis

    from bench_jobs.bench.connection import translate
    from bench_jobs.bench.context import redis_for

    report = Report(strict=strict)
    report.checks.append(redis_check(bench))
    if report.checks[0].status == FAIL:
        return report
    report.checks.append(apps_check(bench))
    client = redis_for(bench)
    try:
        for part in (server_checks, queue_checks, scheduler_checks):
            report.checks.extend(part(client, bench))
        report.checks.append(failed_check(client, bench))
    except (redis.ConnectionError, redis.TimeoutError) as exc:  # went away mid-way
        error = translate(exc, bench)
        report.checks.append(Check("redis", FAIL, error.message, error.hint))
    return report
