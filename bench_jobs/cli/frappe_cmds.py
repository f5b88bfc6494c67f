"""Frappe's command names, with Frappe's options and exit codes, over bench-jobs' own core.

An operator's muscle memory (`bench --site all enable-scheduler`, `bench trigger-scheduler-event ...`,
`bench set-maintenance-mode on`, `bench worker-pool --num-workers 4`) works unchanged. Each command is
a thin alias: the work is done by the same functions as `scheduler enable|disable|trigger` and the
site_config controls (`worker-pool` lives with `worker`).
"""

from __future__ import annotations

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.errors import BenchJobsError
from bench_jobs.ops import completion as complete


def _toggle(ctx: Context, action: str, said: str) -> None:
    from bench_jobs.scheduler.controls import control

    for site in ctx.require_sites():  # Frappe: every site given (--site all), else the current one
        control(ctx.bench, site, action)
        render.info(f"{said} for {site}")


@click.command("enable-scheduler")
@click.pass_obj
def enable_scheduler(ctx: Context) -> None:
    """Enable the scheduler for the site (Frappe's `bench enable-scheduler`).

    Writes System Settings.enable_scheduler in the site's database when its
    db_* settings reach one (as Frappe does), else enable_scheduler in
    site_config.json. Prints "Enabled for SITE" per site; exit 1 without a site.

    \b
    Examples:
      bench-jobs --site site1.local enable-scheduler
      bench-jobs --site all enable-scheduler
    """
    _toggle(ctx, "enable", "Enabled")


@click.command("disable-scheduler")
@click.pass_obj
def disable_scheduler(ctx: Context) -> None:
    """Disable the scheduler for the site (Frappe's `bench disable-scheduler`).

    Writes System Settings.enable_scheduler = 0 in the site's database when
    its db_* settings reach one, else enable_scheduler = 0 in site_config.json.

    \b
    Examples:
      bench-jobs --site site1.local disable-scheduler
      bench-jobs --site all disable-scheduler
    """
    _toggle(ctx, "disable", "Disabled")


@click.command("trigger-scheduler-event")
@click.argument("event", shell_complete=complete.events)
@click.pass_obj
def trigger_scheduler_event(ctx: Context, event: str) -> None:
    """Run a scheduled event now, in this process (Frappe's `bench trigger-scheduler-event`).

    EVENT is a scheduled method (app.module.function), as Frappe names its
    Scheduled Job Types, or an event name (daily, hourly_long, cron, ...). It
    runs for the site as a worker would; exit 1 when it does not exist
    ("Event EVENT does not exist!") or when it raises. To enqueue it instead,
    use `bench-jobs scheduler trigger`.

    \b
    Examples:
      bench-jobs --site site1.local trigger-scheduler-event myapp.tasks.daily_digest
      bench-jobs --site all trigger-scheduler-event daily
    """
    from bench_jobs.scheduler.controls import matching, trigger

    exit_code = 0
    for site in ctx.require_sites():
        try:
            matching(ctx.bench, event, site)
        except BenchJobsError:
            render.warn(f"Event {event} does not exist!")
            exit_code = 1
            continue
        for row in trigger(ctx.bench, ctx.redis, site, event, now=True):
            if row["status"] == "failed":
                render.warn((row.get("traceback") or "").rstrip())
                render.error(f"{row['method']} failed on {site}: {row['error']}")
                exit_code = 1
            else:
                render.info(f"{row['method']} ran for {site} ({row['duration_seconds']:.3f}s)")
    click.get_current_context().exit(exit_code)


@click.command("set-maintenance-mode")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_obj
def set_maintenance_mode(ctx: Context, state: str) -> None:
    """Put the site in maintenance mode, or take it out (Frappe's `bench set-maintenance-mode`).

    Sets maintenance_mode to 1 or 0 in the site's site_config.json (other keys
    kept); the scheduler enqueues nothing for a site in maintenance mode.

    \b
    Examples:
      bench-jobs --site site1.local set-maintenance-mode on
      bench-jobs --site all set-maintenance-mode off
    """
    from bench_jobs.bench.config import update_json

    for site in ctx.require_sites():
        update_json(ctx.bench.site_config_file(site), {"maintenance_mode": 1 if state == "on" else 0})
        render.info(f"Maintenance mode {state} for {site}")
    ctx.bench.reload()
