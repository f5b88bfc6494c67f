"""The one place that builds a Redis connection from the bench's config.

Short connect timeouts and a bounded retry, so a down Redis is reported in seconds;
failures become `RedisUnavailable` with a hint instead of a redis-py traceback.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.errors import BenchJobsError, ConfigError, PermissionDenied, RedisUnavailable

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench

CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 30.0


# `worker -u/-p` (Frappe's --rq-username/--rq-password): credentials for this process and the ones it
# starts, passed down in the environment so a password never shows in a process list.
USERNAME_ENV, PASSWORD_ENV = "BENCH_JOBS_RQ_USERNAME", "BENCH_JOBS_RQ_PASSWORD"


def override_credentials(username: str | None, password: str | None) -> None:
    """Connect as `username`/`password` from now on, whatever use_rq_auth says (as Frappe's worker -u/-p)."""
    if username:
        os.environ[USERNAME_ENV] = username
    if password is not None:
        os.environ[PASSWORD_ENV] = password


def credentials(bench: Bench) -> tuple[str | None, str | None]:
    """(username, password) for the queue Redis: given with `worker -u/-p`, else the ACL user when
    use_rq_auth is on."""
    user, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if user or password:
        return user or S.RQ_USERNAME.read(bench) or bench.bench_id, \
            password if password is not None else S.RQ_PASSWORD.read(bench)
    if not S.USE_RQ_AUTH.read(bench):
        return None, None
    return S.RQ_USERNAME.read(bench) or bench.bench_id, S.RQ_PASSWORD.read(bench)


def redact(url: str) -> str:
    """The URL without any password, fit to print — also when it is malformed (a port of 99999 or
    'abc', another scheme), which is exactly when it ends up in an error message."""
    import re

    return re.sub(r"(?<=//)([^/@]*?):[^/@]*@", r"\1:***@", url)


# Replies of a Redis that cannot take writes now but will: a replica or an old master during a
# Sentinel failover (READONLY, NOREPLICAS under min-replicas-to-write), one still loading its AOF, a
# blocking call cut off by a role change (UNBLOCKED). Long-running processes wait them out like an outage.
TRANSIENT_REPLIES = ("NOREPLICAS", "READONLY", "MASTERDOWN", "UNBLOCKED", "LOADING", "TRYAGAIN")


def transient(exc: BaseException) -> bool:
    """Whether a Redis error means "not now" (down, paused, failing over) rather than a bug."""
    import redis
    from redis.exceptions import ExecAbortError

    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, ExecAbortError)):
        return True
    return isinstance(exc, redis.ResponseError) and any(word in str(exc) for word in TRANSIENT_REPLIES)


def connect(bench: Bench, socket_timeout: float | None = SOCKET_TIMEOUT) -> redis.Redis:
    """A client for the bench's queue Redis (not yet checked: call `check` or use it)."""
    if S.SENTINEL_ENABLED.read(bench):
        return _sentinel_client(bench, socket_timeout)
    return client_for_url(bench.redis_url, *credentials(bench), socket_timeout=socket_timeout)


def client_options(socket_timeout: float | None) -> dict[str, Any]:
    """Short connect timeout, bounded retry (2 more tries within ~0.2 s): a down Redis is reported at once.

    redis-py's own default retries 3 times with up to seconds of backoff; the worker has its own
    reconnect loop, so a CLI command should fail fast instead.
    """
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": socket_timeout,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        "health_check_interval": 30,
    }


def client_for_url(url: str, username: str | None = None, password: str | None = None,
                   socket_timeout: float | None = SOCKET_TIMEOUT) -> redis.Redis:
    import redis

    kwargs = client_options(socket_timeout)
    if username:
        kwargs["username"] = username
    if password:
        kwargs["password"] = password
    try:
        return redis.Redis.from_url(url, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"redis_queue is not a valid Redis URL ({exc})",
                          "set it like redis://127.0.0.1:11000 in sites/common_site_config.json") from None


def sentinel_addresses(bench: Bench) -> list[tuple[str, int]]:
    """`redis_queue_sentinels` (["HOST:PORT", ...], as in Frappe) as (host, port) pairs."""
    addresses = []
    for item in S.SENTINELS.read(bench):
        host, _, port = str(item).rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"redis_queue_sentinels entry '{item}' is not HOST:PORT",
                              "list sentinels like [\"10.0.0.5:26379\"] in common_site_config.json")
        addresses.append((host, int(port)))
    return addresses


