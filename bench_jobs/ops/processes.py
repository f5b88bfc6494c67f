"""A honcho-style supervisor: run named child processes, prefix their output, restart the dead.

Each child runs in its own session (process group), so a Ctrl-C on the terminal reaches only
the supervisor, which forwards it: the first SIGINT/SIGTERM is passed on (children stop warm), a
second is passed on again (children stop cold) and starts the grace period, after which whatever
is left gets SIGKILL on its whole group. Exit status: 130 after SIGINT, 143 after SIGTERM, else
the first non-zero child status (0 when all ended cleanly).

The clock, the process factory and the printer are injectable, so tests drive it without sleeping.

`process_plan` is the one list of what a bench runs (workers per queue, the scheduler, the web
server): `start`, `worker --num-workers` and `setup supervisor|systemd` all build from it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Protocol

from bench_jobs.logs.writer import SUPERVISED_ENV

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

@dataclass(frozen=True)
class Process:
    """One kind of bench-jobs process and how many of it run."""

    kind: str                # "worker" | "scheduler" | "web"
    label: str               # "worker.default", "scheduler", "web": the name instances are numbered from
    args: tuple[str, ...]    # bench-jobs arguments, e.g. ("worker", "--queue", "default")
    count: int = 1
    timeout: int | None = None  # a worker's longest job timeout (its queues'): how long a warm stop may take

    def instances(self) -> list[str]:
        """`worker.default`, or `worker.reports.1`, `worker.reports.2`, ... when several run."""
        return [self.label] if self.count == 1 else [f"{self.label}.{i}" for i in range(1, self.count + 1)]


def process_plan(bench: Bench, *, workers: bool = True, scheduler: bool = True, web: bool = True,
                 worker_queues: list[str] | None = None, worker_count: int | None = None,
                 worker_args: tuple[str, ...] = (), web_args: tuple[str, ...] = ()) -> list[Process]:
    """What the bench runs: by default a worker group per queue (`background_workers`, or the queue's
    own under `workers`), the scheduler and the web server. `worker_queues` runs one group serving
    those queues in that order instead (`worker --queue a,b --num-workers N`)."""
    timeouts = bench.queue_timeouts()
    plan: list[Process] = []
    if workers and worker_queues is None:
        plan += [Process("worker", f"worker.{queue}", ("worker", "--queue", queue, *worker_args),
                         worker_count or max(1, bench.workers_for(queue)), timeout)
                 for queue, timeout in timeouts.items()]
    elif workers and worker_queues:
        plan.append(Process("worker", "worker", ("worker", "--queue", ",".join(worker_queues), *worker_args),
                            worker_count or 1, max(timeouts[q] for q in worker_queues)))
    if scheduler:
        plan.append(Process("scheduler", "scheduler", ("schedule",)))
    if web:
        plan.append(Process("web", "web", ("serve", *web_args)))
    return plan


COLOURS = ("36", "33", "32", "35", "34", "31")  # cyan, yellow, green, magenta, blue, red


class Proc(Protocol):
    """What the supervisor needs of a child."""

    pid: int
    stdout: IO[bytes] | None

    def poll(self) -> int | None: ...

    def signal_group(self, signum: int) -> None: ...


ProcessFactory = Callable[[Sequence[str], dict[str, str] | None], Proc]


class OsProc:
    """A real child in its own session; signals go to its whole process group."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None) -> None:
        self.popen = subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.popen.pid
        self.stdout = self.popen.stdout

    def poll(self) -> int | None:
        return self.popen.poll()

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            if self.popen.poll() is None:
                self.popen.send_signal(signum)


