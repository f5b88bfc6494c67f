"""`--help` of every command and subcommand says what it does and shows an example."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from bench_jobs.cli import cli


def walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command of the tree (the root included), as (words after bench-jobs, command)."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            found += walk(command.get_command(ctx, name), (*path, name))
    return found


COMMANDS = walk(cli)
EXAMPLE = re.compile(r"^\s*Examples?:?\s*$\n(?P<body>(?:^ {4,}.*\n?)+)", re.M)


def test_the_tree_is_complete():
    names = {" ".join(path) for path, _ in COMMANDS}
    # A few of each group, so a walk that silently found nothing cannot pass the test below.
    assert {"worker", "jobs show", "scheduler trigger", "setup systemd", "completion", "doctor"} <= names
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda p: " ".join(p) or "bench-jobs")
def test_help_says_what_and_gives_an_example(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # --help needs no bench
    monkeypatch.delenv("BENCH_PATH", raising=False)
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="bench-jobs")
    assert result.exit_code == 0, result.output
    usage, _, rest = result.output.partition("\n\n")
    assert usage.startswith("Usage: bench-jobs"), usage
    summary = rest.strip().splitlines()[0]
    assert len(summary.split()) >= 4 and not summary.startswith("Options:"), f"no description: {summary!r}"
    example = EXAMPLE.search(rest)
    assert example, f"`bench-jobs {' '.join(path)} --help` has no Examples section:\n{result.output}"
    assert "bench-jobs" in example["body"], example["body"]


@pytest.mark.parametrize("path", [path for path, cmd in COMMANDS if isinstance(cmd, click.Group)],
                         ids=lambda p: " ".join(p) or "bench-jobs")
def test_groups_list_each_command_with_a_one_line_description(path):
    """`bench-jobs [GROUP] --help` gives every command a description not cut short by Click ('...')."""
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="bench-jobs", terminal_width=100)
    listing = result.output.split("Commands:", 1)[1]
    group = dict(COMMANDS)[path]
    for name in group.list_commands(click.Context(group)):
        row = re.search(rf"^  {re.escape(name)}\s+(?P<short>\S.*)$", listing, re.M)
        assert row, f"{name} has no description in `bench-jobs {' '.join(path)} --help`"
        assert not row["short"].endswith("..."), row.group(0)
