"""All human and machine output goes through here: tables, JSON documents, messages.

Rich is imported only when a table is drawn, so commands that print JSON or nothing stay fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import click

FORMATS = ("table", "json")


def format_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds `--format table|json` to a listing command (as `fmt`)."""
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="table for people, json for scripts (one document on stdout).")(func)


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


def build_table(rows: Iterable[dict[str, Any]], columns: Sequence[str | tuple[str, str]],
                title: str | None = None):
    """A Rich table of `rows`; a column is a key or (key, heading)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    specs = [(c, c.replace("_", " ")) if isinstance(c, str) else c for c in columns]
    for _, heading in specs:
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(key)) for key, _ in specs))
    return table


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str | tuple[str, str]],
          title: str | None = None, empty: str | None = None) -> None:
    rows = list(rows)
    if not rows and empty:
        info(empty)
        return
    console().print(build_table(rows, columns, title))


def listing(fmt: str, doc: Any, rows: Iterable[dict[str, Any]], columns: Sequence[str | tuple[str, str]],
            title: str | None = None, empty: str | None = None) -> None:
    """Render one listing: `doc` as JSON, or `rows` as a table."""
    if fmt == "json":
        emit_json(doc)
    else:
        table(rows, columns, title, empty)


def info(message: str) -> None:
    click.echo(message)


def warn(message: str) -> None:
    click.echo(message, err=True)


def error(message: str, hint: str | None = None) -> None:
    prefix = click.style("Error:", fg="red", bold=True) if color_enabled(sys.stderr) else "Error:"
    click.echo(f"{prefix} {message}", err=True)
    if hint:
        click.echo(f"  {hint}", err=True)


def age(seconds: float | None) -> str:
    """12.3 -> '12s', 4000 -> '1h06m'."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
