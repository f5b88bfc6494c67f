"""jobs list|show|retry|cancel|stop|delete|purge|wait, and Frappe's purge-jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from bench_jobs.cli import options
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.errors import BenchJobsError
from bench_jobs.jobs.keys import ALL_STATES
from bench_jobs.ops import completion as complete

if TYPE_CHECKING:
    from bench_jobs.jobs.actions import Outcome

PURGE_STATES = ("queued", "scheduled", "failed", "stopped", "finished", "canceled")


def act_on_ids(client: Any, ctx: Context, job_ids: tuple[str, ...], allowed: tuple[str, ...], verb: str,
               action: Callable[..., Outcome]) -> Outcome:
    """retry/cancel/delete by id: refuse up front if any job is missing or in the wrong state, act,
    then report jobs that changed state meanwhile. An id given twice is one job, acted on once."""
    from bench_jobs.jobs import actions as manage

    ids = list(dict.fromkeys(job_ids))
    manage.precheck(client, ctx.bench, ids, allowed, verb, site=ctx.site)
    outcome = action(client, ctx.bench, ids)
    manage.check_outcome(outcome, verb, allowed)
    return outcome


@click.group("jobs")
def jobs() -> None:
    """List, show, retry, cancel, stop, delete or purge jobs of the site.

    \b
    Examples:
      bench-jobs --site site1.local jobs list --status failed
      bench-jobs --site site1.local jobs retry --all-failed --queue long
    """


@jobs.command("list", short_help="List jobs by status, queue and method.")
@click.option("--status", "statuses", multiple=True, type=click.Choice(ALL_STATES),
              help="Only jobs in this state (repeat for several; default: all).")
@options.queues_option()
@click.option("--method", metavar="GLOB", help="Only methods matching this glob, e.g. 'myapp.tasks.*'.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="At most N jobs.")
@options.all_sites_option
@options.format_option
@click.pass_obj
def list_cmd(ctx: Context, statuses: tuple[str, ...], queue_spec: str | None, method: str | None, limit: int,
             all_sites: bool, fmt: str) -> None:
    """List jobs: running first, then queued, scheduled, failed, canceled, finished.

    \b
    Examples:
      bench-jobs --site site1.local jobs list --status failed --limit 50
      bench-jobs jobs list --all-sites --method 'myapp.*' --format json
    """
    from bench_jobs.jobs.queries import list_jobs

    queues = ctx.bench.parse_queues(queue_spec)
    client = ctx.reader
    sites = ctx.sites(all_sites, seen_in_redis=True)
    rows = list_jobs(client, ctx.bench, sites, queues, list(statuses) or None, method, limit)
    foreign = list_foreign(client, ctx.bench, queues, None if all_sites else sites[0], statuses, method, limit)
    doc = render.envelope(ctx.bench.bench_id, "jobs", rows, sites=sites, one_site=not all_sites, foreign=foreign)
    render.listing(fmt, doc, lambda: _jobs_table(rows, foreign, all_sites))


def _jobs_table(rows: Sequence[Mapping[str, Any]], foreign: list[dict[str, Any]], all_sites: bool) -> None:
    if not rows and not foreign:
        render.info("No jobs match.")
        return
    if rows:
        columns: list[str | tuple[str, str]] = ["id", "status", "queue", "method", "kwargs", "attempts", "error"]
        if all_sites:
            columns.insert(3, "site")
        table_rows = [{**row, "kwargs": render.short(row["kwargs"], 30)} for row in rows]
        render.print_table(render.build_table(table_rows, columns), no_wrap=("id", "status"))
    if foreign:
        title = "Not written by bench-jobs (Frappe/RQ jobs, left to Frappe's workers)"
        columns = ["id", "status", "queue", "site", "method", "enqueued_at"]
        render.print_table(render.build_table(foreign, columns, title=title), no_wrap=("id", "status"))


def list_foreign(client: Any, bench: Any, queues: list[str], site: str | None, statuses: tuple[str, ...],
                 method: str | None, limit: int) -> list[dict[str, Any]]:
    """Foreign (Frappe) jobs that match the listing's filters, queued and running ones."""
    import fnmatch

    from bench_jobs.jobs.foreign import foreign_jobs

    report = foreign_jobs(client, bench, queues, limit, site=site)
    rows = [job.as_dict() for q in report.queues for job in q.jobs]
    rows = [r for r in rows if (not statuses or r["status"] in statuses)
            and (not method or fnmatch.fnmatchcase(r["method"] or "", method))]
    return rows[:limit]


