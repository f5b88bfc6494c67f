"""`setup redis`: write config/redis_queue.conf and its ACL file, fit for a job queue.

A queue must not lose or evict jobs, so the config turns on AOF persistence and
`maxmemory-policy noeviction`, binds loopback only, and requires a password: an ACL file
locks the `default` user behind a password nobody knows and defines one user for the bench. The password lives in
sites/common_site_config.json (`rq_username`, `rq_password`, `use_rq_auth`), the file the
bench's clients read; the ACL file holds only its SHA-256, so the config dir holds no secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench_jobs.bench.config import update_json, write_atomic
from bench_jobs.bench.layout import Bench
from bench_jobs.errors import ConfigError

APPENDFSYNC_CHOICES = ("always", "everysec", "no")
USERNAME_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
SECRET_MODE = 0o600
MEMORY_RE = re.compile(r"^[0-9]+([kmg]b?|b)?$", re.IGNORECASE)

# What the bench's user may do: every data command RQ and bench-jobs use (keys, Lua scripts,
# pub/sub for RQ's worker commands, CLIENT SETNAME/LIST for worker names, INFO for status and
# doctor), but no server administration (@admin: SHUTDOWN, CONFIG SET, ACL, DEBUG, REPLICAOF...)
# and no wiping the whole server, since several benches may share it. CONFIG GET and CLIENT LIST
# are @admin yet read-only and needed (RQ reads CLIENT LIST; doctor reads the config).
USER_PERMISSIONS = "~* &* +@all -@admin +config|get +client|list -flushall -flushdb -swapdb"


@dataclass(frozen=True)
class RedisFiles:
    """Where the bench's own Redis keeps its config, data, pid and log."""

    conf: Path
    acl: Path
    data_dir: Path
    pidfile: Path
    logfile: Path

    @classmethod
    def of(cls, bench: Bench) -> RedisFiles:
        return cls(conf=bench.config_path / "redis_queue.conf",
                   acl=bench.config_path / "redis_queue.acl",
                   data_dir=bench.path / "data" / "redis_queue",
                   pidfile=bench.config_path / "pids" / "redis_queue.pid",
                   logfile=bench.logs_path / "redis_queue.log")


@dataclass(frozen=True)
class SetupResult:
    files: RedisFiles
    port: int
    bind: tuple[str, ...]
    appendfsync: str
    username: str
    password_generated: bool


def queue_port(bench: Bench) -> int:
    """The port of `redis_queue`; the bench's own Redis listens there."""
    url = bench.redis_url
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError:
        port = None
    if port is None or parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"redis_queue '{url}' is not a Redis URL with a port",
                          "set it like redis://127.0.0.1:11000 in sites/common_site_config.json")
    return port


def loopback_addresses() -> tuple[str, ...]:
    """127.0.0.1, plus ::1 when this machine has IPv6 loopback (Redis refuses to start otherwise)."""
    if not socket.has_ipv6:
        return ("127.0.0.1",)
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return ("127.0.0.1",)
    return ("127.0.0.1", "::1")


def appendfsync_setting(bench: Bench) -> str:
    value = str(bench.common_config.get("redis_queue_appendfsync") or "everysec")
    if value not in APPENDFSYNC_CHOICES:
        raise ConfigError(f"redis_queue_appendfsync is '{value}'; it must be one of {', '.join(APPENDFSYNC_CHOICES)}",
                          "fix it in sites/common_site_config.json (everysec loses at most a second of jobs)")
    return value


def maxmemory_setting(bench: Bench) -> str | None:
    """`redis_queue_maxmemory` as redis.conf takes it (512mb, 2gb, 1073741824), checked before writing."""
    value = bench.common_config.get("redis_queue_maxmemory")
    if value in (None, "", 0):
        return None
    if not MEMORY_RE.match(str(value)):
        raise ConfigError(f"redis_queue_maxmemory is '{value}'; it must be a size like 512mb or 2gb",
                          "fix it in sites/common_site_config.json (or remove it for no limit)")
    return str(value)


def username_for(bench: Bench) -> str:
    name = str(bench.common_config.get("rq_username") or bench.bench_id)
    if not USERNAME_RE.match(name):
        raise ConfigError(f"rq_username '{name}' cannot be a Redis ACL user name",
                          "use letters, digits and . _ - : @ (set rq_username or bench_id in common_site_config.json)")
    return name


