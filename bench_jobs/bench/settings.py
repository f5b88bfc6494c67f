"""Every configuration key bench-jobs reads, declared once: name, type, default, level, meaning.

Code reads a key only through its declaration (`RESULTS_TTL.read(bench, site)`), so a key has one
spelling, one default and one check. Bench-level keys live in sites/common_site_config.json;
site-level keys may also be set in sites/SITE/site_config.json, which wins for that site. A value of
the wrong kind is one ConfigError naming the key and the file it came from. The README's table of
keys is generated from `SETTINGS` (scripts/gen_config_docs.py; a test fails when they differ).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from bench_jobs.errors import ConfigError


class Bench(Protocol):
    """What a setting reads from a bench (bench.layout.Bench, which imports this module): its two
    config files, already parsed."""

    @property
    def common_config(self) -> dict[str, Any]: ...

    def site_config(self, site: str) -> dict[str, Any]: ...

T = TypeVar("T")
COMMON_FILE = "sites/common_site_config.json"


class Invalid(ValueError):
    """Raised by a parser: the value is not of the declared kind; the text says what it must be."""


# -- kinds: a parser takes the raw JSON value (never None) and returns the typed value ---------------

def _whole_number(value: Any, minimum: int) -> int:
    """`value` (5, "5" or 5.0) as an int >= minimum, else Invalid."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise Invalid(f"a whole number >= {minimum}")
    if int(value) < minimum:
        raise Invalid(f"a whole number >= {minimum}")
    return int(value)


def whole(value: Any) -> int:
    """A whole number >= 1."""
    return _whole_number(value, 1)


def count(value: Any) -> int:
    """A whole number >= 0."""
    return _whole_number(value, 0)


def number(value: Any) -> float:
    """A number >= 0 (seconds, thresholds)."""
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        parsed = -1.0
    if isinstance(value, bool) or not 0 <= parsed < float("inf"):
        raise Invalid("a number >= 0")
    return parsed


def integer(value: Any) -> int:
    """Any whole number, negative too (a nice value)."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not re.fullmatch(r"\s*-?\d+\s*", str(value)):
        raise Invalid("a whole number")
    return int(value)


def flag(value: Any) -> bool:
    """Frappe's loose booleans: 1/0, true/false, "yes"/"no", "on"/"off"."""
    return str(value).strip().lower() not in ("", "0", "false", "no", "off", "none")


def text(value: Any) -> str:
    if isinstance(value, dict | list):
        raise Invalid("a string")
    return str(value)


def choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if str(value) not in choices:
            raise Invalid(f"one of {', '.join(choices)}")
        return str(value)

    parse.__doc__ = f"one of {', '.join(choices)}"
    return parse


def text_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise Invalid('a list like ["HOST:PORT", ...]')
    return [str(item) for item in value]


def mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid('an object like {"reports": {"timeout": 600}}')
    return value