@jobs.command("show", short_help="Everything about one job, with its traceback.")
@click.argument("job_id", metavar="ID", shell_complete=complete.job_ids)
@options.format_option
@click.pass_obj
def show(ctx: Context, job_id: str, fmt: str) -> None:
    """Everything about one job: state, times, attempts, error and traceback, result.

    \b
    Examples:
      bench-jobs jobs show my-bench_5f0c7c2e...
      bench-jobs jobs show my-bench_5f0c7c2e... --format json
    """
    from bench_jobs.jobs.queries import job_detail

    client = ctx.reader
    detail = job_detail(client, ctx.bench, job_id)
    if fmt == "json":
        render.emit_json(detail)
        return
    rows = [{"field": key, "value": f"{value:.3f}" if isinstance(value, float) else value}
            for key, value in detail.items() if key != "traceback"]
    render.print_table(render.build_table(rows, [("field", ""), ("value", "")]), no_wrap=("",))
    if detail["traceback"]:
        render.info("\nTraceback:\n" + detail["traceback"].rstrip())


@jobs.command("retry", short_help="Re-queue failed, stopped, canceled or scheduled jobs.")
@click.argument("job_ids", metavar="[ID]...", nargs=-1, shell_complete=complete.job_ids)
@click.option("--all-failed", is_flag=True, help="Every failed or stopped job of the site (or --queue).")
@click.option("--queue", "queue_spec", metavar="Q[,Q]", shell_complete=complete.queues,
              help="With --all-failed: only these queues.")
@click.pass_obj
def retry(ctx: Context, job_ids: tuple[str, ...], all_failed: bool, queue_spec: str | None) -> None:
    """Put failed, stopped or canceled jobs back at the end of their queue, with their whole
    retry budget again; a scheduled job (a retry in backoff, --in/--at) is queued now.

    \b
    Examples:
      bench-jobs jobs retry my-bench_5f0c7c2e... my-bench_9a1d...
      bench-jobs --site site1.local jobs retry --all-failed --queue long
    """
    from bench_jobs.jobs import actions as manage

    if bool(job_ids) == all_failed:
        raise BenchJobsError("give job ids or --all-failed (one of the two)",
                             "e.g. `bench-jobs jobs retry ID` or `bench-jobs jobs retry --all-failed`")
    if queue_spec and not all_failed:
        raise BenchJobsError("--queue only goes with --all-failed", "drop --queue when retrying by id")
    client = ctx.redis
    if all_failed:
        queues, sites = ctx.bench.parse_queues(queue_spec), ctx.require_sites()
        total = manage.count_selection(client, ctx.bench, manage.selection_keys(ctx.bench, "failed", queues, sites))
        with render.progress_bar(total, "Retrying") as advance:
            outcome = manage.retry_all_failed(client, ctx.bench, sites, queues, advance)
    else:
        outcome = act_on_ids(client, ctx, job_ids, manage.RETRYABLE, "retried", manage.retry_jobs)
    render.info(f"Re-queued {len(outcome.done)} job(s).")


@jobs.command("cancel", short_help="Take queued or scheduled jobs off their queue.")
@click.argument("job_ids", metavar="ID...", nargs=-1, required=True, shell_complete=complete.job_ids)
@click.pass_obj
def cancel(ctx: Context, job_ids: tuple[str, ...]) -> None:
    """Cancel queued (or scheduled) jobs: they leave the queue and never run.

    \b
    Example:
      bench-jobs jobs cancel my-bench_5f0c7c2e... my-bench_9a1d...
    """
    from bench_jobs.jobs import actions as manage

    client = ctx.redis
    outcome = act_on_ids(client, ctx, job_ids, manage.CANCELABLE, "canceled", manage.cancel_jobs)
    render.info(f"Canceled {len(outcome.done)} job(s).")