def _sentinel_client(bench: Bench, socket_timeout: float | None) -> redis.Redis:
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from redis.sentinel import Sentinel

    sentinels = sentinel_addresses(bench)
    service = S.MASTER_SERVICE.read(bench)
    if not sentinels or not service:
        raise ConfigError("redis_queue_sentinel_enabled is set but redis_queue_sentinels or "
                          "redis_queue_master_service is missing", "set both in common_site_config.json")
    # Frappe's keys: the master's own user/password, else the bench's ACL credentials.
    username, password = credentials(bench)
    master_auth = {"username": S.MASTER_USERNAME.read(bench) or username,
                   "password": S.MASTER_PASSWORD.read(bench) or password}
    sentinel_auth = {"username": S.SENTINEL_USERNAME.read(bench), "password": S.SENTINEL_PASSWORD.read(bench)}
    # Asking a Sentinel is one quick command: the short timeout for reads too, and no retry of its
    # own (the master client's retry asks again; nested retries would multiply the wait).
    sentinel_kwargs = {**client_options(CONNECT_TIMEOUT), "retry": Retry(NoBackoff(), 0),
                       **{k: v for k, v in sentinel_auth.items() if v}}
    sentinel = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs, **client_options(socket_timeout),
                        **{k: v for k, v in master_auth.items() if v})
    client: redis.Redis = sentinel.master_for(service, connection_pool_class=_following_pool_class())
    return client


# How often a Sentinel client asks the Sentinels which node is master (at most; only while it is used).
MASTER_CHECK_EVERY = 1.0
_FOLLOWING_POOL: Any = None


def _following_pool_class() -> Any:
    """redis-py's Sentinel pool asks the Sentinels only when it opens a connection: connections already
    open stay on the old master as long as it answers. After `SENTINEL FAILOVER` the old master goes on
    taking writes (or refusing them with NOREPLICAS) until the Sentinels demote it, ~10 s later; everything
    written there meanwhile is lost, and one process could claim a job on the new master and record its
    end on the old one (the job then stays `started` on the new master under a live worker). This pool
    asks again at most every MASTER_CHECK_EVERY seconds when it hands out a connection, and never hands
    out one that is open to a node other than the master the Sentinels last named."""
    global _FOLLOWING_POOL
    if _FOLLOWING_POOL is not None:
        return _FOLLOWING_POOL
    import redis
    from redis.sentinel import SentinelConnectionPool

    class FollowingSentinelPool(SentinelConnectionPool):
        _checked = float("-inf")

        def follow(self) -> None:
            """Ask the Sentinels now if the last answer is older than MASTER_CHECK_EVERY; when the master
            moved, idle connections are closed (redis-py does that when the address changes)."""
            now = time.monotonic()
            if now - self._checked < MASTER_CHECK_EVERY:
                return
            self._checked = now
            # No Sentinel names a master right now: commands fail and are retried as before.
            with contextlib.suppress(redis.ConnectionError):
                self.get_master_address()  # type: ignore[no-untyped-call]

        def current(self, connection: Any) -> bool:
            """Whether `connection` is closed or open to the master the Sentinels last named."""
            master = self.master_address
            return master is None or getattr(connection, "_sock", None) is None or \
                (connection.host, connection.port) == master

        def get_connection(self, *args: Any, **kwargs: Any) -> Any:
            self.follow()
            connection = super().get_connection(*args, **kwargs)
            if not self.current(connection):  # handed out while in use elsewhere when the master moved
                connection.disconnect()
                try:
                    connection.connect()
                except BaseException:
                    self.release(connection)
                    raise
            return connection

    _FOLLOWING_POOL = FollowingSentinelPool
    return _FOLLOWING_POOL


def stale_connection(client: redis.Redis, connection: Any) -> bool:
    """Whether a connection a caller keeps out of the pool for a while (the worker's pipelined finishes)
    points at a node that is no longer the master. Always False without Sentinel."""
    pool: Any = client.connection_pool
    follow = getattr(pool, "follow", None)
    if follow is None:
        return False
    follow()
    return not pool.current(connection)


