"""A Frappe site's settings as Frappe keeps them: in the site's MariaDB database, when it can be reached.

Frappe stores `enable_scheduler` and `time_zone` in System Settings, a Single doctype: rows
(doctype, field, value) of `tabSingles`; the time zone is also a system default (`tabDefaultValue`,
parent `__default`). The apps installed on a site are the `installed_apps` global (`tabDefaultValue`,
parent `__global`, a JSON list; `tabInstalled Application` mirrors it), restricted to the apps of the
bench as Frappe's `get_installed_apps(_ensure_on_bench=True)` does.

A site reaches its database through `db_name`, `db_password`, `db_host`, `db_port` (and `db_user`,
which defaults to `db_name`, or `db_socket`) in its site_config.json or the common config. When it has
none, or the database cannot be reached, the settings come from site_config.json and the defaults, and
`source` says so. PyMySQL (pure Python) is imported only when a site has database settings.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench_jobs.bench import settings as S
from bench_jobs.errors import BenchJobsError

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

DATABASE, SITE_CONFIG = "database", "site_config"
CACHE_SECONDS = 5.0  # the scheduler re-reads every 10 s; one CLI command reads once
# An unreachable database is asked again only after this long: a connect timeout per site on every
# reload would hold up the scheduler's loop.
FAILURE_CACHE_SECONDS = 60.0
CONNECT_TIMEOUT = 2

_cache: dict[tuple[str, str], tuple[float, SiteSettings]] = {}


@dataclass(frozen=True)
class SiteSettings:
    """What the site's database says (source "database"), or that it was not asked (source "site_config")."""

    source: str
    enable_scheduler: str | None = None  # the stored value ("1", "0"), None when not stored
    time_zone: str | None = None
    installed_apps: tuple[str, ...] | None = None  # None: unknown, every app of apps.txt
    where: str = ""  # db_name@host:port when the database answered
    problem: str | None = None  # why the database was not used although the site names one

    @property
    def described(self) -> str:
        """For `scheduler status`: where enable_scheduler / time_zone / installed apps came from."""
        if self.source == DATABASE:
            return f"database {self.where}"
        if self.problem:
            return f"site_config.json (database unreachable: {self.problem})"
        return "site_config.json (no db_name)"


def db_settings(bench: Bench, site: str) -> dict[str, Any] | None:
    """The connection settings of the site's database, or None when it names none (Frappe's keys)."""
    name = S.DB_NAME.read(bench, site)
    if not name:
        return None
    settings: dict[str, Any] = {
        "user": S.DB_USER.read(bench, site) or name, "password": S.DB_PASSWORD.read(bench, site) or "",
        "database": name, "connect_timeout": CONNECT_TIMEOUT, "read_timeout": 5, "write_timeout": 5,
        "charset": "utf8mb4",
    }
    socket = S.DB_SOCKET.read(bench, site)
    if socket:
        settings["unix_socket"] = socket
    else:
        settings["host"], settings["port"] = S.DB_HOST.read(bench, site), S.DB_PORT.read(bench, site)
    return settings


def connect(bench: Bench, site: str) -> Any:
    """An open PyMySQL connection to the site's database (autocommit), or BenchJobsError saying why not."""
    settings = db_settings(bench, site)
    if settings is None:
        raise BenchJobsError(f"site {site} has no database settings (db_name) in its site_config.json")
    try:
        import pymysql
    except ImportError:
        raise BenchJobsError("PyMySQL is not installed, so the site's database cannot be read",
                             "pip install PyMySQL (bench-jobs depends on it; reinstall bench-jobs)") from None
    try:
        return pymysql.connect(autocommit=True, **settings)
    except pymysql.MySQLError as exc:
        raise BenchJobsError(_describe(exc)) from None


def _describe(exc: Exception) -> str:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    return str(args[1]) if len(args) > 1 else str(exc)


def _where(settings: dict[str, Any]) -> str:
    place = settings.get("unix_socket") or f"{settings.get('host')}:{settings.get('port')}"
    return f"{settings['database']}@{place}"


def read(bench: Bench, site: str, *, fresh: bool = False) -> SiteSettings:
    """The site's settings from its database, cached a few seconds; site_config's when it has none."""
    key = (str(bench.path), site)
    cached = _cache.get(key)
    if cached and not fresh:
        ttl = FAILURE_CACHE_SECONDS if cached[1].problem else CACHE_SECONDS
        if time.monotonic() - cached[0] < ttl:
            return cached[1]
    settings = _read(bench, site)
    _cache[key] = (time.monotonic(), settings)
    return settings