@jobs.command("stop", short_help="Kill a running job (marked stopped).")
@click.argument("job_id", metavar="ID", shell_complete=complete.job_ids)
@click.pass_obj
def stop(ctx: Context, job_id: str) -> None:
    """Stop a running job: its worker kills it and marks it stopped (listed with failed).

    \b
    Example:
      bench-jobs jobs stop my-bench_5f0c7c2e...
    """
    from bench_jobs.jobs import actions as manage

    client = ctx.redis
    result = manage.stop_job(client, ctx.bench, job_id, site=ctx.site)
    render.info(f"Asked worker {result['worker']} to stop job {job_id}.")
    if not result["worker_alive"]:
        render.warn(f"Worker {result['worker']} has no heartbeat: the recovery sweep will re-queue or fail "
                    "the job instead.")


@jobs.command("delete", short_help="Delete jobs for good (not running ones).")
@click.argument("job_ids", metavar="ID...", nargs=-1, required=True, shell_complete=complete.job_ids)
@click.pass_obj
def delete(ctx: Context, job_ids: tuple[str, ...]) -> None:
    """Delete jobs for good (any state but running: stop those first).

    \b
    Example:
      bench-jobs jobs delete my-bench_5f0c7c2e... my-bench_9a1d...
    """
    from bench_jobs.jobs import actions as manage

    deletable = tuple(s for s in ALL_STATES if s != "started")
    client = ctx.redis
    outcome = act_on_ids(client, ctx, job_ids, deletable, "deleted", manage.delete_jobs)
    render.info(f"Deleted {len(outcome.done)} job(s).")


@jobs.command("purge", short_help="Delete every job of a status, in bulk.")
@options.queues_option()
@click.option("--status", type=click.Choice(PURGE_STATES), default="queued", show_default=True,
              help="Which jobs to delete.")
@click.option("--method", metavar="GLOB", help="Only methods matching this glob.")
@options.all_sites_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@click.pass_obj
def purge(ctx: Context, queue_spec: str | None, status: str, method: str | None, all_sites: bool,
          yes: bool) -> None:
    """Delete every job of a status (queued by default) in some queues, optionally by method.

    \b
    Examples:
      bench-jobs --site site1.local jobs purge --queue long --yes
      bench-jobs jobs purge --status failed --method 'myapp.reports.*'
    """
    from bench_jobs.jobs import actions as manage

    queues = ctx.bench.parse_queues(queue_spec)
    client = ctx.redis
    sites = ctx.sites(all_sites, seen_in_redis=True)
    total = manage.count_selection(client, ctx.bench, manage.selection_keys(ctx.bench, status, queues, sites))
    if total == 0:
        render.info(f"No {status} jobs to purge.")
        return
    what = f"{'up to ' if method or status == 'stopped' else ''}{total} {status} job(s)"
    where = "every site" if all_sites else f"site {sites[0]}"
    render.confirm(f"Delete {what} of {where} in {', '.join(queues)}{f' matching {method}' if method else ''}?", yes)
    with render.progress_bar(total, "Purging") as advance:
        outcome = manage.purge(client, ctx.bench, sites, queues, status, method, progress=advance)
    render.info(f"Purged {len(outcome.done)} job(s).")


