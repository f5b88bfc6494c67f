"""scheduler run|enable|disable|pause|resume|status|list|trigger|log, and `schedule` (alias of run)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import click

from bench_jobs.cli import options
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.errors import BenchJobsError
from bench_jobs.ops import completion as complete


@click.group("scheduler")
def scheduler() -> None:
    """Run the scheduler and control it per site.

    Events come from `scheduler_events` in every installed app's hooks.py.
    Any number of `scheduler run` processes may run: one leads, the others
    stand by and take over within 12 seconds.

    \b
    Examples:
      bench-jobs scheduler run
      bench-jobs --site site1.local scheduler pause
      bench-jobs scheduler list --all-sites
      bench-jobs --site site1.local scheduler trigger daily
    """


def _run(ctx: Context, quiet: bool) -> None:
    from bench_jobs.scheduler.loop import run_forever

    run_forever(ctx.bench, quiet=quiet)


@scheduler.command("run")
@click.option("--quiet", is_flag=True, help="Print only warnings and errors (scheduler.log gets everything).")
@click.pass_obj
def run_cmd(ctx: Context, quiet: bool) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C.

    \b
    Examples:
      bench-jobs scheduler run
      bench-jobs schedule          # the same
    """
    _run(ctx, quiet)


@click.command("schedule")
@click.option("--quiet", is_flag=True, help="Print only warnings and errors (scheduler.log gets everything).")
@click.pass_obj
def schedule(ctx: Context, quiet: bool) -> None:
    """Run the scheduler in the foreground (alias of `scheduler run`).

    \b
    Example:
      bench-jobs schedule
    """
    _run(ctx, quiet)


def _control_command(action: str, doc: str) -> click.Command:
    @click.pass_obj
    def command(ctx: Context) -> None:
        from bench_jobs.scheduler.controls import control

        for site in ctx.require_sites():  # one site, or every site with `--site all`
            state = control(ctx.bench, site, action)
            render.info(f"Scheduler for {site}: {state['state']}")

    command.__doc__ = doc
    return scheduler.command(action)(command)


_control_command("enable", "Enable the scheduler for the site (enable_scheduler = 1).\n\n"
                 "\b\nExample:\n  bench-jobs --site site1.local scheduler enable")
_control_command("disable", "Disable the scheduler for the site (enable_scheduler = 0).\n\n"
                 "\b\nExample:\n  bench-jobs --site site1.local scheduler disable")
_control_command("pause", "Pause the scheduler for the site (pause_scheduler = 1).\n\n"
                 "\b\nExample:\n  bench-jobs --site site1.local scheduler pause")
_control_command("resume", "Resume a paused scheduler for the site (pause_scheduler = 0).\n\n"
                 "\b\nExample:\n  bench-jobs --site site1.local scheduler resume")


@scheduler.command("status", short_help="Per site state and the scheduler processes.")
@options.all_sites_option
@options.format_option
@click.pass_obj
def status_cmd(ctx: Context, all_sites: bool, fmt: str) -> None:
    """Per site: enabled, paused, maintenance; and which scheduler processes are alive and which leads.

    enable_scheduler, time_zone and the site's installed apps are read from the
    site's database (System Settings, as Frappe keeps them) when its db_name,
    db_password, db_host and db_port reach one; else from site_config.json.
    "settings from" says which.

    \b
    Examples:
      bench-jobs --site site1.local scheduler status
      bench-jobs scheduler status --all-sites --format json
    """
    from bench_jobs.scheduler.controls import status

    sites = ctx.sites(all_sites)
    state = status(ctx.bench, ctx.redis, sites)
    doc = render.envelope(ctx.bench.bench_id, "states", state["sites"], sites=sites, one_site=not all_sites,
                          alive=state["alive"], leader=state["leader"], schedulers=state["schedulers"])
    render.listing(fmt, doc, lambda: _status_tables(doc))


