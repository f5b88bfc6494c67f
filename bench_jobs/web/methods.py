"""`/api/method/<dotted.path>`: call a `@whitelist()` function of an installed app, as Frappe does.

The checks run in Frappe's order, each with its status: the path must be in an installed app and
marked whitelisted (403), exist (404), accept this HTTP method (403, as Frappe's is_valid_http_method),
and a caller without credentials may call only `allow_guest=True` methods (401). The call runs with the
site in context and inside a unit of work, so what it enqueues with `enqueue_after_commit=True` is sent
only if it returns. Arguments that do not fit the signature are a 417 before anything runs.
"""

from __future__ import annotations

import inspect
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.bench.apps import MethodNotFound, check_allowed, resolve_method
from bench_jobs.errors import BenchJobsError, MethodNotAllowed, QueueOverloaded, RedisUnavailable

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench
    from bench_jobs.web.auth import Principal

# Keys a Frappe client adds to the form that are not arguments of the method.
NOT_ARGUMENTS = frozenset({"cmd", "_", "csrf_token"})


@dataclass
class HttpError(Exception):
    """An error answer: status, Frappe's exception type name and a message safe to show."""

    status: int
    exc_type: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"exc_type": self.exc_type, "exception": f"{self.exc_type}: {self.message}", **self.extra}


def _whitelisted_function(bench: Bench, path: str) -> Any:
    try:
        check_allowed(bench, path)
    except MethodNotAllowed as exc:
        raise HttpError(403, "PermissionError", exc.message) from None
    try:
        func = resolve_method(bench, path)
    except MethodNotFound as exc:
        raise HttpError(404, "DoesNotExistError", exc.message) from None
    except MethodNotAllowed as exc:
        raise HttpError(403, "PermissionError", exc.message) from None
    if not getattr(func, "whitelisted", False):
        raise HttpError(403, "PermissionError", f"Function {path} is not whitelisted.")
    return func


def call(bench: Bench, site: str, path: str, http_method: str, args: dict[str, Any],
         principal: Principal | None) -> Any:
    """Run the whitelisted method for `site` and return its result; HttpError for every refusal."""
    from bench_jobs.bench.context import using
    from bench_jobs.jobs.enqueue import unit_of_work

    func = _whitelisted_function(bench, path)
    allowed = getattr(func, "http_methods", ("GET", "POST", "PUT", "DELETE"))
    if http_method not in allowed:
        raise HttpError(403, "PermissionError", f"Not permitted: {path} accepts {', '.join(allowed)}, "
                                                f"not {http_method}.")
    if not getattr(func, "allow_guest", False):
        if principal is None:
            raise HttpError(401, "AuthenticationError", "Not logged in: send 'Authorization: token KEY:SECRET'.")
        if not principal.is_admin:
            raise HttpError(403, "PermissionError", "a read-only key may list and look, not call methods; "
                                                    "use a key made with `api-key create --role admin`")
    kwargs = {k: v for k, v in args.items() if k not in NOT_ARGUMENTS}
    try:
        inspect.signature(func).bind(**kwargs)
    except TypeError as exc:
        raise HttpError(417, "ValidationError", f"{path}: {exc}") from None
    try:
        with using(bench, site), unit_of_work():
            return func(**kwargs)
    except (QueueOverloaded, RedisUnavailable) as exc:
        raise HttpError(503, type(exc).__name__, exc.message) from None
    except BenchJobsError as exc:  # a bad enqueue (payload, queue, method) is the caller's input
        raise HttpError(417, type(exc).__name__, exc.message) from None
    except HttpError:
        raise
    except Exception as exc:
        raise server_error(bench, site, path, exc) from None


def server_error(bench: Bench, site: str, path: str, exc: BaseException) -> HttpError:
    """A 500: the type and message always; the traceback only in developer_mode. It goes to the
    site's Error Log too, where the operator finds it with `bench-jobs error-log list`."""
    text = "".join(traceback.format_exception(exc))
    try:
        from bench_jobs.bench.context import redis_for
        from bench_jobs.jobs.keys import Keys
        from bench_jobs.logs.error_log import add_entry

        add_entry(redis_for(bench), Keys(bench.bench_id), site, title=f"/api/method/{path}", method=path,
                  message=f"{type(exc).__name__}: {exc}",
                  traceback=text)
    except Exception:  # the caller's error matters more than the log's
        pass
    developer = S.DEVELOPER_MODE.read(bench, site)
    extra = {"exc": text} if developer else {}
    return HttpError(500, type(exc).__name__, str(exc) or type(exc).__name__, extra)