class Printer:
    """`HH:MM:SS name  | line`, names padded to one width, coloured only on a terminal."""

    def __init__(self, stream: IO[str] | None = None, colour: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.colour = tty and "NO_COLOR" not in os.environ if colour is None else colour
        self.width = 6
        self.colours: dict[str, str] = {}

    def line(self, name: str, text: str, when: float | None = None) -> None:
        stamp = datetime.fromtimestamp(time.time() if when is None else when).strftime("%H:%M:%S")
        prefix = f"{stamp} {name:<{self.width}} |"
        if self.colour:
            code = self.colours.setdefault(name, COLOURS[len(self.colours) % len(COLOURS)])
            prefix = f"\033[{code}m{prefix}\033[0m"
        self.stream.write(f"{prefix} {text.rstrip()}\n")
        self.stream.flush()


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    proc: Proc | None = None
    started: float = 0.0
    restarts: int = 0
    restart_at: float | None = None
    status: int | None = None


@dataclass
class Clock:
    now: Callable[[], float] = time.monotonic
    wait: Callable[[float], None] = time.sleep


@dataclass
class Manager:
    restart: str = "always"  # always | on-failure | never
    grace: float = 10.0
    printer: Printer = field(default_factory=Printer)
    factory: ProcessFactory = OsProc
    clock: Clock = field(default_factory=Clock)
    children: list[Child] = field(default_factory=list)
    signals_seen: list[int] = field(default_factory=list)
    kill_at: float | None = None
    lines: queue.Queue[tuple[str, str | None]] = field(default_factory=queue.Queue)

    def add(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.children.append(Child(name, list(argv), env))
        self.printer.width = max(self.printer.width, len(name))

    # -- running -------------------------------------------------------------------------------
    def run(self, install_signals: bool = True) -> int:
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda signum, _frame: self.request_stop(signum))
        for child in self.children:
            if child.proc is None and not self.signals_seen:
                self._start(child)
        while True:
            self._drain(timeout=0.1)
            self._reap()
            if all(c.proc is None and c.restart_at is None for c in self.children):
                break
            self._restart_due()
            if self.kill_at is not None and self.clock.now() >= self.kill_at:
                self._signal_all(signal.SIGKILL)
                self.kill_at = None
        self._drain(timeout=0)
        return self.exit_code()

    def exit_code(self) -> int:
        if self.signals_seen:
            return 128 + self.signals_seen[0]
        return next((c.status for c in self.children if c.status), 0) or 0

    def request_stop(self, signum: int) -> None:
        """First signal: forward it (warm stop). Second: forward again (cold) and start the grace
        period; when it ends, SIGKILL what is left."""
        self.signals_seen.append(signum)
        name = signal.Signals(signum).name
        cold = len(self.signals_seen) > 1
        self.printer.line("system", f"{name} received, {'stopping now' if cold else 'stopping'}")
        for child in self.children:
            child.restart_at = None
        self._signal_all(signum)
        if cold and self.kill_at is None:
            self.kill_at = self.clock.now() + self.grace

    # -- internals -------------------------------------------------------------------------------
    def _start(self, child: Child) -> None:
        # The printer stamps each line with the time, so the child need not (worklog reads this).
        env = {**(os.environ if child.env is None else child.env), SUPERVISED_ENV: "1"}
        child.proc = self.factory(child.argv, env)
        child.started, child.restart_at, child.status = self.clock.now(), None, None
        self.printer.line("system", f"{child.name} started (pid {child.proc.pid})")
        if child.proc.stdout is not None:
            threading.Thread(target=self._pump, args=(child.name, child.proc.stdout), daemon=True).start()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.lines.put((name, raw.decode("utf-8", "replace")))
        stream.close()

    def _drain(self, timeout: float) -> None:
        try:
            name, text = self.lines.get(timeout=timeout) if timeout else self.lines.get_nowait()
            while True:
                if text is not None:
                    self.printer.line(name, text)
                name, text = self.lines.get_nowait()
        except queue.Empty:
            return

    def _reap(self) -> None:
        for child in self.children:
            if child.proc is None or (code := child.proc.poll()) is None:
                continue
            child.proc, child.status = None, code
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            self.printer.line("system", f"{child.name} {how}")
            if not self.signals_seen and self._should_restart(code):
                # Back off when a child dies right after starting, so a broken one cannot spin.
                quick = self.clock.now() - child.started < 2.0
                child.restarts = child.restarts + 1 if quick else 0
                child.restart_at = self.clock.now() + (min(30.0, 0.5 * 2 ** child.restarts) if quick else 0.0)

    def _should_restart(self, code: int) -> bool:
        return self.restart == "always" or (self.restart == "on-failure" and code != 0)

    def _restart_due(self) -> None:
        for child in self.children:
            if child.restart_at is not None and self.clock.now() >= child.restart_at:
                self.printer.line("system", f"restarting {child.name}")
                self._start(child)

    def _signal_all(self, signum: int) -> None:
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.signal_group(signum)
