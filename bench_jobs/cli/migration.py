"""ready-for-migration: Frappe's pre-migrate check, counting Frappe's own pickled jobs too."""

from __future__ import annotations

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context


@click.command("ready-for-migration")
@click.option("--site", "site_option", metavar="SITE", help="The site to check (as in Frappe; default: the "
              "selected site).")
@click.pass_obj
def ready_for_migration(ctx: Context, site_option: str | None) -> None:
    """Exit 0 when nothing of the site is queued or running, else list what is
    left and exit 1 (Frappe's command, with its messages and exit codes).

    Jobs bench-jobs did not write (Frappe's pickled RQ jobs, on the bench's
    queues under either bench id) count as pending too; they are read from
    the fields RQ keeps in plain text, never unpickled.

    \b
    Examples:
      bench-jobs --site site1.local ready-for-migration && bench --site site1.local migrate
      bench-jobs ready-for-migration --site site1.local
    """
    from bench_jobs.jobs.actions import busy_counts
    from bench_jobs.jobs.foreign import foreign_jobs

    if site_option:
        ctx.site_option = site_option
    site = ctx.require_site()
    queues = ctx.bench.queue_names()
    counts = busy_counts(ctx.redis, ctx.bench, [site], queues)
    foreign = foreign_jobs(ctx.redis, ctx.bench, queues, limit=20, site=site) if counts["foreign"] else None
    if not (counts["queued"] or counts["started"] or counts["foreign"]):
        render.info(f"READY for migration: site {site} does not have any background jobs")
        return
    render.info(f"NOT READY for migration: site {site} has pending background jobs")
    render.info(f"  bench-jobs: {counts['queued']} queued, {counts['started']} running "
                "(`bench-jobs worker --burst` drains them)")
    if foreign is not None:
        render.info(f"  not written by bench-jobs (Frappe/RQ): {foreign.pending} queued or running "
                    "(Frappe's `bench worker` drains them; bench-jobs leaves them alone)")
        jobs = [job for queue in foreign.queues for job in queue.jobs]
        # Columns as wide as their longest value, so rows of different queues line up.
        q_width = max((len(job.rq_queue) for job in jobs), default=0)
        id_width = max((len(job.id) for job in jobs), default=0)
        for job in jobs:
            render.info(f"    {job.rq_queue:<{q_width}}  {job.status:<8} {job.id:<{id_width}}  "
                        f"{job.method or job.description or '?'}")
    click.get_current_context().exit(1)