def time_zone(bench: Bench, site: str) -> str | None:
    """The site's time zone: System Settings' in its database when it answers, else `time_zone` from
    site_config.json (None: unset)."""
    settings = read(bench, site)
    return (settings.time_zone if settings.source == DATABASE else None) or S.TIME_ZONE.read(bench, site)


def _read(bench: Bench, site: str) -> SiteSettings:
    params = db_settings(bench, site)
    if params is None:
        return SiteSettings(SITE_CONFIG)
    try:
        connection = connect(bench, site)
    except BenchJobsError as exc:
        return SiteSettings(SITE_CONFIG, problem=exc.message)
    try:
        with connection.cursor() as cursor:
            singles = _query(cursor, "SELECT field, value FROM `tabSingles` WHERE doctype = 'System Settings' "
                                     "AND field IN ('enable_scheduler', 'time_zone')")
            if singles is None:
                return SiteSettings(SITE_CONFIG, problem=f"{_where(params)} has no tabSingles table "
                                                         "(not a Frappe site's database)")
            values = {str(field): value for field, value in singles or ()}
            defaults = _query(cursor, "SELECT parent, defkey, defvalue FROM `tabDefaultValue` WHERE "
                                      "(parent = '__default' AND defkey = 'time_zone') OR "
                                      "(parent = '__global' AND defkey = 'installed_apps')")
            found = {(str(parent), str(defkey)): value for parent, defkey, value in defaults or ()}
            apps = _installed_apps(cursor, found.get(("__global", "installed_apps")))
    except Exception as exc:  # a database that is not a Frappe site's, or went away mid-read
        return SiteSettings(SITE_CONFIG, problem=f"{type(exc).__name__}: {_describe(exc)}")
    finally:
        connection.close()
    enable = values.get("enable_scheduler")
    zone = values.get("time_zone") or found.get(("__default", "time_zone"))
    on_bench = tuple(app for app in apps if app in bench.apps) if apps is not None else None
    return SiteSettings(DATABASE, None if enable is None else str(enable), str(zone) if zone else None,
                        on_bench, _where(params))


def _query(cursor: Any, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]] | None:
    """Rows of `sql`, or None when its table does not exist (error 1146: an older or partial schema)."""
    import pymysql

    try:
        cursor.execute(sql, args)
    except pymysql.err.ProgrammingError as exc:
        if exc.args and exc.args[0] == 1146:
            return None
        raise
    return list(cursor.fetchall())


def _installed_apps(cursor: Any, stored: Any) -> list[str] | None:
    if stored:
        try:
            apps = json.loads(stored)
        except (TypeError, ValueError):
            apps = None
        if isinstance(apps, list):
            return [str(app) for app in apps]
    rows = _query(cursor, "SELECT app_name FROM `tabInstalled Application` ORDER BY idx")
    return [str(row[0]) for row in rows] if rows else None


def set_enable_scheduler(bench: Bench, site: str, enabled: bool) -> str:
    """Frappe's `bench enable-scheduler` / `disable-scheduler`: System Settings.enable_scheduler in the
    site's database (the value Frappe's scheduler reads). Returns where it was written."""
    params = db_settings(bench, site)
    assert params is not None
    connection = connect(bench, site)
    value = "1" if enabled else "0"
    try:
        with connection.cursor() as cursor:
            changed = cursor.execute("UPDATE `tabSingles` SET value = %s WHERE doctype = 'System Settings' "
                                     "AND field = 'enable_scheduler'", (value,))
            if not changed:
                cursor.execute("SELECT COUNT(*) FROM `tabSingles` WHERE doctype = 'System Settings' "
                               "AND field = 'enable_scheduler'")
                if not cursor.fetchone()[0]:
                    cursor.execute("INSERT INTO `tabSingles` (doctype, field, value) "
                                   "VALUES ('System Settings', 'enable_scheduler', %s)", (value,))
    except Exception as exc:
        raise BenchJobsError(f"cannot write enable_scheduler in the database of {site} "
                             f"({type(exc).__name__}: {_describe(exc)})",
                             "check that the site's db user may write tabSingles") from None
    finally:
        connection.close()
    _cache.pop((str(bench.path), site), None)
    return _where(params)