@jobs.command("wait", short_help="Wait until nothing of the site is queued or running.")
@options.queues_option()
@click.option("--timeout", type=click.FloatRange(0), default=None, help="Give up after S seconds (exit 1).")
@options.all_sites_option
@click.pass_obj
def wait(ctx: Context, queue_spec: str | None, timeout: float | None, all_sites: bool) -> None:
    """Block until nothing of the site is queued or running (exit 0), or --timeout passes (exit 1).

    Jobs scheduled for later (retries in backoff, --in/--at) are not waited for.

    \b
    Example:
      bench-jobs --site site1.local jobs wait --timeout 300 && bench-jobs ... migrate
    """
    from bench_jobs.jobs import actions as manage

    queues = ctx.bench.parse_queues(queue_spec)
    client = ctx.redis
    sites = ctx.sites(all_sites, seen_in_redis=True)
    idle, counts = manage.wait_idle(client, ctx.bench, sites, queues, timeout)
    if not idle:
        theirs = (f", and {counts['foreign']} job(s) not written by bench-jobs (Frappe's, left to `bench worker`)"
                  if counts.get("foreign") else "")
        raise BenchJobsError(f"still {counts['queued']} queued and {counts['started']} running{theirs} "
                             f"after {timeout:g}s",
                             "start workers (`bench-jobs worker`; Frappe's jobs need `bench worker`) or wait "
                             "longer with --timeout")
    render.info("Idle: nothing queued or running.")


@jobs.command("repair", short_help="Drop index entries of jobs another tool removed.")
@click.pass_obj
def repair_cmd(ctx: Context) -> None:
    """Check every per-site index of the bench against the job hashes and drop entries of jobs that
    another tool (rq's Queue.empty() or Job.delete(), rq-dashboard) removed or changed, so counts
    are right again. Workers and the scheduler do this by themselves within a sweep interval for
    emptied queues and in rotation for the rest; this does all of it now.

    \b
    Example:
      bench-jobs jobs repair
    """
    from bench_jobs.jobs import repair
    from bench_jobs.jobs.keys import Keys

    client = ctx.redis
    keys = Keys(ctx.bench.bench_id)
    seen = {s.decode() if isinstance(s, bytes) else s for s in client.smembers(keys.sites_seen())}
    removed = repair.full(client, keys, ctx.bench.queue_names(), sorted(seen | set(ctx.bench.sites())))
    if not sum(removed.values()):
        render.info("Indexes match the jobs: nothing to repair.")
        return
    render.info("Dropped index entries of jobs removed or changed by another tool: "
                + ", ".join(f"{n} {state}" for state, n in sorted(removed.items()) if n) + ".")


@click.command("purge-jobs")
@options.queues_option()
@click.option("--event", metavar="EVENT", help="Only jobs of this scheduler event, e.g. daily or hourly_long.")
@click.pass_obj
def purge_jobs(ctx: Context, queue_spec: str | None, event: str | None) -> None:
    """Delete the site's queued jobs (Frappe's purge-jobs: no confirmation).

    --event keeps to the methods the installed apps schedule under that event
    (their hooks.py), plus jobs the scheduler tagged with it.

    \b
    Examples:
      bench-jobs --site site1.local purge-jobs --queue long
      bench-jobs --site site1.local purge-jobs --event daily
    """
    from bench_jobs.jobs import actions as manage

    queues = ctx.bench.parse_queues(queue_spec)
    methods = None
    if event:
        if event not in manage.known_events():
            raise BenchJobsError(f"unknown scheduler event '{event}'",
                                 f"use one of {', '.join(manage.known_events())}")
        methods = manage.event_methods(ctx.bench, event)
    client = ctx.redis
    sites = ctx.require_sites()
    total = manage.count_selection(client, ctx.bench, manage.selection_keys(ctx.bench, "queued", queues, sites))
    with render.progress_bar(total, "Purging") as advance:
        outcome = manage.purge(client, ctx.bench, sites, queues, "queued", methods=methods, event=event,
                               progress=advance)
    render.info(f"Purged {len(outcome.done)} job(s).")
    from bench_jobs.jobs.foreign import foreign_jobs

    theirs = foreign_jobs(client, ctx.bench, queues, limit=0, site=sites[0] if len(sites) == 1 else None).pending
    if theirs:
        render.warn(f"{theirs} job(s) not written by bench-jobs (Frappe/RQ) were left as they are: bench-jobs never "
                    "deletes them (Frappe's `bench purge-jobs` does)")
