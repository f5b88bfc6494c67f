"""`doctor`: health of the bench, for people (a table) and for probes (exit status, JSON)."""

from __future__ import annotations

import click

from bench_jobs.cli import options
from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context

MARKS = {"ok": ("OK", "green"), "warn": ("WARN", "yellow"), "fail": ("FAIL", "red")}


@click.command("doctor")
@options.format_option
@click.option("--strict", is_flag=True, help="Count warnings as unhealthy too (exit 1).")
@click.pass_obj
def doctor(ctx: Context, fmt: str, strict: bool) -> None:
    """Check Redis, persistence, workers per queue, the scheduler and the backlog.

    Each check is ok, warn or fail with a one-line fix. Exit status 0 when healthy
    (no check failed; with --strict, none warned either), 1 otherwise: fit for cron
    or a health probe. Thresholds: doctor_* keys in common_site_config.json.

    \b
    Examples:
      bench-jobs doctor
      bench-jobs doctor --format json | jq '.checks[] | select(.status != "ok")'
    """
    from bench_jobs.ops.doctor import diagnose

    report = diagnose(ctx.bench, strict=strict)
    doc = report.as_dict()
    render.listing(fmt, render.envelope(ctx.bench.bench_id, "checks", doc["checks"], healthy=doc["healthy"]),
                   lambda: _table(report))
    if not report.healthy:
        click.get_current_context().exit(1)


def _table(report) -> None:
    rows = []
    for check in report.checks:
        label, colour = MARKS[check.status]
        # Rich markup: coloured on a terminal, plain text when piped or NO_COLOR is set.
        detail = check.detail + (f"\n[dim]fix: {check.fix}[/]" if check.fix else "")
        rows.append({"status": f"[bold {colour}]{label}[/]", "check": check.name, "detail": detail})
    render.print_table(render.build_table(rows, ["status", "check", "detail"], markup=True), no_wrap=("check",))
    counts = {status: sum(c.status == status for c in report.checks) for status in ("fail", "warn")}
    notes = ", ".join(f"{n} {'failed' if s == 'fail' else 'warning' + ('s' if n > 1 else '')}"
                      for s, n in counts.items() if n)
    verdict = "healthy" if report.healthy else "unhealthy"
    render.console().print(f"\nbench is {verdict}" + (f" ({notes})" if notes else ""))