def display_url(bench: Bench) -> str:
    """Where the bench's Redis is, fit to print: its URL, or sentinel://HOST:PORT[,...]/SERVICE."""
    if S.SENTINEL_ENABLED.read(bench):
        hosts = ",".join(S.SENTINELS.read(bench))
        return f"sentinel://{hosts}/{S.MASTER_SERVICE.read(bench)}"
    return redact(bench.redis_url)


def describe(bench: Bench) -> str:
    if S.SENTINEL_ENABLED.read(bench):
        return f"Redis Sentinel service {S.MASTER_SERVICE.read(bench)}"
    return f"Redis at {redact(bench.redis_url)}"


SENTINEL_HINT = ("check that the Sentinels run and monitor that service (redis_queue_sentinels, "
                 "redis_queue_master_service, redis_queue_sentinel_password in common_site_config.json)")


def sentinel_reason(message: str, bench: Bench) -> str:
    """Why no Sentinel named a master, from redis-py's MasterNotFoundError text."""
    if "AuthenticationError" in message:
        return "a Sentinel refused redis_queue_sentinel_username/redis_queue_sentinel_password"
    if "Error" in message:  # ConnectionError / TimeoutError from every Sentinel
        hosts = ", ".join(S.SENTINELS.read(bench))
        return f"no Sentinel answered at {hosts}"
    service = S.MASTER_SERVICE.read(bench)
    return f"no Sentinel monitors a master named '{service}'"


def translate(exc: Exception, bench: Bench) -> RedisUnavailable:
    """Turn a redis-py error into a message an operator can act on."""
    import redis
    from redis.sentinel import MasterNotFoundError

    where = describe(bench)
    if isinstance(exc, MasterNotFoundError):
        # redis-py's message dumps every Sentinel client's repr; say what it means instead.
        return RedisUnavailable(f"{where} is not reachable ({sentinel_reason(str(exc), bench)})", SENTINEL_HINT)
    auth_error = redis.AuthenticationError | redis.exceptions.AuthenticationWrongNumberOfArgsError
    if isinstance(exc, auth_error) and not credentials(bench)[1]:
        # No password configured: redis-py 8's own message (about HELLO) would not say so.
        return RedisUnavailable(f"{where} requires a password and none is configured",
                                "set use_rq_auth, rq_username and rq_password in sites/common_site_config.json "
                                "(`bench-jobs setup redis` writes them for the bench's own Redis)")
    if isinstance(exc, auth_error):
        return RedisUnavailable(f"{where} refused our credentials ({exc})",
                                "check rq_username/rq_password in sites/common_site_config.json "
                                "(`bench-jobs setup redis` writes both)")
    if isinstance(exc, redis.ResponseError) and "NOAUTH" in str(exc):
        return RedisUnavailable(f"{where} requires a password",
                                "set use_rq_auth, rq_username and rq_password in common_site_config.json")
    if is_permission_error(exc):
        return permission_denied(exc, bench)
    if S.SENTINEL_ENABLED.read(bench):
        return RedisUnavailable(f"{where} is not reachable ({exc})", SENTINEL_HINT)
    return RedisUnavailable(f"{where} is not reachable ({exc})",
                            "start it with `bench-jobs redis start`, or fix redis_queue in common_site_config.json")


# Redis's words for an ACL refusal: NOPERM replies (redis-py's NoPermissionError), and the plain ERR a
# script gets when a key it touches is outside the user's patterns.
PERMISSION_MARKERS = ("NOPERM", "no permissions to", "can't access at least one of the keys")


def is_permission_error(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, redis.ResponseError) and (
        isinstance(exc, redis.exceptions.NoPermissionError) or any(m in str(exc) for m in PERMISSION_MARKERS))


