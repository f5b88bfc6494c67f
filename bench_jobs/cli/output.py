"""All human and machine output goes through here: tables, JSON documents, messages.

Rich is imported only when a table is drawn, so commands that print JSON or nothing stay fast.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from bench_jobs.bench.units import age as age  # re-exported: commands format ages through render.age
from bench_jobs.errors import BenchJobsError

PIPE_WIDTH = 200  # piped tables are not cut to 80 columns: scripts and grep want whole rows


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return str(value)


def to_json(doc: Any) -> str:
    return json.dumps(doc, default=_json_default, indent=2, sort_keys=False)


def emit_json(doc: Any) -> None:
    click.echo(to_json(doc))


def color_enabled(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, no_color=not color_enabled(stream), highlight=False,
                   soft_wrap=not stream.isatty() if hasattr(stream, "isatty") else True)


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def build_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str | tuple[str, str]],
                title: str | None = None, markup: bool = False):
    """A Rich table of `rows`; a column is a key or (key, heading).

    Cells are plain text: a job's arguments are data, never Rich markup ("[/x]" would raise,
    "[b]" would vanish) or emoji codes. `markup=True` is for cells the caller wrote itself.
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    specs = [(c, c.replace("_", " ")) if isinstance(c, str) else c for c in columns]
    for _, heading in specs:
        table.add_column(heading, overflow="fold")
    for row in rows:
        texts = (cell(row.get(key)) for key, _ in specs)
        table.add_row(*(Text.from_markup(text) if markup else Text(text) for text in texts))
    return table


def print_table(table: Any, no_wrap: tuple[str, ...] = ()) -> None:
    """Print a Rich table with some columns kept on one line (ids must stay copyable).

    Piped output is not cut to 80 columns: scripts and `grep` want whole rows. On a narrow terminal
    the other columns wrap first; if the table still does not fit, its lines run past the edge (as
    `docker ps` does) instead of Rich cutting ids short or dropping columns.
    """
    from rich.measure import Measurement

    for column in table.columns:
        if column.header in no_wrap:
            column.no_wrap = True
    if not any(column.header for column in table.columns):
        table.show_header = False  # a field/value listing
    out = console()
    if not out.is_terminal:
        out.width = max(out.width, PIPE_WIDTH)
    needed = Measurement.get(out, out.options.update_width(10_000), table).minimum
    out.width = max(out.width, needed)
    with out.capture() as captured:
        out.print(table)
    # Rich pads every cell to its column's width: the last column leaves blanks at the line end.
    out.file.write("\n".join(line.rstrip() for line in captured.get().split("\n")))
    out.file.flush()


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str | tuple[str, str]],
          title: str | None = None, empty: str | None = None) -> None:
    rows = list(rows)
    if not rows and empty:
        info(empty)
        return
    print_table(build_table(rows, columns, title))


def envelope(bench_id: str, name: str, items: Sequence[Any], *, sites: Sequence[str] | None = None,
             one_site: bool = True, total: int | None = None, **extra: Any) -> dict[str, Any]:
    """The one JSON shape of every listing (docs/cli.md): `bench_id`; for site-scoped listings `site`
    (the one site, null for several) and `sites` (every site covered); the items under their own
    name (`jobs`, `workers`, `events`, ...); `total` (how many exist; more than the items when a
    limit cut the list); then anything particular to the command."""
    doc: dict[str, Any] = {"bench_id": bench_id}
    if sites is not None:
        doc["site"] = sites[0] if one_site and len(sites) == 1 else None
        doc["sites"] = list(sites)
    doc[name] = list(items)
    doc["total"] = len(items) if total is None else total
    doc.update(extra)
    return doc


def listing(fmt: str, doc: dict[str, Any], draw: Callable[[], None]) -> None:
    """Render one listing: `doc` (an `envelope`) as JSON, or `draw()` the tables for people."""
    if fmt == "json":
        emit_json(doc)
    else:
        draw()


def info(message: str) -> None:
    click.echo(message)


def warn(message: str) -> None:
    click.echo(message, err=True)


def error(message: str, hint: str | None = None) -> None:
    prefix = click.style("Error:", fg="red", bold=True) if color_enabled(sys.stderr) else "Error:"
    click.echo(f"{prefix} {message}", err=True)
    if hint:
        click.echo(f"  {hint}", err=True)


def short(value: Any, width: int = 40) -> str:
    """kwargs in one short cell; `jobs show ID` has them in full."""
    text = json.dumps(value, default=str) if value not in (None, {}) else "-"
    return text if len(text) <= width else text[: width - 3] + "..."


def epoch(stamp: str | None) -> float:
    return datetime.fromisoformat(stamp).timestamp() if stamp else time.time()


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress bar on stderr, only on a terminal and only for work worth watching."""
    if total < 1000 or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; without one, refuse unless --yes was given (scripts must say so)."""
    if yes:
        return
    if not stdin_is_terminal():
        raise BenchJobsError(f"{question.rstrip('?')}: refusing without confirmation (no terminal)",
                             "pass --yes to confirm from a script")
    if not click.confirm(question, default=False):
        raise BenchJobsError("aborted, nothing deleted")


# -- live views ------------------------------------------------------------------------------------

class _TerminalBuffer:
    """A text buffer that says it is a terminal when stdout is one, so a frame drawn into it keeps
    the colours (and NO_COLOR) the command would have printed with."""

    def __init__(self, tty: bool) -> None:
        import io

        self.buffer = io.StringIO()
        self.tty = tty

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return self.tty


def capture(draw: Callable[[], None], tty: bool) -> str:
    """What `draw()` prints to stdout, as text with ANSI styles (commands print; watch() redraws)."""
    from contextlib import redirect_stdout

    sink = _TerminalBuffer(tty)
    with redirect_stdout(sink):  # type: ignore[type-var]
        try:
            draw()
        except Exception as raised:  # e.g. Redis restarting: show it in the frame and keep watching
            obj = click.get_current_context(silent=True)
            exc = obj.obj.user_error(raised) if obj and hasattr(obj.obj, "user_error") else None
            if exc is None:
                if isinstance(raised, BenchJobsError):
                    exc = raised
                else:
                    raise
            prefix = click.style("Error:", fg="red", bold=True) if color_enabled(sink) else "Error:"
            click.echo(f"{prefix} {exc.message}" + (f"\n  {exc.hint}" if exc.hint else ""))
    return sink.buffer.getvalue()


def watch(draw: Callable[[], None], interval: float, title: str = "", iterations: int | None = None) -> None:
    """Run `draw` every `interval` seconds, redrawn in place with Rich Live on a terminal; piped,
    each frame is printed after the previous one. Ctrl+C ends the watch (exit 0).
    `iterations` bounds the frames (tests, scripts)."""
    import time

    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    out = console()
    tty = out.is_terminal

    def frame() -> Group:
        header = Text(f"Every {interval:g}s: {title}  {datetime.now().strftime('%H:%M:%S')}", style="dim")
        return Group(header, Text(""), Text.from_ansi(capture(draw, tty).rstrip("\n")))

    drawn = 0
    try:
        if tty:
            with Live(frame(), console=out, auto_refresh=False, redirect_stdout=False) as live:
                drawn = 1
                while iterations is None or drawn < iterations:
                    time.sleep(interval)
                    live.update(frame(), refresh=True)
                    drawn += 1
        else:
            while iterations is None or drawn < iterations:
                if drawn:
                    time.sleep(interval)
                out.print(frame())
                drawn += 1
    except KeyboardInterrupt:
        return