def _status_tables(doc: dict[str, Any]) -> None:
    rows = [{**s, "apps_shown": ", ".join(s["apps"]) if s.get("apps") is not None else "all of apps.txt"}
            for s in doc["states"]]
    render.table(rows, ["site", "state", "enabled", "paused", "maintenance", ("time_zone", "time zone"),
                        ("apps_shown", "apps"), ("settings_from", "settings from")], title="Sites")
    render.info("")
    procs = [{**p, "role": "leader" if p["leader"] else "standby",
              "up": render.age(time.time() - float(p["started"] or time.time())),
              "seen": f"{p['seen_seconds_ago']}s ago"} for p in doc["schedulers"]]
    render.table(procs, ["host", "pid", "role", "up", ("seen", "last seen")], title="Scheduler processes",
                 empty="No scheduler is running: start one with `bench-jobs scheduler run` (or `bench-jobs start`).")


@scheduler.command("list", short_help="Each event: cron, queue, last and next run.")
@options.all_sites_option
@options.format_option
@click.pass_obj
def list_cmd(ctx: Context, all_sites: bool, fmt: str) -> None:
    """One row per (site, event, method): cron, queue, last run, its status
    and duration, and the next run. Bad hooks entries are listed with their error.

    \b
    Examples:
      bench-jobs --site site1.local scheduler list
      bench-jobs scheduler list --all-sites --format json
    """
    from bench_jobs.bench.hooks import problems
    from bench_jobs.scheduler.controls import list_events

    sites = ctx.sites(all_sites)
    rows = list_events(ctx.bench, ctx.redis, sites)
    for app, problem in problems(ctx.bench):  # on stderr, so --format json stays one document
        render.warn(f"Warning: scheduler_events of {app}: {problem}")
    events = [{k: v for k, v in r.items() if k in JSON_FIELDS} for r in rows]
    doc = render.envelope(ctx.bench.bench_id, "events", events, sites=sites, one_site=not all_sites)
    render.listing(fmt, doc, lambda: _events_table(rows))


