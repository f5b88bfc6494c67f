"""Options shared by several commands, declared once (command modules never import each other)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from bench_jobs.ops import completion as complete

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json")


def format_option(func: F) -> F:
    """`--format table|json` (as `fmt`): every listing and record command has it."""
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="table for people, json for scripts (one document on stdout).")(func)


def watch_option(func: F) -> F:
    """`--watch [SECONDS]` (2 s when given bare, as `watch`)."""
    return click.option("--watch", "watch", type=click.FloatRange(min=0.1), is_flag=False, flag_value=2.0,
                        default=None, metavar="[SECONDS]",
                        help="Redraw in place every SECONDS (default 2) until Ctrl+C.")(func)


def all_sites_option(func: F) -> F:
    """`--all-sites`: see Context.sites for the rule."""
    return click.option("--all-sites", is_flag=True,
                        help="Every site of the bench (default: the selected site).")(func)


def queues_option(help: str = "Only these queues (default: all).") -> Callable[[F], F]:
    """`--queue Q[,Q]` (as `queue_spec`), comma lists completed."""
    def decorate(func: F) -> F:
        return click.option("--queue", "queue_spec", metavar="Q[,Q]", shell_complete=complete.queues,
                            help=help)(func)

    return decorate
