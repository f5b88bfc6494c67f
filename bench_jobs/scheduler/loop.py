"""The scheduler process: enqueue each app's scheduled events when their slot comes.

Small on purpose: when a slot is due is decided by `cron` (pure), who may enqueue by `leader`
(lease + roll of members), what was done by `schedlog` (run records + Scheduled Job Log). This loop
sleeps until the earliest due slot (or the next lease renewal), and as leader enqueues each due
(site, event, slot) with one script that also writes the slot's once-key, so a slot is enqueued at
most once across restarts and failovers, and with a stable job id per (site, event) and `deduplicate`,
so an event whose previous run is still queued or running is skipped for that slot.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import hooks
from bench_jobs.bench.connection import transient
from bench_jobs.errors import BenchJobsError
from bench_jobs.jobs.encoding import text
from bench_jobs.scheduler import cron
from bench_jobs.scheduler import run_log as schedlog
from bench_jobs.scheduler.lease import Lease, Members
from bench_jobs.scheduler.sites import SiteState, event_request, site_events, site_state
from bench_jobs.worker.recovery import after_sweep, sweep_options

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.events import ScheduledEvent
    from bench_jobs.bench.layout import Bench
    from bench_jobs.logs.writer import WorkLog

RELOAD_EVERY = 10.0  # re-read config and hooks (enable/pause/maintenance, hooks edits) this often
HOUSEKEEPING_EVERY = 1.0  # reconcile run ends, promote due retries, sweep dead workers
MEMBER_BEAT = 5.0
MAX_SLEEP = 1.0
MAX_ONCE_TTL = 40 * 86400


class Clock:
    """Wall time for slots, monotonic time for leases, and an interruptible sleep (tests replace it)."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


@dataclass
class Plan:
    """One (site, event) the leader watches."""

    state: SiteState
    event: ScheduledEvent
    tz: tzinfo
    record: schedlog.RunRecord
    next_at: float = 0.0

    @property
    def site(self) -> str:
        return self.state.site


