"""What one site schedules, as Frappe decides it: whether its scheduler runs (enable/disable, pause,
maintenance mode; System Settings from its database when it has one), which events run on it, and the
job one run of an event is (one id per bench, site and event, deduplicated). The scheduler loop and
`scheduler trigger` (controls.py) both build on these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench_jobs.bench import hooks
from bench_jobs.bench import settings as S

if TYPE_CHECKING:
    from bench_jobs.bench.events import ScheduledEvent
    from bench_jobs.bench.layout import Bench
    from bench_jobs.jobs.enqueue import JobRequest


@dataclass(frozen=True)
class SiteState:
    site: str
    enabled: bool
    paused: bool
    maintenance: bool
    time_zone: str | None
    source: str = "site_config.json (no db_name)"  # where enable_scheduler, time_zone and the apps came from
    apps: tuple[str, ...] | None = None  # apps installed on the site; None: all of apps.txt (no database)

    @property
    def active(self) -> bool:
        return self.enabled and not self.paused and not self.maintenance

    @property
    def reason(self) -> str:
        return "disabled" if not self.enabled else "paused" if self.paused else \
            "in maintenance mode" if self.maintenance else "active"


def site_state(bench: Bench, site: str) -> SiteState:
    """Frappe's rules: disable_scheduler (config) disables; pause_scheduler and maintenance_mode (config)
    stop it. enable_scheduler and time_zone are System Settings in the site's database when it can be
    reached (unset enable_scheduler there means off, as Frappe reads it), else site_config.json's keys
    (unset means on)."""
    from bench_jobs.bench import site_db

    settings = site_db.read(bench, site)
    disabled = S.DISABLE_SCHEDULER.read(bench, site)
    if settings.source == site_db.DATABASE:
        enabled = not disabled and S.flag(settings.enable_scheduler or 0)
    else:
        enabled = not disabled and S.ENABLE_SCHEDULER.read(bench, site) is not False
    time_zone = site_db.time_zone(bench, site)
    return SiteState(site, enabled, S.PAUSE_SCHEDULER.read(bench, site), S.MAINTENANCE_MODE.read(bench, site),
                     time_zone, settings.described, settings.installed_apps)


def site_events(bench: Bench, state: SiteState) -> list[ScheduledEvent]:
    """The events that run on one site: its installed apps' (all of apps.txt without a database),
    with its own scheduler_interval for `all`."""
    return hooks.load_events(bench, state.site, None if state.apps is None else list(state.apps))


def scheduled_job_id(bench_id: str, site: str, event: ScheduledEvent) -> str:
    """One job id per (bench, site, event): `deduplicate` on it skips a slot while the last run is active.

    Job ids are global in a Redis that several benches share: the id begins with the bench's tag (its ACL
    user reaches only those) and the digest holds bench, site and event.
    """
    import hashlib

    from bench_jobs.bench.layout import bench_tag

    digest = hashlib.sha1(f"{bench_id}|{site}|{event.key}".encode()).hexdigest()[:16]
    return f"{bench_tag(bench_id)}_sched_{digest}"


def event_request(bench: Bench, site: str, event: ScheduledEvent, once_key: str | None = None,
                  once_ttl: int | None = None) -> JobRequest:
    """The job one run of a scheduled event is (the slot's and `scheduler trigger`'s alike): deduplicated
    on the event's id, so a run is skipped while the previous one is queued or running."""
    from bench_jobs.jobs.enqueue import JobRequest

    return JobRequest(bench=bench, site=site, queue=event.queue, method=event.method, kwargs={},
                      timeout=bench.queue_timeouts().get(event.queue, 300),
                      job_id=scheduled_job_id(bench.bench_id, site, event), deduplicate=True, once_key=once_key,
                      once_ttl=once_ttl)
