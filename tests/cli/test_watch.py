"""Live views: `--watch` redraws in place on a real terminal (tmux), prints frames when piped."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench_jobs.cli import output as render
from bench_jobs.errors import RedisUnavailable
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import enqueue_job

VENV_BIN = Path(sys.executable).parent
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;)")
needs_tmux = pytest.mark.skipif(not shutil.which("tmux"), reason="tmux is not installed (apt-get install tmux)")


def test_watch_prints_frames_when_piped(capsys):
    calls = []

    def draw() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RedisUnavailable("Redis at redis://x is not reachable", "start it")
        render.info(f"frame {len(calls)}")

    render.watch(draw, 0.01, title="test", iterations=3)
    out = capsys.readouterr().out
    assert len(calls) == 3
    assert out.count("Every 0.01s: test") == 3
    assert "frame 1" in out and "frame 3" in out
    assert "Error: Redis at redis://x is not reachable" in out  # shown in the frame; the watch goes on
    assert "\x1b[" not in out  # no cursor moves or colours on a pipe


def test_watch_and_json_do_not_mix(bench):
    for command in (["show-pending-jobs"], ["workers"]):
        result = bench.cli(*command, "--watch", "--format", "json")
        assert result.exit_code == 2 and "--watch" in result.stderr


class Tmux:
    """A private tmux server (own socket) running one command in a pane of a fixed size."""

    def __init__(self, name: str) -> None:
        self.name = f"bj-test-{name}-{os.getpid()}"
        self.started = 0
        self.socket = self.name

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)

    def start(self, command: str, env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={_sh(v)}" for k, v in env.items())
        # The shell stays after the command so the exit status can be read from the pane; its INT
        # trap (reset to default in the child) keeps Ctrl+C from ending the shell too.
        script = f"trap true INT; env {exports} {command}; echo EXIT=$?; sleep 60"
        # A fresh server (socket) per start: reusing one right after kill-server races its exit.
        self.started += 1
        self.socket = f"{self.name}-{self.started}"
        result = self.tmux("new-session", "-d", "-s", "w", "-x", "150", "-y", "45", "bash", "-c", script)
        assert result.returncode == 0, result.stderr

    def screen(self, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "w").stdout

    def wait_for(self, predicate, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"screen never matched:\n{self.screen()}")

    def kill(self) -> None:
        self.tmux("kill-server")


def _sh(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


@pytest.fixture
def tmux():
    session = Tmux("watch")
    yield session
    session.kill()


def _env(**extra: str) -> dict[str, str]:
    env = {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           "TERM": "xterm-256color", **extra}
    return env


def _pending(screen: str, queue: str) -> int | None:
    match = re.search(rf"^\s*{queue}\s+(\d+)\s", screen, re.M)
    return int(match.group(1)) if match else None


@needs_tmux
@pytest.mark.slow
def test_show_pending_jobs_watch_redraws_in_place(bench, tmux):
    tmux.start(f"bench-jobs --bench {bench.path} --site {bench.site} show-pending-jobs --watch 0.3", _env())
    tmux.wait_for(lambda s: _pending(s, "default") == 0)
    keys = Keys(bench.bench.bench_id)
    for _ in range(2):
        enqueue_job(bench.client(), keys, job_id=None, site=bench.site, queue="default",
                    method="testapp.jobs.noop", kwargs={}, timeout=300)
    screen = tmux.wait_for(lambda s: _pending(s, "default") == 2)
    # Redrawn in place: one header and one counts table on the screen, not a scrolling log of frames.
    assert screen.count("Every 0.3s: show-pending-jobs") == 1
    assert screen.count("Jobs of site site1.test") == 1
    assert "Next 2 of 2 pending in default" in screen
    tmux.tmux("send-keys", "-t", "w", "C-c")
    screen = tmux.wait_for(lambda s: "EXIT=" in s)
    assert "EXIT=0" in screen and "Traceback" not in screen


@needs_tmux
@pytest.mark.slow
def test_workers_watch_follows_a_worker(bench, tmux):
    from bench_jobs.jobs.workers import register_worker, unregister_worker

    tmux.start(f"bench-jobs --bench {bench.path} workers --watch 0.3", _env())
    tmux.wait_for(lambda s: "No workers running" in s)
    keys = Keys(bench.bench.bench_id)
    register_worker(bench.client(), keys, "watched-worker", ["default"], alive_ttl=30)
    screen = tmux.wait_for(lambda s: "watched-worker" in s)
    assert "No workers running" not in screen and screen.count("Every 0.3s: workers") == 1
    unregister_worker(bench.client(), keys, "watched-worker", ["default"])
    tmux.wait_for(lambda s: "No workers running" in s)


@needs_tmux
def test_colour_on_a_terminal_and_no_color_respected(bench, tmux):
    """doctor colours its verdicts on a terminal; NO_COLOR turns colour off, keeping the text."""
    command = f"bench-jobs --bench {bench.path} doctor"
    tmux.start(command, _env())
    tmux.wait_for(lambda s: "EXIT=" in s)
    assert COLOUR.search(tmux.screen(escapes=True))
    tmux.kill()
    tmux.start(command, _env(NO_COLOR="1"))
    screen = tmux.wait_for(lambda s: "EXIT=" in s)
    assert "FAIL" in screen or "OK" in screen
    assert not COLOUR.search(tmux.screen(escapes=True))