@dataclass
class Scheduler:
    bench: Bench
    client: redis.Redis
    log: WorkLog
    clock: Clock = field(default_factory=Clock)
    lease: Lease = field(init=False)
    reload_every: float = RELOAD_EVERY
    plans: list[Plan] = field(default_factory=list)
    _reloaded: float = float("-inf")
    _housekept: float = float("-inf")
    _beat: float = float("-inf")
    _reported: set[str] = field(default_factory=set)
    _standby_said: bool = False
    _trouble: dict[str, str] = field(default_factory=dict)  # "redis"/"config" -> what failed, logged once
    _dispatcher: Any = None

    def __post_init__(self) -> None:
        from bench_jobs.jobs.keys import Keys

        self.keys = Keys(self.bench.bench_id)
        self.lease = Lease(self.client, self.keys.scheduler_lease(), monotonic=self.clock.monotonic)
        self.members = Members(self.client, self.keys, self.lease.token, started=self.clock.time())

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        import redis as redis_mod

        self.log.info("scheduler-start", f"scheduler {self.lease.token} of bench {self.bench.bench_id}")
        try:
            while not stop.is_set():
                try:
                    delay = self.step()
                    if self.lease.unreachable is None:
                        self._trouble_over("redis", "Redis reachable again")
                    else:  # the lease could not be asked for: the same trouble as an error
                        self._redis_down(self.lease.unreachable)
                except redis_mod.RedisError as exc:
                    if not transient(exc):
                        raise
                    self._redis_down(exc)
                    delay = 1.0
                except BenchJobsError as exc:  # a config file broken mid-edit: say so, keep the last good plans
                    self._trouble_once("config", "config", f"{exc.message} ({exc.hint}); retrying every 5s"
                                       if exc.hint else f"{exc.message}; retrying every 5s", level="ERROR")
                    self._reloaded = self.clock.monotonic()
                    delay = 5.0
                self.clock.wait(delay, stop)
        finally:
            self.lease.release()
            self.members.leave()
            self.log.info("scheduler-stop", f"scheduler {self.lease.token} stopped")

    def step(self) -> float:
        """One pass: heartbeat, lease, (as leader) reload, enqueue what is due. Returns seconds to sleep."""
        mono = self.clock.monotonic()
        was_leading = self.lease.leading
        leading = self.lease.hold()
        if mono - self._beat >= MEMBER_BEAT or leading != was_leading:
            self.members.beat(self.clock.time(), leading)
            self._beat = mono
        if not leading:
            if was_leading:  # (when Redis is unreachable the loop says so instead)
                self._step_down(None if self.lease.unreachable else "lost the scheduler lease; standing by")
            elif not self._standby_said:
                self._standby_said = True
                holder = self.client.get(self.keys.scheduler_lease())
                self.log.info("standby", f"scheduler {self.lease.token} stands by; "
                              f"{text(holder) or 'another scheduler'} leads")
            return min(MAX_SLEEP * 2, self.lease.seconds_to_next_attempt())
        if not was_leading:
            self.log.info("leader", f"scheduler {self.lease.token} now leads")
            self._reloaded = float("-inf")
        if mono - self._reloaded >= self.reload_every:
            self.reload()
            self._reloaded = mono
            self._trouble_over("config", "config readable again")
        for plan in self.plans:
            if plan.next_at <= self.clock.time():
                self.fire(plan)
        if mono - self._housekept >= HOUSEKEEPING_EVERY:
            self.housekeeping()
            self._housekept = mono
        return self._sleep_for()

    def _sleep_for(self) -> float:
        now = self.clock.time()
        delay = min([MAX_SLEEP, self.lease.seconds_to_next_attempt(), *(p.next_at - now for p in self.plans)])
        return max(0.0, delay)

    def _step_down(self, why: str | None) -> None:
        self._standby_said = True
        self.lease.leading = False
        self.lease.valid_until = 0.0
        self.plans = []
        if why:
            self.log.warning("standby", why)

    def _redis_down(self, exc: Exception) -> None:
        self._step_down(None)
        self._trouble_once("redis", "standby", f"Redis unreachable ({exc}); standing by, retrying every second")

    def _trouble_once(self, kind: str, event: str, message: str, level: str = "WARNING") -> None:
        """Log a failing loop once per cause, not on every retry (an hour of Redis down is one line)."""
        if self._trouble.get(kind) != message:
            self._trouble[kind] = message
            self.log.event(level, event, message)

    def _trouble_over(self, kind: str, message: str) -> None:
        if self._trouble.pop(kind, None) is not None:
            self.log.info("recovered", message)

    # -- what to watch ----------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read config and every app's hooks; rebuild the plans from the run records in Redis."""
        self.bench.reload()
        self._report_bad(hooks.load_events(self.bench))
        self._report_unreadable()
        now = self.clock.time()
        plans: list[Plan] = []
        for site in self.bench.sites():
            state = site_state(self.bench, site)
            self._report_site(state)
            try:
                tz = cron.zone(state.time_zone)
            except BenchJobsError as exc:
                self._report_once(f"tz:{site}:{state.time_zone}", f"{exc.message}; this site's events are skipped",
                                  event="bad-time-zone", site=site)
                continue
            records = schedlog.load_records(self.client, self.keys, site)
            for event in site_events(self.bench, state):
                if not event.ok:
                    continue
                record = records.get(event.key) or schedlog.baseline(self.client, self.keys, site, event.key, now)
                plan = Plan(state, event, tz, record)
                self._schedule_next(plan)
                plans.append(plan)
        self.plans = plans

    def _schedule_next(self, plan: Plan) -> None:
        last = cron.from_epoch(plan.record.slot or self.clock.time(), plan.tz)
        plan.next_at = cron.next_slot(plan.event.cron, last, plan.tz).timestamp()

    def _report_once(self, tag: str, message: str, *, event: str, **fields: Any) -> None:
        if tag not in self._reported:
            self._reported.add(tag)
            self.log.warning(event, message, **fields)

    def _report_unreadable(self) -> None:
        """An app whose events cannot be read as Frappe runs them: a warning in scheduler.log and in each
        site's Scheduled Job Log (`scheduler log`), once per scheduler process, never a silent 0."""
        for app, problem in hooks.problems(self.bench):
            tag = f"hooks:{app}:{problem}"
            if tag in self._reported:
                continue
            self._report_once(tag, f"scheduler_events of {app}: {problem}", event="hooks-unreadable")
            for site in self.bench.sites():
                schedlog.append(self.client, self.keys, site, kind="warning", event="hooks", method=app,
                                status="unreadable", error=problem[:500])

    def _report_bad(self, events: list[ScheduledEvent]) -> None:
        for event in events:
            if not event.ok and event.event:  # app-wide failures: _report_unreadable
                self._report_once(f"bad:{event.app}:{event.key}:{event.error}",
                                  f"bad scheduler entry of {event.app} ({event.event or 'hooks.py'}) skipped: "
                                  f"{event.error}", event="bad-entry", method=event.method or None)

    def _report_site(self, state: SiteState) -> None:
        tag = f"site:{state.site}:{state.reason}:{state.source}"
        if tag not in self._reported:
            self._reported = {t for t in self._reported if not t.startswith(f"site:{state.site}:")}
            self._reported.add(tag)
            self.log.info("site", f"scheduler {state.reason} for this site (settings from {state.source})",
                          site=state.site)

    # -- enqueuing ---------------------------------------------------------------------------------
    def fire(self, plan: Plan) -> None:
        """Handle the due slot of one plan (if any) and schedule its next one."""
        now = self.clock.time()
        last = cron.from_epoch(plan.record.slot or now, plan.tz)
        slot = cron.due_slot(plan.event.cron, last, cron.from_epoch(now, plan.tz), plan.tz)
        if slot is None:
            self._schedule_next(plan)
            return
        if not self.lease.valid():  # our lease may have lapsed: never enqueue on a stale belief
            return
        event, site, record = plan.event, plan.site, plan.record
        schedlog.reconcile(self.client, self.keys, site, event.key, record, event.method, event.event)
        if not plan.state.active:
            record.slot = slot.timestamp()
        else:
            self._enqueue(plan, slot, now)
        schedlog.save_record(self.client, self.keys, site, event.key, record)
        self._schedule_next(plan)

    def _once_ttl(self, plan: Plan, slot: datetime) -> int:
        gap = cron.next_slot(plan.event.cron, slot, plan.tz).timestamp() - slot.timestamp()
        return int(min(max(3600.0, 3 * gap), MAX_ONCE_TTL))

    def _enqueue(self, plan: Plan, slot: datetime, now: float) -> None:
        from bench_jobs.jobs.enqueue import submit

        event, site, record = plan.event, plan.site, plan.record
        slot_id = cron.slot_id(slot)
        result = submit(event_request(self.bench, site, event, once_key=self.keys.scheduler_slot(
            site, event.digest, slot_id), once_ttl=self._once_ttl(plan, slot)), self.client)
        fields = {"site": site, "method": event.method}
        if result.status == "enqueued":
            lag = round(now - slot.timestamp(), 3)
            record.slot, record.job_id, record.enqueued, record.open = slot.timestamp(), result.id, now, True
            record.status = record.duration = None
            record.skipped, record.skipping = 0, False
            self.client.hset(self.keys.scheduler_lag(), f"{site}|{event.key}", lag)
            schedlog.append(self.client, self.keys, site, kind="queued", event=event.event, method=event.method,
                            job_id=result.id, slot=slot_id, status="queued", lag=lag,
                            by=self.lease.token)
            self.log.info("enqueued", f"{event.event} slot {slot_id} (lag {lag:.3f}s) job {result.id}", **fields)
        elif result.status == "skipped":  # another leader already enqueued this slot: take its record
            fresh = schedlog.load_record(self.client, self.keys, site, event.key)
            plan.record = record = fresh if (fresh.slot or 0) >= slot.timestamp() else record
            record.slot = max(record.slot or 0, slot.timestamp())
        elif result.status == "duplicate":
            record.slot, record.skipped = slot.timestamp(), record.skipped + 1
            if not record.skipping:  # log the first skip of a streak only, not every slot
                record.skipping = True
                schedlog.append(self.client, self.keys, site, kind="skipped", event=event.event,
                                method=event.method, job_id=result.id, slot=slot_id, status="skipped",
                                error="previous run still queued or running")
                self.log.warning("skipped", f"{event.event} slot {slot_id}: previous run {result.id} still "
                                 "queued or running (logged once; later skips are only counted)", **fields)
        else:  # overloaded: the queue is past max_queued_jobs; this slot is dropped, loudly
            record.slot = slot.timestamp()
            schedlog.append(self.client, self.keys, site, kind="skipped", event=event.event, method=event.method,
                            slot=slot_id, status=result.status, error=f"queue {event.queue} holds {result.count} jobs")
            self.log.error("skipped", f"{event.event} slot {slot_id}: queue {event.queue} overloaded", **fields)

    # -- housekeeping --------------------------------------------------------------------------------
    def housekeeping(self) -> None:
        """Log the ends of finished runs; promote due retries; recover jobs of dead workers."""
        # Records can change outside this loop (`scheduler trigger`), so re-read them: one HGETALL a site.
        records = {site: schedlog.load_records(self.client, self.keys, site) for site in {p.site for p in self.plans}}
        for plan in self.plans:
            plan.record = records[plan.site].get(plan.event.key, plan.record)
            if plan.record.open:
                schedlog.reconcile(self.client, self.keys, plan.site, plan.event.key, plan.record,
                                   plan.event.method, plan.event.event)
        if not self.lease.valid():
            return
        if self._dispatcher is None:
            from bench_jobs.jobs.dispatch import Dispatcher

            self._dispatcher = Dispatcher(self.client, self.keys, "scheduler")
        self._dispatcher.promote(self.clock.time())
        swept = self._dispatcher.sweep(**sweep_options(self.bench), owner=self.lease.token, now=self.clock.time())
        after_sweep(self.client, self.bench, self.log, swept)


def run_forever(bench: Bench, *, quiet: bool = False) -> None:
    """`bench-jobs scheduler run`: until SIGTERM/SIGINT, then release the lease and leave."""
    from bench_jobs.bench.connection import check, connect
    from bench_jobs.logs import writer as worklog

    client = connect(bench, socket_timeout=10.0)
    check(client, bench)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log = worklog.for_bench(bench, f"scheduler-{os.getpid()}", quiet=quiet, name="scheduler")
    try:
        Scheduler(bench, client, log).run(stop)
    finally:
        log.close()