def key_rules(bench_id: str) -> list[tuple[str, str]]:
    """(probe key, ACL key rule) for each key family bench-jobs uses, with the narrowest rule that grants
    it (the rules `setup redis` generates, jobs/keys.py `Keys.acl_patterns`; a test keeps them in step).
    Frappe's `bench create-rq-users` grants `~rq:[^q]* ~rq:queues ~rq:queue:{bench_id}:*`, which covers
    the rq: families; bench-jobs' own prefix must be added to such a user."""
    from bench_jobs.bench.layout import bench_tag

    tag = bench_tag(bench_id)
    return [(f"rq:job:{tag}_probe", f"~rq:job:{tag}_*"), ("rq:queues", "~rq:queues"),
            (f"rq:queue:{bench_id}:probe", f"~rq:queue:{bench_id}:*"),
            (f"rq:worker:{tag}.probe", f"~rq:worker:{tag}.*"), (f"rq:wip:{bench_id}:probe", f"~rq:wip:{bench_id}:*"),
            (f"bj:{bench_id}:probe", f"~bj:{bench_id}:*")]


def acl_user(bench: Bench) -> str:
    return credentials(bench)[0] or "default"


def permission_denied(exc: BaseException, bench: Bench) -> PermissionDenied:
    """Which permission the ACL user lacks, and the exact rule that grants it (one line each).

    Redis does not name the key it refused, so each key family bench-jobs uses is probed with EXISTS
    (allowed by `+@all -@admin` wherever the key pattern is): the first refused one is the missing rule.
    A refused command is named by Redis itself (`... to run the 'config|get' command`).
    """
    import re

    user = acl_user(bench)
    command = re.search(r"to run the '([^']+)' command", str(exc))
    if command:
        rule = f"+{command.group(1)}"
        what = f"may not run {command.group(1).upper().replace('|', ' ')}"
    else:
        rule = _missing_key_rule(bench) or f"~bj:{bench.bench_id}:*"
        what = f"may not use the keys {rule[1:]}"
    return PermissionDenied(f"Redis user '{user}' {what} (permission denied by its ACL)",
                            f"grant it: redis-cli ACL SETUSER {user} '{rule}' (and add {rule} to that user in the "
                            "ACL file, e.g. config/redis_queue.acl, so it survives a restart)", rule=rule)


def check_access(client: redis.Redis, bench: Bench) -> None:
    """Before long-running processes start (worker, start): every key family bench-jobs uses is
    reachable by the ACL user, else PermissionDenied with the rule, once, instead of N children each
    failing (one pipelined round trip)."""
    with client.pipeline(transaction=False) as pipe:
        for key, _rule in key_rules(bench.bench_id):
            pipe.exists(key)
        replies = pipe.execute(raise_on_error=False)
    for reply in replies:
        if isinstance(reply, Exception) and is_permission_error(reply):
            raise permission_denied(reply, bench)


def _missing_key_rule(bench: Bench) -> str | None:
    try:
        client = connect(bench, socket_timeout=CONNECT_TIMEOUT)
        try:
            for key, rule in key_rules(bench.bench_id):
                try:
                    client.exists(key)
                except Exception as exc:  # the probe itself refused: this family is the missing one
                    if is_permission_error(exc):
                        return rule
                    return None
        finally:
            client.close()
    except Exception:  # the probe is a courtesy: never let it hide the original refusal
        return None
    return None


@contextmanager
def redis_errors(bench: Bench) -> Iterator[None]:
    """Inside this block any redis-py connection/auth error surfaces as RedisUnavailable."""
    try:
        yield
    except Exception as exc:
        user_error = as_user_error(exc, bench)
        if user_error is None:
            raise
        raise user_error from None


def as_user_error(exc: BaseException, bench: Bench) -> BenchJobsError | None:
    """A redis-py connection, timeout, authentication or ACL error as the error to show; else None."""
    import redis

    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.AuthenticationError):
        return translate(exc, bench)
    if isinstance(exc, redis.ResponseError) and (
            any(word in str(exc) for word in ("NOAUTH", "WRONGPASS")) or is_permission_error(exc)):
        return translate(exc, bench)
    if transient(exc):  # failing over (READONLY, NOREPLICAS), loading: nothing was written, try again
        first = str(exc).split(". script:")[0].strip()
        return RedisUnavailable(f"{describe(bench)} cannot take writes right now ({first})",
                                "it is failing over or starting; try again in a few seconds")
    return None


def check(client: redis.Redis, bench: Bench) -> None:
    """Ping once; raise RedisUnavailable with a fix when that fails."""
    with redis_errors(bench):
        client.ping()

