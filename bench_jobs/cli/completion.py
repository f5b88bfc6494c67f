"""`completion bash|zsh|fish`: print the shell completion script (Click's protocol)."""

from __future__ import annotations

import click

PROG = "bench-jobs"
COMPLETE_VAR = "_BENCH_JOBS_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
# Where each shell looks for completion files; completions/ holds the same scripts, generated.
FILES = {"bash": "bench-jobs.bash", "zsh": "_bench-jobs", "fish": "bench-jobs.fish"}


def script(shell: str) -> str:
    """The completion script for `shell`. It only calls back into bench-jobs, so it never goes
    stale when commands change; values are completed by bench_jobs.ops.completion at key-press time."""
    from click.shell_completion import get_completion_class

    from bench_jobs.cli import cli
    from bench_jobs.ops.completion import use_fish_script

    use_fish_script()
    cls = get_completion_class(shell)
    if cls is None:
        raise click.BadParameter(f"unsupported shell {shell!r}")
    comp = cls(cli, {}, PROG, COMPLETE_VAR)
    # source_template % source_vars() is what comp.source() returns, minus Click's probe of the
    # local bash version, so the output is the same on every machine.
    return comp.source_template % comp.source_vars()


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    Commands, options, sites, queues, apps, scheduler events and job ids complete
    on TAB. Or copy the file from completions/ into your shell's completion directory.

    \b
    Examples:
      eval "$(bench-jobs completion bash)"        # in ~/.bashrc
      eval "$(bench-jobs completion zsh)"         # in ~/.zshrc, after compinit
      bench-jobs completion fish > ~/.config/fish/completions/bench-jobs.fish
    """
    click.echo(script(shell), nl=False)
