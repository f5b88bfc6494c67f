"""Fixtures: real redis-server processes on free ports, benches in temp dirs, a CLI runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bench_jobs.bench import admin
from bench_jobs.bench.config import update_json
from bench_jobs.bench.layout import Bench
from tests.redis_server import RedisProcess
from tests.worker_helpers import WorkerProcs

TESTS = Path(__file__).parent
APPS_DIR = TESTS / "apps"
# Worker subprocesses must import the test apps too.
sys.path.insert(0, str(APPS_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(APPS_DIR), str(TESTS.parent),
                                                         os.environ.get("PYTHONPATH")]))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One private Redis for the session; tests keep apart through their own bench_id."""
    server = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator:
    """Start extra private Redis servers (for tests that stop, kill or restart them)."""
    started: list[RedisProcess] = []

    def make(*extra: str) -> RedisProcess:
        server = RedisProcess(tmp_path / f"redis-{len(started)}", None, *extra).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()


@dataclass
class BenchFixture:
    bench: Bench
    redis: RedisProcess
    site: str = "site1.test"

    @property
    def path(self) -> Path:
        return self.bench.path

    def client(self):
        return self.redis.client()

    def set_config(self, site: str | None = None, **changes) -> None:
        target = self.bench.site_config_file(site) if site else self.bench.common_config_file
        update_json(target, changes)
        self.bench.reload()

    def cli(self, *args: str, site: str | None = "", input: str | None = None, env: dict | None = None) -> Result:
        """Run bench-jobs in-process with CliRunner against this bench (stderr kept apart)."""
        from bench_jobs.bench.context import reset_clients
        from bench_jobs.cli import cli

        reset_clients()
        site_args = ["--site", site if site else self.site] if site is not None else []
        runner = CliRunner()
        return runner.invoke(cli, ["--bench", str(self.path), *site_args, *args], input=input,
                             env=env, catch_exceptions=True)

    def run(self, *args: str, timeout: float = 60, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
        """Run bench-jobs as a real subprocess against this bench."""
        return subprocess.run([sys.executable, "-m", "bench_jobs", "--bench", str(self.path), *args],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, **kwargs)

    def popen(self, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("preexec_fn", default_signals)
        return subprocess.Popen([sys.executable, "-m", "bench_jobs", "--bench", str(self.path), *args],
                                env={**os.environ, **(env or {})}, **kwargs)


def default_signals() -> None:
    """A child starts as a shell would start it: in-process worker tests leave signal masks and
    dispositions in pytest's process that a child would inherit (SIGINT blocked: Ctrl-C ignored)."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def make_bench(path: Path, server: RedisProcess, sites: tuple[str, ...] = ("site1.test", "site2.test"),
               apps: tuple[str, ...] = ("testapp",)) -> Bench:
    bench = admin.create_bench(path)
    update_json(bench.common_config_file, {"redis_queue": server.url})
    for site in sites:
        admin.create_site(bench, site)
    for app in apps:
        admin.add_app(bench, app)
    bench.reload()
    return bench


@pytest.fixture
def bench(tmp_path: Path, redis_server: RedisProcess) -> BenchFixture:
    """A bench with two sites and the test app, pointed at the session's Redis."""
    return BenchFixture(make_bench(tmp_path / "bench", redis_server), redis_server)


@pytest.fixture
def worker_config() -> dict[str, object]:
    """Config keys set on the bench before `workers` starts any; a module overrides this fixture to
    change them (a short worker_dead_after to see deaths quickly, fast retry backoffs)."""
    return {}


@pytest.fixture
def workers(bench: BenchFixture, tmp_path: Path, worker_config: dict[str, object]) -> Iterator[WorkerProcs]:
    """Real worker processes of `bench`, all stopped when the test ends."""
    if worker_config:
        bench.set_config(**worker_config)
    procs = WorkerProcs(bench, tmp_path)
    yield procs
    procs.stop_all()


def assert_clean_error(result, *fragments: str, code: int = 1) -> None:
    """Exit status `code`, the fragments on stderr, no traceback anywhere."""
    stderr = result.stderr
    output = (result.stdout or "") + stderr
    exit_code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert exit_code == code, output
    assert "Traceback" not in output, output
    if hasattr(result, "exception") and result.exception and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unexpected exception: {result.exception!r}")
    for fragment in fragments:
        assert fragment in stderr, f"{fragment!r} not in stderr: {stderr!r}"


def read_json_file(path: Path):
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """One private mariadbd for the session (own data dir, socket and free port). Skipped only where
    MariaDB is not installed and CI is not set: in CI (.ci/run installs it) these tests must run."""
    from tests.mariadb_server import MariaDBProcess, binaries

    if binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("mariadbd / mariadb-install-db not found, and CI is set: install mariadb-server")
        pytest.skip("MariaDB is not installed here (apt-get install mariadb-server)")
    server = MariaDBProcess(tmp_path_factory.mktemp("mariadb")).start()
    yield server
    server.stop()
