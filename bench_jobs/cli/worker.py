"""bench-jobs worker: run workers for some or all queues."""

from __future__ import annotations

import sys

import click

from bench_jobs.cli.context import Context
from bench_jobs.ops import completion as complete
from bench_jobs.worker.queue_order import STRATEGIES


@click.command("worker")
@click.option("--queue", "queue_spec", metavar="Q[,Q]", shell_complete=complete.queues,
              help="Queues to serve, in priority order (default: all queues of the bench).")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--no-fork", is_flag=True, help="Run jobs in the worker process (fastest; recycle with --max-jobs).")
@click.option("--fork-per-job", is_flag=True,
              help="Fork a fresh child for every job instead of reusing a pre-forked one (slower).")
@click.option("--max-jobs-per-child", type=click.IntRange(1), default=1000, show_default=True,
              help="Isolated mode: replace the job process after N jobs.")
@click.option("--max-child-memory", type=click.IntRange(16), default=1024, show_default=True, metavar="MB",
              help="Isolated mode: a job whose process grows past MB is killed and failed; the process is replaced.")
@click.option("--num-workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Run N worker processes under a supervisor that restarts any that dies.")
@click.option("--max-jobs", type=click.IntRange(1), help="Exit after N jobs (a supervisor starts a fresh one).")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="default", show_default=True,
              help="Queue order: priority as given, round_robin or random.")
@click.option("--quiet", is_flag=True, help="Print only warnings and errors (logs/worker.log gets everything).")
@click.option("-u", "--rq-username", metavar="USER", help="Redis ACL user (Frappe's option; default: rq_username).")
@click.option("-p", "--rq-password", metavar="PASSWORD", envvar="BENCH_JOBS_RQ_PASSWORD",
              help="Redis ACL password (default: rq_password; or $BENCH_JOBS_RQ_PASSWORD, kept out of `ps`).")
@click.pass_obj
def worker(ctx: Context, *, queue_spec: str | None, burst: bool, no_fork: bool, fork_per_job: bool,
           max_jobs_per_child: int, max_child_memory: int, num_workers: int, max_jobs: int | None, strategy: str,
           quiet: bool, rq_username: str | None = None, rq_password: str | None = None) -> None:
    """Run workers for some or all queues. Jobs of every site of the bench are served.

    SIGTERM or Ctrl-C: finish the current job and exit; a second one stops it now
    (it is re-queued while it has retries left, else failed "worker stopped").

    \b
    Examples:
      bench-jobs worker                              # all queues, priority short > default > long
      bench-jobs worker --queue short,default
      bench-jobs worker --queue long --num-workers 4
      bench-jobs worker --no-fork --max-jobs 1000    # fast, recycled every 1000 jobs
      bench-jobs worker --max-child-memory 512       # isolated: a job growing past 512 MB fails
      bench-jobs worker --burst                      # drain and exit (scripts, CI)
      bench-jobs worker -u bench-user -p "$PASS"     # as a given Redis ACL user (Frappe's -u/-p)
    """
    if rq_username or rq_password:
        from bench_jobs.bench.connection import override_credentials

        # For this process and the workers it starts (through the environment, never their argv).
        override_credentials(rq_username, rq_password)
    bench = ctx.bench
    queues = bench.parse_queues(queue_spec)
    isolation = ["--fork-per-job"] * fork_per_job + ["--max-jobs-per-child", str(max_jobs_per_child),
                                                     "--max-child-memory", str(max_child_memory)]
    if num_workers > 1:
        code = _supervise(ctx, queues, num_workers, burst, no_fork, max_jobs, strategy, quiet, isolation)
        click.get_current_context().exit(code)
    from bench_jobs.worker.loop import Worker, WorkerOptions

    if burst:
        ctx.check_redis()  # a drain that cannot start is an error now
    else:
        _note_redis_down(ctx)
    options = WorkerOptions(queues, burst=burst, fork=not no_fork, max_jobs=max_jobs, strategy=strategy, quiet=quiet,
                            pool=not fork_per_job, max_jobs_per_child=max_jobs_per_child,
                            max_child_memory=max_child_memory * 2**20)
    Worker(bench, options).run()


def _note_redis_down(ctx: Context) -> None:
    """A long-running worker waits for Redis (a process manager may start it first, or restart Redis
    beside it); say so on stderr instead of exiting, which a supervisor would count as a failed spawn."""
    from bench_jobs.errors import RedisUnavailable

    try:
        ctx.check_redis()
    except RedisUnavailable as exc:
        import redis

        cause = exc.__context__
        down = isinstance(cause, redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError)
        if not down or isinstance(cause, redis.AuthenticationError):  # a wrong password is not waited out
            raise
        click.echo(f"warning: {exc}; the worker waits for it (Ctrl-C to stop)", err=True)


def _supervise(ctx: Context, queues: list[str], n: int, burst: bool, no_fork: bool, max_jobs: int | None,
               strategy: str, quiet: bool, isolation: list[str]) -> int:
    from bench_jobs.ops.processes import Manager, process_plan

    options = ["--strategy", strategy, *["--burst"] * burst, *["--no-fork"] * no_fork, *["--quiet"] * quiet,
               *(["--max-jobs", str(max_jobs)] if max_jobs else []), *isolation]
    [group] = process_plan(ctx.bench, scheduler=False, web=False, worker_queues=queues, worker_count=n,
                           worker_args=tuple(options))
    base = [sys.executable, "-m", "bench_jobs", "--bench", str(ctx.bench.path)]
    ctx.check_redis()  # before starting N children
    from bench_jobs.bench.connection import check_access

    check_access(ctx.redis, ctx.bench)
    manager = Manager(restart="on-failure" if burst else "always")
    for name in group.instances():
        manager.add(name, [*base, *group.args])
    return manager.run()


@click.command("worker-pool")
@click.option("--queue", "queue_spec", metavar="Q[,Q]", shell_complete=complete.queues,
              help="Queues to consume from, comma-separated (default: all queues).")
@click.option("--num-workers", type=click.IntRange(1, 256), default=2, show_default=True,
              help="Number of workers to spawn in the pool.")
@click.option("--quiet", is_flag=True, help="Print only warnings and errors.")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.pass_context
def worker_pool(click_ctx: click.Context, queue_spec: str | None, num_workers: int, quiet: bool,
                burst: bool) -> None:
    """Run a pool of workers (Frappe's `bench worker-pool`): `worker --num-workers N`.

    Each worker is its own process, restarted if it dies; SIGTERM or Ctrl-C
    stops them all after their current job.

    \b
    Examples:
      bench-jobs worker-pool --num-workers 4
      bench-jobs worker-pool --queue short,default --num-workers 2 --burst
    """
    click_ctx.invoke(worker, queue_spec=queue_spec, num_workers=num_workers, quiet=quiet, burst=burst)
