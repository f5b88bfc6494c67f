"""`enqueue` and `execute`: put a method call on a queue, or run it now, from the shell."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, tzinfo
from typing import Any

import click

from bench_jobs.cli import output as render
from bench_jobs.cli.context import Context
from bench_jobs.errors import BenchJobsError, ConfigError
from bench_jobs.jobs.keys import MAX_RETRY, MAX_TIMEOUT
from bench_jobs.ops import completion as complete

DURATION_RE = re.compile(r"^\s*(\d{1,9})\s*([smhd])\s*\Z")
MAX_DELAY = 3650 * 86400  # --in: ten years at most (further is a typo, and datetime ends at 9999)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


JSON_TYPES = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
              list: "an array"}


def json_type(value: Any) -> str:
    """What a JSON reader calls the value's type (`null`, not `NoneType`)."""
    return JSON_TYPES.get(type(value), type(value).__name__)


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """--kwargs: a JSON object, or a clear error."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchJobsError(f"--kwargs is not valid JSON ({exc.msg} at column {exc.colno})",
                             """pass a JSON object, e.g. --kwargs '{"a": 1, "b": "x"}'""") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number; nesting thousands deep
        why = "nested too deeply" if isinstance(exc, RecursionError) else "a number has too many digits"
        raise BenchJobsError(f"--kwargs cannot be read ({why})",
                             "pass plain values; a very large number as a string") from None
    if not isinstance(value, dict):
        raise BenchJobsError(f"--kwargs must be a JSON object, not {json_type(value)}",
                             """wrap the arguments by name, e.g. --kwargs '{"a": 1}'""")
    return value


def one_kwargs(given: tuple[str, ...]) -> str | None:
    """--kwargs once at most: a second one would silently replace the first."""
    if len(given) > 1:
        raise click.UsageError(f"--kwargs given {len(given)} times; put all arguments in one JSON object, "
                               """e.g. --kwargs '{"a": 1, "b": 2}'""")
    return given[0] if given else None


def parse_duration(text: str) -> int:
    """'30s', '10m', '2h', '1d' -> seconds."""
    match = DURATION_RE.match(text)
    if not match:
        raise BenchJobsError(f"--in '{text[:40]}' is not a duration", "use a number and a unit: 30s, 10m, 2h or 1d")
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DELAY:
        raise BenchJobsError(f"--in {text.strip()} is more than ten years",
                             "use --at for a far date, or a shorter delay")
    return seconds


def site_zone(ctx: Context, site: str) -> tzinfo | None:
    """The site's time_zone, from its database when it has one (None: the machine's local zone)."""
    from bench_jobs.bench import site_db, units

    name = site_db.time_zone(ctx.bench, site)
    if not name:
        return None
    found = units.zone(name)
    if found is None:
        raise ConfigError(f"time_zone '{name}' of site {site} is not a known time zone",
                          "set it to a name like Europe/Berlin in the site's site_config.json")
    return found


def parse_at(text: str, zone) -> float:
    """ISO time -> epoch; a time without offset is in `zone` (the site's time_zone)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BenchJobsError(f"--at '{text}' is not an ISO time",
                             "use e.g. --at 2026-12-01T09:00 (site time) or --at 2026-12-01T08:00+00:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone) if zone else when.astimezone()
    return when.timestamp()


def due_time(delay: str | None, at_time: str | None, zone) -> float | None:
    if delay and at_time:
        raise BenchJobsError("--in and --at both given", "pass one of them")
    if delay:
        return time.time() + parse_duration(delay)
    if at_time:
        return parse_at(at_time, zone)
    return None


def job_traceback(exc: BaseException) -> str:
    """The traceback from the method's own frames on (ours, that only called it, are left out)."""
    import traceback
    from pathlib import Path

    ours = str(Path(__file__).resolve().parent.parent)
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename.startswith(ours):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


@click.command("enqueue")
@click.argument("method", shell_complete=complete.methods)
@click.option("--kwargs", "kwargs_json", metavar="JSON", multiple=True,
              help="Keyword arguments as one JSON object, checked against the method's signature.")
@click.option("--queue", default="default", show_default=True, shell_complete=complete.queues,
              help="Queue to put the job on.")
@click.option("--timeout", type=click.IntRange(1, MAX_TIMEOUT), metavar="SECONDS",
              help="Kill the job after this long (default: the queue's timeout).")
@click.option("--job-id", metavar="ID",
              help="Job id (letters, digits, - and _; stored scoped to bench and site); refused while it is active.")
@click.option("--deduplicate", is_flag=True, help="With --job-id: if that job is queued or running, keep it.")
@click.option("--at-front", is_flag=True, help="Put the job at the head of the queue.")
@click.option("--retry", type=click.IntRange(0, MAX_RETRY), default=0, show_default=True,
              help="Retries after a failure, with exponential backoff.")
@click.option("--in", "delay", metavar="DURATION", help="Run after a delay: 30s, 10m, 2h, 1d.")
@click.option("--at", "at_time", metavar="TIME", help="Run at an ISO time (without offset: the site's time_zone).")
@click.pass_obj
def enqueue_cmd(ctx: Context, method: str, kwargs_json: tuple[str, ...], queue: str, timeout: int | None,
                job_id: str | None, deduplicate: bool, at_front: bool, retry: int, delay: str | None,
                at_time: str | None) -> None:
    """Put a call of METHOD (app.module.function) on a queue and print the job id.

    \b
    Examples:
      bench-jobs --site site1.local enqueue myapp.tasks.send_mail --kwargs '{"to": "a@b.c"}'
      bench-jobs --site site1.local enqueue myapp.tasks.sync --job-id sync --deduplicate --queue long
      bench-jobs --site site1.local enqueue myapp.tasks.report --in 10m --retry 3
      bench-jobs --site all enqueue myapp.tasks.rebuild_cache     # one job per site
    """
    from bench_jobs.bench.apps import check_arguments, resolve_method
    from bench_jobs.bench.context import using
    from bench_jobs.jobs.enqueue import prepare, send

    kwargs = parse_kwargs(one_kwargs(kwargs_json))
    planned = []  # every site's job is checked before any is sent (`--site all`: all or nothing)
    for site in ctx.require_sites():
        zone = site_zone(ctx, site) if delay or at_time else None  # a bad time_zone fails before sending
        run_at = due_time(delay, at_time, zone)
        with using(ctx.bench, site):
            request = prepare(method, kwargs, queue=queue, timeout=timeout, job_id=job_id, deduplicate=deduplicate,
                              at_front=at_front, retry=retry, site=site, run_at=run_at)
            check_arguments(resolve_method(ctx.bench, request.method), kwargs, request.method)
        planned.append((site, zone, run_at, request))
    ctx.check_redis()
    for site, zone, run_at, request in planned:
        with using(ctx.bench, site):
            result = send(request)
        render.info(result.id)
        if result.status == "duplicate":
            render.warn(f"job {result.id} is already queued or running; nothing new was enqueued")
        elif run_at is not None and run_at > time.time():
            when = datetime.fromtimestamp(run_at, zone).astimezone(zone)
            render.warn(f"scheduled for {when.isoformat(timespec='seconds')}")
        elif at_time:
            render.warn(f"--at {at_time} is in the past: the job runs now")


def python_value(text: str, option: str) -> Any:
    """--args / --kwargs of `execute` as Frappe's `bench execute` takes them: JSON or a Python literal
    (read with ast.literal_eval: values only, no code runs)."""
    import ast

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if option == "--args":  # Frappe: a bare word is one string argument
            return [text]
        raise BenchJobsError(f"{option} is not valid JSON (nor a Python literal): {text!r}",
                             "e.g. --kwargs '{\"days\": 7}' or --kwargs \"{'days': 7}\"") from None


@click.command("execute")
@click.argument("method", shell_complete=complete.methods)
@click.option("--args", "args_text", metavar="LIST", help="Positional arguments: a list, e.g. '[7, \"open\"]'.")
@click.option("--kwargs", "kwargs_json", metavar="DICT",
              help="Keyword arguments: a JSON object or Python dict, e.g. '{\"days\": 7}'.")
@click.pass_obj
def execute_cmd(ctx: Context, method: str, args_text: str | None, kwargs_json: str | None) -> None:
    """Run METHOD (app.module.function) now, in this process, and print its result as JSON.

    The method runs for the selected site (every site with `--site all`), as a
    worker would run it. --args and --kwargs are read as Frappe's `bench execute`
    reads them (JSON or a Python literal; a bare word is one string), but never
    evaluated as code. If it raises, its traceback goes to stderr and the exit
    status is 1.

    \b
    Examples:
      bench-jobs --site site1.local execute myapp.tasks.count_open_orders --kwargs '{"days": 7}'
      bench-jobs --site site1.local execute myapp.tasks.count_open_orders --args '[7]'
      bench-jobs --site all execute myapp.tasks.rebuild_cache
    """

    from bench_jobs.bench.apps import name_arguments, resolve_method
    from bench_jobs.bench.context import using
    from bench_jobs.jobs.enqueue import prepare, run_now

    sites = ctx.require_sites()
    args: Any = python_value(args_text, "--args") if args_text else []
    if not isinstance(args, list | tuple):
        args = [args]
    kwargs = python_value(kwargs_json, "--kwargs") if kwargs_json else {}
    if not isinstance(kwargs, dict):
        raise BenchJobsError(f"--kwargs must be an object (a dict), not {json_type(kwargs)}",
                             """wrap the arguments by name, e.g. --kwargs '{"a": 1}'""")
    for site in sites:
        with using(ctx.bench, site):
            named = name_arguments(resolve_method(ctx.bench, method), args, kwargs, method)
            request = prepare(method, named, site=site)
            try:
                result = run_now(request)
            except BenchJobsError:
                raise
            except Exception as exc:  # the method's own failure: show where, then one clean error line
                render.warn(job_traceback(exc))
                raise BenchJobsError(f"{request.method} raised {type(exc).__name__}: {exc}") from None
        render.emit_json(result)
