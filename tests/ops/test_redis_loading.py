"""`redis start` returns only once Redis serves the bench's own authenticated commands: with a dataset
that takes Redis seconds to read back, the first command after `redis start` must not get LOADING.

Under the generated ACL an anonymous PING is answered -NOAUTH even while the server is still loading,
so a start that only waits for the port to answer would return too early (issue 11)."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench_jobs.bench.layout import Bench
from bench_jobs.bench.settings import RQ_PASSWORD, RQ_USERNAME
from tests.bench_redis import cleanup, new_bench, ok, run

KEYS = 600_000  # ~180 bytes of AOF each: ~100 MB that Redis takes a second or more to read back
CHUNK = 100_000
FILL = """
local prefix, value = ARGV[1], ARGV[2]
for i = tonumber(ARGV[3]), tonumber(ARGV[4]) do redis.call('SET', prefix .. i, value) end
return 1
"""


def authenticated(port: int, user: str, password: str, command: bytes) -> bytes:
    """AUTH, then one command, on a raw socket: the first reply line of that command, as Redis sends it
    (no client library retrying a LOADING reply behind our back)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        args = [b"AUTH", user.encode(), password.encode()]
        sock.sendall(b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args) + command)
        reply = b""
        while reply.count(b"\r\n") < 2:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    auth, answer = reply.split(b"\r\n")[:2]
    assert auth == b"+OK", reply
    return answer


@pytest.mark.slow
def test_redis_start_returns_once_authenticated_commands_succeed(tmp_path: Path) -> None:
    bench_dir, port = new_bench(tmp_path)
    with cleanup(bench_dir):
        ok(run("setup", "redis", cwd=bench_dir))
        ok(run("redis", "start", cwd=bench_dir))
        bench = Bench(bench_dir)
        user, password = RQ_USERNAME.read(bench) or bench.bench_id, RQ_PASSWORD.read(bench) or ""
        assert password  # the generated ACL: the bench's own user, with a password

        from bench_jobs.bench.connection import connect

        client = connect(bench, socket_timeout=60)
        prefix, value = f"bj:{bench.bench_id}:filler:", "x" * 100
        for start in range(1, KEYS + 1, CHUNK):
            client.eval(FILL, 0, prefix, value, start, min(KEYS, start + CHUNK - 1))
        expected = client.dbsize()
        assert expected >= KEYS
        client.close()
        ok(run("redis", "stop", cwd=bench_dir))  # SIGTERM: the AOF is flushed

        # Watch the server from beside `redis start`: the dataset must be big enough that Redis is seen
        # answering LOADING to the bench's user while it starts, or this test would prove nothing.
        seen: set[bytes] = set()
        started = threading.Event()

        def watch() -> None:
            while not started.is_set():
                with contextlib.suppress(OSError, AssertionError, ValueError):  # not listening yet
                    seen.add(authenticated(port, user, password, b"*1\r\n$6\r\nDBSIZE\r\n")[:8])

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start = subprocess.run([sys.executable, "-m", "bench_jobs", "redis", "start"], cwd=bench_dir,
                               capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        # The first command after `redis start` returned: served, with all the data, no LOADING.
        answer = authenticated(port, user, password, b"*1\r\n$6\r\nDBSIZE\r\n")
        started.set()
        watcher.join(10)
        assert start.returncode == 0, start.stdout + start.stderr
        assert answer == b":%d" % expected, answer
        assert b"-LOADING" in seen, seen
        log = (bench_dir / "logs" / "redis_queue.log").read_text()
        loaded = re.findall(r"DB loaded from append only file: ([\d.]+) seconds", log)
        print(f"\nRedis loaded {expected} keys in {loaded[-1]}s; `redis start` waited for it")
        ok(run("redis", "stop", cwd=bench_dir))
