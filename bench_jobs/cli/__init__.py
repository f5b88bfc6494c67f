"""The `bench-jobs` command line: one root group, commands loaded only when invoked.

Global options come before the command, as in bench: `bench-jobs [--bench DIR] [--site SITE] COMMAND`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import click

from bench_jobs.cli.context import Context
from bench_jobs.ops import completion as complete

# command name -> ("module:attribute", short help). Modules are imported only when their command
# runs; the short help lives here so `bench-jobs --help` needs no command module at all.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("bench_jobs.cli.bench_cmds:init_cmd", "Create a new bench in DIRECTORY."),
    "new-site": ("bench_jobs.cli.bench_cmds:new_site", "Create a site in the bench."),
    "add-app": ("bench_jobs.cli.bench_cmds:add_app", "Register an installed app in sites/apps.txt."),
    "use": ("bench_jobs.cli.bench_cmds:use", "Make SITE the default site."),
    "setup": ("bench_jobs.cli.setup:setup", "Write config for Redis, supervisor or systemd."),
    "redis": ("bench_jobs.cli.redis_cmd:redis_group", "Start, stop or check the bench's own Redis."),
    "start": ("bench_jobs.cli.start:start", "Run Redis, workers, the scheduler and the web page in the foreground."),
    "worker": ("bench_jobs.cli.worker:worker", "Run workers for some or all queues."),
    "worker-pool": ("bench_jobs.cli.worker:worker_pool", "Run N workers (Frappe's `bench worker-pool`)."),
    "workers": ("bench_jobs.cli.workers:workers", "List the bench's workers and what they are doing."),
    "enqueue": ("bench_jobs.cli.enqueue:enqueue_cmd", "Put a method call on a queue."),
    "execute": ("bench_jobs.cli.enqueue:execute_cmd", "Run a method now and print its result."),
    "show-pending-jobs": ("bench_jobs.cli.pending:show_pending_jobs", "Per queue: counts, oldest age, next jobs."),
    "jobs": ("bench_jobs.cli.jobs:jobs", "List, show, retry, cancel, stop, delete or purge jobs."),
    "purge-jobs": ("bench_jobs.cli.jobs:purge_jobs", "Delete queued jobs (Frappe's spelling)."),
    "logs": ("bench_jobs.cli.logs:logs", "Print and follow worker, scheduler or Redis logs."),
    "error-log": ("bench_jobs.cli.errorlog:error_log", "The site's Error Log: list, show, clear."),
    "scheduler": ("bench_jobs.cli.scheduler:scheduler", "Run the scheduler and control it per site."),
    "schedule": ("bench_jobs.cli.scheduler:schedule", "Run the scheduler (alias of `scheduler run`)."),
    "enable-scheduler": ("bench_jobs.cli.frappe_cmds:enable_scheduler",
                         "Enable the site's scheduler (Frappe's spelling)."),
    "disable-scheduler": ("bench_jobs.cli.frappe_cmds:disable_scheduler",
                          "Disable the site's scheduler (Frappe's spelling)."),
    "trigger-scheduler-event": ("bench_jobs.cli.frappe_cmds:trigger_scheduler_event",
                                "Run a scheduled event now (Frappe's spelling)."),
    "set-maintenance-mode": ("bench_jobs.cli.frappe_cmds:set_maintenance_mode",
                             "Maintenance mode on|off for the site (Frappe's spelling)."),
    "doctor": ("bench_jobs.cli.doctor:doctor", "Check Redis, workers, scheduler and backlog."),
    "ready-for-migration": ("bench_jobs.cli.migration:ready_for_migration",
                            "Exit 1 while the site has queued or running jobs (Frappe's too)."),
    "serve": ("bench_jobs.cli.serve:serve", "Serve the HTTP API and the live dashboard."),
    "api-key": ("bench_jobs.cli.api_key:api_key", "Create, list or revoke the site's API keys."),
    "metrics": ("bench_jobs.cli.metrics:metrics", "Prometheus metrics, printed or served over HTTP."),
    "completion": ("bench_jobs.cli.completion:completion", "Print the shell completion script."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, keeping `--help` and start-up fast."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._available()})

    def _available(self) -> list[str]:
        return [name for name, (target, _) in self.lazy.items()
                if importlib.util.find_spec(target.partition(":")[0]) is not None]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) if name in self.lazy
                else (name, self.commands[name].get_short_help_str()) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """Command names with the short help from the table, so a TAB imports no command module."""
        from click.shell_completion import CompletionItem

        items = [CompletionItem(name, help=self.lazy[name][1]) for name in self.list_commands(ctx)
                 if name in self.lazy and name.startswith(incomplete)]
        items += [CompletionItem(name, help=command.get_short_help_str())
                  for name, command in self.commands.items() if name.startswith(incomplete) and not command.hidden]
        return items + click.Command.shell_complete(self, ctx, incomplete)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module_name, _, attr = self.lazy[name][0].partition(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:
                    return None
                raise
            return getattr(module, attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        """The one place where errors become one or two lines on stderr and an exit status."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except OSError as exc:  # a file the bench needs: read-only bench, permissions, disk full, ...
            if exc.filename is None:
                self._fail(ctx, exc)
                raise
            from bench_jobs.cli import output as render

            render.error(f"{exc.filename}: {exc.strerror or exc}",
                         "check that this user may write there (permissions, read-only file system, free space)")
            ctx.exit(1)
        except Exception as exc:
            self._fail(ctx, exc)
            raise

    @staticmethod
    def _fail(ctx: click.Context, exc: Exception) -> None:
        """Exit with the error's message when it is one of ours (or a Redis error); else return."""
        user_error = ctx.obj.user_error(exc) if isinstance(ctx.obj, Context) else None
        if user_error is None:
            return
        from bench_jobs.cli import output as render

        render.error(user_error.message, user_error.hint)
        ctx.exit(user_error.exit_code)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--bench", "bench_path", metavar="DIR", envvar="BENCH_PATH", shell_complete=complete.directories,
              help="The bench directory (default: $BENCH_PATH, else found above the working directory).")
@click.option("--site", metavar="SITE", shell_complete=complete.sites,
              help="The site to act on (default: $BENCH_SITE, else default_site, else sites/currentsite.txt).")
@click.version_option(package_name="bench-jobs", prog_name="bench-jobs")
@click.pass_context
def cli(ctx: click.Context, bench_path: str | None, site: str | None) -> None:
    """Background jobs for Python apps on Redis (RQ-compatible storage), run the Bench way.

    \b
    Examples:
      bench-jobs init ~/my-bench && cd ~/my-bench
      bench-jobs new-site site1.local && bench-jobs use site1.local
      bench-jobs add-app my_app && bench-jobs setup redis
      bench-jobs start                       # Redis, workers, scheduler, dashboard on 127.0.0.1:8010
      bench-jobs --site site1.local show-pending-jobs
    """
    ctx.obj = Context(bench_option=bench_path, site_option=site)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    if "_BENCH_JOBS_COMPLETE" in os.environ:  # a TAB press: fish gets the script that keeps commas
        complete.use_fish_script()
    cli.main(prog_name="bench-jobs")


if __name__ == "__main__":
    main()
