"""procs.Manager with fake processes and a fake clock (no sleeping), plus one real child."""

from __future__ import annotations

import io
import signal
import sys

from bench_jobs.ops.processes import Clock, Manager, Printer


class FakeProc:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.stdout = None
        self.code: int | None = None
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return self.code

    def signal_group(self, signum: int) -> None:
        self.signals.append(signum)
        if signum == signal.SIGKILL or getattr(self, "obeys", True):
            self.code = -signum


class FakeClock(Clock):
    def __init__(self) -> None:
        self.t = 0.0
        super().__init__(now=lambda: self.t, wait=lambda s: None)


def make(restart: str = "always", grace: float = 5.0, obey: bool = True):
    procs: list[FakeProc] = []

    def factory(argv, env):
        proc = FakeProc(1000 + len(procs))
        proc.obeys = obey
        procs.append(proc)
        return proc

    out = io.StringIO()
    manager = Manager(restart=restart, grace=grace, printer=Printer(out, colour=False), factory=factory,
                      clock=FakeClock())
    return manager, procs, out


def test_restarts_a_dead_child_with_backoff_when_it_dies_at_once() -> None:
    manager, procs, out = make()
    manager.add("worker.1", ["w"])
    manager._start(manager.children[0])
    procs[0].code = -9
    manager._reap()
    child = manager.children[0]
    assert child.restart_at == 1.0  # died within 2 s of its start: backs off (0.5 * 2)
    manager.clock.t = 1.0
    manager._restart_due()
    assert len(procs) == 2 and child.proc is procs[1]
    manager.clock.t = 10.0  # ran a while, then died: restarted at once
    procs[1].code = 1
    manager._reap()
    assert child.restart_at == 10.0
    assert "worker.1 killed by SIGKILL" in out.getvalue() and "worker.1 exited with code 1" in out.getvalue()


def test_on_failure_policy_lets_a_clean_exit_end() -> None:
    manager, procs, _ = make(restart="on-failure")
    manager.add("worker.1", ["w"])
    manager._start(manager.children[0])
    procs[0].code = 0
    manager._reap()
    assert manager.children[0].restart_at is None
    assert manager.exit_code() == 0


def test_first_signal_forwards_second_starts_grace_then_kill() -> None:
    manager, procs, _ = make(grace=5.0, obey=False)
    manager.add("worker.1", ["w"])
    manager.add("worker.2", ["w"])
    for child in manager.children:
        manager._start(child)
    manager.request_stop(signal.SIGTERM)
    assert [p.signals for p in procs] == [[signal.SIGTERM]] * 2 and manager.kill_at is None
    manager.request_stop(signal.SIGTERM)
    assert manager.kill_at == 5.0
    manager.clock.t = 6.0
    assert manager.run(install_signals=False) == 143
    assert all(p.signals[-1] == signal.SIGKILL for p in procs)
    assert manager.children[0].restart_at is None  # nothing restarts once stopping


def test_exit_code_after_sigint_is_130() -> None:
    manager, _, _ = make()
    manager.add("a", ["a"])
    manager._start(manager.children[0])
    manager.request_stop(signal.SIGINT)
    assert manager.run(install_signals=False) == 130


def test_printer_prefixes_time_and_padded_name() -> None:
    out = io.StringIO()
    printer = Printer(out, colour=False)
    printer.width = 8
    printer.line("web", "hello\n", when=0)
    assert out.getvalue().endswith(" web      | hello\n")
    coloured = io.StringIO()
    Printer(coloured, colour=True).line("web", "x")
    assert "\033[" in coloured.getvalue()


def test_real_children_output_is_prefixed() -> None:
    out = io.StringIO()
    manager = Manager(restart="never", printer=Printer(out, colour=False))
    manager.add("one", [sys.executable, "-c", "print('from one')"])
    manager.add("two", [sys.executable, "-c", "import sys; print('from two'); sys.exit(3)"])
    assert manager.run(install_signals=False) == 3
    text = out.getvalue()
    assert "one    | from one" in text and "two    | from two" in text and "two exited with code 3" in text
