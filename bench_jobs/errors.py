"""One family of errors: each says what is wrong and, in `hint`, how to fix it.

The CLI turns any `BenchJobsError` into one or two lines on stderr and exit status 1;
library callers catch the specific subclass they care about.
"""

from __future__ import annotations


class BenchJobsError(Exception):
    """A user-facing problem. `str(err)` is what went wrong; `hint` is the fix."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class BenchNotFound(BenchJobsError):
    pass


class SiteNotFound(BenchJobsError):
    pass


class ConfigError(BenchJobsError):
    pass


class RedisUnavailable(BenchJobsError):
    pass


class PermissionDenied(RedisUnavailable):
    """The Redis ACL user may not run a command or touch a key bench-jobs needs; `rule` grants it."""

    def __init__(self, message: str, hint: str, rule: str | None = None) -> None:
        super().__init__(message, hint)
        self.rule = rule


class UnknownQueue(BenchJobsError):
    pass


class MethodNotAllowed(BenchJobsError):
    """The method is not a function of an installed app (or of bench_jobs)."""


class PayloadError(BenchJobsError):
    """An argument cannot be carried as JSON."""


class QueueOverloaded(BenchJobsError):
    """The queue holds `max_queued_jobs` or more jobs; enqueue refused."""

    def __init__(self, queue: str, count: int, limit: int) -> None:
        super().__init__(
            f"queue '{queue}' is overloaded: {count} jobs queued, the limit is {limit}",
            "start more workers, or raise max_queued_jobs in common_site_config.json",
        )
        self.queue = queue
        self.count = count
        self.limit = limit


class JobNotFound(BenchJobsError):
    pass


class CronError(BenchJobsError):
    pass