KIND_NAMES: dict[Callable[[Any], Any], str] = {
    whole: "int ≥ 1", count: "int ≥ 0", number: "number ≥ 0", integer: "int", flag: "bool", text: "string",
    text_list: "list", mapping: "object",
}


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One configuration key. `name` is a dotted path for nested keys (`logging.format`); `{queue}`
    in it stands for a queue name (`workers.{queue}.timeout`)."""

    name: str
    parse: Callable[[Any], T]
    default: T
    level: Literal["bench", "site"]
    doc: str
    shown_default: str | None = None  # how the README shows a default that is not a plain value
    kind: str | None = None  # the README's type column when the parser's name would not say it

    @property
    def type_name(self) -> str:
        return self.kind or KIND_NAMES.get(self.parse) or (self.parse.__doc__ or "string")

    def _path(self, queue: str | None) -> list[str]:
        return self.name.replace("{queue}", queue or "").split(".")

    def raw(self, bench: Bench, site: str | None = None, queue: str | None = None) -> tuple[Any, str]:
        """(the value as written, the file it came from); (None, ...) when unset or empty."""
        sources: list[tuple[dict[str, Any], str]] = []
        if site and self.level == "site":
            sources.append((bench.site_config(site), f"sites/{site}/site_config.json"))
        sources.append((bench.common_config, COMMON_FILE))
        for config, where in sources:
            value: Any = config
            for part in self._path(queue):
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None and value != "":
                return value, where
        return None, COMMON_FILE

    def read(self, bench: Bench, site: str | None = None, *, queue: str | None = None) -> T:
        """The typed value for `site` (site-level keys) or the bench, the default when unset."""
        value, where = self.raw(bench, site, queue)
        if value is None:
            return self.default
        try:
            return self.parse(value)
        except Invalid as exc:
            name = self.name.replace("{queue}", queue or "{queue}")
            raise ConfigError(f"{name} in {where} is {value!r}; it must be {exc}",
                              f"fix it in {where}") from None

    def is_set(self, bench: Bench, site: str | None = None, *, queue: str | None = None) -> bool:
        return self.raw(bench, site, queue)[0] is not None


def _s(name: str, parse: Callable[[Any], T], default: T, doc: str, *, site: bool = False,
       shown: str | None = None, kind: str | None = None) -> Setting[T]:
    return Setting(name, parse, default, "site" if site else "bench", doc, shown, kind)


# -- Redis ------------------------------------------------------------------------------------------
REDIS_QUEUE = _s("redis_queue", text, "redis://127.0.0.1:11000",
                 "the queue Redis (its port is the bench's own Redis port, `init --redis-port`)")
BENCH_ID: Setting[str | None] = _s(
    "bench_id", text, None, "prefix of queue names and keys (`rq:queue:{bench_id}:*`, `bj:{bench_id}:*`: the ACL "
    "rules to grant); default ACL user. Set it explicitly when several hosts share a bench",
    shown="from the bench's real path, as Frappe: `/home/frappe/frappe-bench` → "
    "`home-frappe-frappe-bench`")
USE_RQ_AUTH = _s("use_rq_auth", flag, False, "connect with rq_username/rq_password (written by `setup redis`)")
RQ_USERNAME: Setting[str | None] = _s("rq_username", text, None, "ACL user name; written by `setup redis`",
                                      shown="`bench_id`")
RQ_PASSWORD: Setting[str | None] = _s("rq_password", text, None, "ACL password; written by `setup redis` (0600)")
APPENDFSYNC = _s("redis_queue_appendfsync", choice("always", "everysec", "no"), "everysec",
                 "AOF fsync policy written by `setup redis`", kind="`always`, `everysec`, `no`")
MAXMEMORY: Setting[str | None] = _s(
    "redis_queue_maxmemory", text, None,
    "e.g. `\"2gb\"`; with `noeviction`, writes fail past it instead of jobs being dropped", shown="unset")
SENTINEL_ENABLED = _s("redis_queue_sentinel_enabled", flag, False, "connect through Redis Sentinel")
SENTINELS: Setting[list[str]] = _s("redis_queue_sentinels", text_list, [], 'the Sentinels, `["HOST:PORT", ...]`')
MASTER_SERVICE: Setting[str | None] = _s("redis_queue_master_service", text, None,
                                         "the master's service name at the Sentinels")
SENTINEL_USERNAME: Setting[str | None] = _s("redis_queue_sentinel_username", text, None,
                                            "user name for the Sentinels")
SENTINEL_PASSWORD: Setting[str | None] = _s("redis_queue_sentinel_password", text, None,
                                            "password for the Sentinels")
MASTER_USERNAME: Setting[str | None] = _s("redis_queue_master_username", text, None,
                                          "user name for the master the Sentinels name", shown="`rq_username`")
MASTER_PASSWORD: Setting[str | None] = _s("redis_queue_master_password", text, None,
                                          "password for the master the Sentinels name", shown="`rq_password`")

# -- queues and workers ------------------------------------------------------------------------------
BACKGROUND_WORKERS = _s("background_workers", whole, 1,
                        "worker processes per queue in `start`, `setup supervisor`, `setup systemd`")
WORKERS: Setting[dict[str, Any]] = _s("workers", mapping, {}, "custom queues and per-queue settings (keys below)",
                                      shown="{}")
QUEUE_TIMEOUT: Setting[int | None] = _s("workers.{queue}.timeout", whole, None,
                                        "declares a custom queue and its default job timeout (seconds)", shown="300")
QUEUE_WORKERS: Setting[int | None] = _s("workers.{queue}.background_workers", whole, None,
                                        "worker processes for that queue", shown="`background_workers`")
QUEUE_MAX_QUEUED: Setting[int | None] = _s("workers.{queue}.max_queued_jobs", count, None,
                                           "backpressure limit of that queue (wins over `max_queued_jobs`; 0: none)",
                                           shown="unset")
MAX_QUEUED_JOBS: Setting[int | None] = _s(
    "max_queued_jobs", count, None, "`enqueue` raises `QueueOverloaded` when a queue holds this many jobs (0: none)",
    site=True, shown="unset (no limit)")
RESULTS_TTL = _s("rq_results_ttl", count, 600,
                 "seconds a finished job and its result are kept; 0: deleted as soon as it finishes", site=True)
FAILURE_TTL = _s("rq_job_failure_ttl", whole, 7 * 24 * 3600,
                 "seconds a failed, stopped or canceled job is kept", site=True)
FAILED_JOBS_LIMIT = _s("rq_failed_jobs_limit", count, 1000, "failed jobs kept per queue and site (0: no cap)")
BACKOFF_BASE = _s("retry_backoff_base", number, 5.0,
                  "retry delay `min(max, base * 2^(attempt-1))` seconds, half of it jitter", shown="5")
BACKOFF_MAX = _s("retry_backoff_max", number, 3600.0, "cap of the retry delay (seconds)", shown="3600")
WORKER_DEAD_AFTER = _s("worker_dead_after", number, 15.0,
                       "seconds without heartbeat before a worker counts as dead and its job is recovered", shown="15")
WORKER_TIMEOUT_GRACE: Setting[float | None] = _s(
    "worker_timeout_grace", number, None,
    "extra seconds past a job's timeout before the sweep takes it from a live worker",
    shown="max(30, 2 * `worker_dead_after`)")
NICENESS: Setting[int | None] = _s("background_process_niceness", integer, None,
                                   "`nice` value for workers (also in the supervisor/systemd files)", shown="—")

# -- logs -------------------------------------------------------------------------------------------
LOG_FORMAT = _s("logging.format", choice("text", "json"), "text", "worker/scheduler log format",
                kind="`text`, `json`")
LOG_MAX_BYTES = _s("logging.max_bytes", count, 10 * 1024 * 1024, "log size that triggers rotation (0: never)")
LOG_BACKUP_COUNT = _s("logging.backup_count", count, 5, "rotated log files kept")
ERROR_LOG_LIMIT = _s("error_log_limit", whole, 1000, "entries kept in each site's Error Log")

# -- scheduler ----------------------------------------------------------------------------------------
SCHEDULER_INTERVAL = _s("scheduler_interval", whole, 240, "seconds between runs of the `all` event", site=True)
ENABLE_SCHEDULER: Setting[bool | None] = _s(
    "enable_scheduler", flag, None, "`0`: no events (`scheduler enable/disable` write it)", site=True,
    shown="enabled")
DISABLE_SCHEDULER = _s("disable_scheduler", flag, False, "`1`: no events (Frappe's older spelling)", site=True)
PAUSE_SCHEDULER = _s("pause_scheduler", flag, False, "`1`: no events (`scheduler pause/resume`)", site=True)
MAINTENANCE_MODE = _s("maintenance_mode", flag, False, "`1`: no events", site=True)
TIME_ZONE: Setting[str | None] = _s("time_zone", text, None, "cron evaluation; naive `enqueue --at` times",
                                    site=True, shown="UTC (for `--at`: the machine's)")

DEFAULT_SITE: Setting[str | None] = _s("default_site", text, None,
                                       "the site commands act on without `--site` (Frappe's `bench use` writes it)",
                                       shown="`sites/currentsite.txt`")

# -- the site's database (Frappe's keys; enable_scheduler, time_zone, installed apps are read from it) --------
DB_NAME: Setting[str | None] = _s("db_name", text, None, "the site's MariaDB database", site=True)
DB_USER: Setting[str | None] = _s("db_user", text, None, "its user", site=True, shown="`db_name`")
DB_PASSWORD: Setting[str | None] = _s("db_password", text, None, "its password", site=True)
DB_HOST = _s("db_host", text, "127.0.0.1", "its host", site=True)
DB_PORT = _s("db_port", whole, 3306, "its port", site=True)
DB_SOCKET: Setting[str | None] = _s("db_socket", text, None, "its unix socket (instead of host and port)", site=True)

# -- web ----------------------------------------------------------------------------------------------
WEB_HOST = _s("web_host", text, "127.0.0.1", "address `serve` listens on (not loopback: needs an API key)")
WEB_PORT = _s("web_port", whole, 8010, "port of `serve` (the dashboard and HTTP API)")
DEVELOPER_MODE = _s("developer_mode", flag, False, "`1`: /api/method errors carry the traceback (Frappe's key)",
                    site=True)
WEB_PROCESSES = _s("web_processes", whole, 2, "gunicorn processes in the supervisor/systemd files")

# -- doctor -------------------------------------------------------------------------------------------
DOCTOR_BACKLOG_WARN = _s("doctor_backlog_warn", number, 1000.0, "pending jobs in one queue: warn", shown="1000")
DOCTOR_BACKLOG_FAIL = _s("doctor_backlog_fail", number, 10_000.0, "pending jobs in one queue: fail", shown="10000")
DOCTOR_OLDEST_AGE_WARN = _s("doctor_oldest_age_warn", number, 300.0, "age (s) of the oldest pending job: warn",
                            shown="300")
DOCTOR_OLDEST_AGE_FAIL = _s("doctor_oldest_age_fail", number, 3600.0, "age (s) of the oldest pending job: fail",
                            shown="3600")
DOCTOR_FAILED_WARN = _s("doctor_failed_warn", number, 1.0, "jobs failed in the last hour: warn", shown="1")
DOCTOR_MEMORY_WARN = _s("doctor_memory_warn", number, 75.0, "percent of `maxmemory` used: warn", shown="75")
DOCTOR_MEMORY_FAIL = _s("doctor_memory_fail", number, 90.0, "percent of `maxmemory` used: fail", shown="90")

SETTINGS: tuple[Setting[Any], ...] = tuple(value for value in globals().values() if isinstance(value, Setting))
BY_NAME: dict[str, Setting[Any]] = {setting.name: setting for setting in SETTINGS}
SITE_LEVEL: frozenset[str] = frozenset(s.name for s in SETTINGS if s.level == "site")


def lookup(name: str) -> Setting[Any]:
    """The declaration of `name`; a KeyError for a key nobody declared (a bug, not a user error)."""
    return BY_NAME[name]


def default_text(setting: Setting[Any]) -> str:
    if setting.shown_default is not None:
        return setting.shown_default
    if setting.default is None:
        return "unset"
    if isinstance(setting.default, bool):
        return "1" if setting.default else "0"
    if isinstance(setting.default, str):
        return f"`{setting.default}`"
    return str(setting.default)


def markdown_table() -> str:
    """The README's table of keys, one row per declared key."""
    lines = ["| key | level | type | default | meaning |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        level = "**site**" if s.level == "site" else "bench"
        lines.append(f"| `{s.name}` | {level} | {s.type_name} | {default_text(s)} | {s.doc} |")
    return "\n".join(lines) + "\n"