def _events_table(rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        render.info("No app of this bench has scheduler_events.")
        return
    _print([_table_row(r) for r in rows],
           ["site", "event", "method", "cron", "queue", ("last_run", "last run"), ("last", "status"),
            ("duration", "took"), ("next_run", "next run"), "error"],
           "Scheduled events (times in each site's time zone)", no_wrap=("method", "cron", "last run", "next run"))


def _print(rows: list[dict[str, Any]], columns: list[Any], title: str, no_wrap: tuple[str, ...]) -> None:
    render.print_table(render.build_table(rows, columns, title), no_wrap=no_wrap)


JSON_FIELDS = ("site", "method", "event", "cron", "queue", "last_run", "last_status", "last_duration_seconds",
               "next_run", "error")


def _table_row(row: Mapping[str, Any]) -> dict[str, Any]:
    status = row["last_status"]
    if row.get("skipped_since_last_run"):  # slots skipped because this run was still queued or running
        status = f"{status}, {row['skipped_since_last_run']} skipped"
    return {**row, "last": status, "duration": _took(row["last_duration_seconds"]), "cron": cron_text(row["cron"]),
            "last_run": _short_time(row["last_run"]), "next_run": _short_time(row["next_run"])}


def cron_text(expr: str | None) -> str | None:
    """A cron as people read it: the six-field seconds form of a short `all` interval as `every 10s`."""
    from bench_jobs.bench.events import describe_cron

    return describe_cron(expr) if expr else expr


def _short_time(iso: str | None) -> str | None:
    """'2026-11-30T10:20:03+05:30' -> '2026-11-30 10:20:03' (the site's wall time)."""
    return iso[:19].replace("T", " ") if iso else None


@scheduler.command("trigger", short_help="Enqueue a scheduled event or method now.")
@click.argument("target", metavar="METHOD|EVENT", shell_complete=complete.events)
@click.option("--now", "run_now", is_flag=True,
              help="Run it in this process now instead of enqueuing it (exit 1 if it raises).")
@options.format_option
@click.pass_obj
def trigger_cmd(ctx: Context, target: str, run_now: bool, fmt: str) -> None:
    """Enqueue (or with --now run here) a scheduled event or method for the site.

    An event whose previous run is still queued or running is skipped. With
    --now the method runs in this process as a worker would run it; if it
    raises, its traceback goes to stderr and the exit status is 1.

    \b
    Examples:
      bench-jobs --site site1.local scheduler trigger daily
      bench-jobs --site site1.local scheduler trigger my_app.tasks.cleanup --now
    """
    from bench_jobs.scheduler.controls import trigger

    sites = ctx.require_sites()  # one site, or every site with `--site all`
    site = ", ".join(sites)
    rows = [{"reason": None, **r} for one in sites for r in trigger(ctx.bench, ctx.redis, one, target, now=run_now)]
    render.listing(fmt, render.envelope(ctx.bench.bench_id, "triggered", rows, sites=sites),
                   lambda: _trigger_table(site, rows, run_now))
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:  # like `execute`: the traceback on stderr and a non-zero exit, so scripts notice
        if fmt != "json":
            render.warn(str(failed[0].get("traceback") or "").rstrip())
        raise BenchJobsError(f"{failed[0]['method']} failed: {failed[0]['error']}")


def _trigger_table(site: str, rows: list[dict[str, Any]], run_now: bool) -> None:
    columns = [*(["site"] if ", " in site else []), "event", "method", "status",
               *([("took", "took"), "error"] if run_now else [("job_id", "job")])]
    _print([{**r, "took": _took(r.get("duration_seconds"))} for r in rows], columns, f"Triggered for {site}",
           no_wrap=("method", "job"))
    for row in rows:
        if row["reason"]:
            render.info(f"Skipped {row['event']} {row['method']}: {row['reason']}")


def _took(seconds: float | str | None) -> str | None:
    return f"{float(seconds):.3f}s" if seconds not in (None, "") else None


@scheduler.command("log", short_help="The Scheduled Job Log: each run and its outcome.")
@click.option("--method", "-m", metavar="M", help="Only runs of this method.")
@click.option("-n", "limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="How many entries.")
@options.all_sites_option
@options.format_option
@click.pass_obj
def log_cmd(ctx: Context, method: str | None, limit: int, all_sites: bool, fmt: str) -> None:
    """The Scheduled Job Log: each run queued, ended (status, duration, error), or skipped.

    \b
    Examples:
      bench-jobs --site site1.local scheduler log -n 50
      bench-jobs scheduler log --method my_app.tasks.cleanup --format json
    """
    from bench_jobs.scheduler.controls import log_entries

    sites = ctx.sites(all_sites)
    rows = log_entries(ctx.bench, ctx.redis, sites, limit, method)
    zones = _site_zones(ctx, {str(r.get("site")) for r in rows})
    table_rows = [{**r, "when": _when(r.get("time"), zones.get(str(r.get("site")))), "took": _took(r.get("duration"))}
                  for r in rows]
    doc = render.envelope(ctx.bench.bench_id, "entries", rows, sites=sites, one_site=not all_sites)
    render.listing(fmt, doc, lambda: _log_table(table_rows))


def _log_table(table_rows: list[dict[str, Any]]) -> None:
    if not table_rows:
        render.info("The Scheduled Job Log is empty.")
    else:
        _print(table_rows, [("when", "time"), "site", "kind", "event", "method", "status", "took", ("job_id", "job"),
                            "error"], "Scheduled Job Log (times in each site's time zone)",
               no_wrap=("time", "method", "job"))


def _site_zones(ctx: Context, sites: set[str]) -> dict[str, Any]:
    """Each site's tzinfo, so the log shows times as `scheduler list` does (a bad zone: UTC)."""
    from bench_jobs.bench import site_db
    from bench_jobs.scheduler import cron

    zones: dict[str, Any] = {}
    for site in sites:
        try:
            zones[site] = cron.zone(site_db.time_zone(ctx.bench, site))
        except BenchJobsError:
            zones[site] = cron.zone(None)
    return zones


def _when(epoch: str | None, tz: Any) -> str | None:
    if not epoch:
        return None
    from bench_jobs.scheduler import cron

    return cron.from_epoch(float(epoch), tz or cron.zone(None)).strftime("%Y-%m-%d %H:%M:%S")