def quote(value: str | Path) -> str:
    """A value quoted for redis.conf, so bench paths with spaces work."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_conf(bench: Bench, files: RedisFiles, port: int, bind: tuple[str, ...], appendfsync: str) -> str:
    lines = [
        f"# Generated by `bench-jobs setup redis` for the bench at {bench.path}.",
        "# Re-run that command to change it: edits here are overwritten.",
        "# `bench-jobs redis start` runs it daemonised; supervisor/systemd add `--daemonize no`.",
        f"port {port}",
        f"bind {' '.join(bind)}",
        "protected-mode yes",
        "daemonize yes",
        f"pidfile {quote(files.pidfile)}",
        f"logfile {quote(files.logfile)}",
        "loglevel notice",
        f"dir {quote(files.data_dir)}",
        "# A job queue must keep every job: append-only file, never evict keys.",
        "appendonly yes",
        f"appendfsync {appendfsync}",
        'appendfilename "redis_queue.aof"',
        "dbfilename redis_queue.rdb",
        "maxmemory-policy noeviction",
    ]
    maxmemory = maxmemory_setting(bench)
    if maxmemory:
        lines.append(f"maxmemory {maxmemory}")
    lines += [
        "tcp-keepalive 60",
        "# Authentication: `default` is locked by an unknown password; the bench's user is defined here.",
        f"aclfile {quote(files.acl)}",
    ]
    return "\n".join(lines) + "\n"


def render_acl(username: str, password: str) -> str:
    digest = hashlib.sha256(password.encode()).hexdigest()
    # Redis 7.0-7.4 replays AOF transactions (our Lua scripts' effects) as the `default` user and
    # drops them when that user lacks permissions (redis#14541, valkey#3983): disabling `default`
    # would lose every job on restart. So `default` stays on with full rights but behind a random
    # password that is written nowhere: no client can log in as it.
    locked = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
    # The ACL file stores the SHA-256 of the password (`#hex`), never the password itself.
    return (f"user default on #{locked} ~* &* +@all\n"
            f"user {username} on #{digest} {USER_PERMISSIONS}\n")


def _write(path: Path, text: str, mode: int) -> None:
    try:
        write_atomic(path, text, mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({exc.strerror or exc})",
                          f"make {path.parent} writable for this user and re-run `bench-jobs setup redis`") from None


def _check_writable(*paths: Path) -> None:
    """Fail before writing anything, so a permission problem cannot leave the files out of step."""
    for path in paths:
        folder = path.parent
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ConfigError(f"cannot write {path} ({folder} is not writable)",
                              f"make {folder} writable for this user and re-run `bench-jobs setup redis`")


def make_dirs(files: RedisFiles) -> None:
    """The server's folders; the data dir is private, since job arguments may be sensitive."""
    for folder in (files.pidfile.parent, files.logfile.parent):
        folder.mkdir(parents=True, exist_ok=True)
    files.data_dir.mkdir(parents=True, exist_ok=True)
    files.data_dir.chmod(0o700)


def setup_redis(bench: Bench, regenerate_password: bool = False) -> SetupResult:
    """Write the conf and ACL files and store the credentials; keep the password unless asked."""
    bench.reload()
    files = RedisFiles.of(bench)
    port = queue_port(bench)
    appendfsync = appendfsync_setting(bench)
    maxmemory_setting(bench)
    username = username_for(bench)
    password = bench.common_config.get("rq_password")
    generated = regenerate_password or not password
    if generated:
        password = secrets.token_urlsafe(32)
    bind = loopback_addresses()

    _check_writable(files.conf, files.acl, bench.common_config_file)
    make_dirs(files)
    # ACL and conf first, credentials last: if a write fails midway, the next run (which
    # keeps the stored password) rewrites the ACL to match what clients use.
    _write(files.acl, render_acl(username, str(password)), SECRET_MODE)
    _write(files.conf, render_conf(bench, files, port, bind, appendfsync), SECRET_MODE)
    try:
        update_json(bench.common_config_file,
                    {"rq_username": username, "rq_password": password, "use_rq_auth": True}, mode=SECRET_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot write {bench.common_config_file} ({exc.strerror or exc})",
                          "make sites/ writable for this user and re-run `bench-jobs setup redis`") from None
    bench.reload()
    return SetupResult(files, port, bind, appendfsync, username, generated)
