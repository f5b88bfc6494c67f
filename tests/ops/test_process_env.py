"""Process files carry the environment that makes the apps importable, and `setup` / `doctor` say
when an app in apps.txt cannot be imported by the workers' interpreter (jobs would fail MethodNotFound
under the process manager while the workers look healthy)."""

from __future__ import annotations

from bench_jobs.ops import process_files as procfiles
from tests.ops.test_doctor import checks, doctor


def test_generated_files_carry_pythonpath_and_doctor_agrees(bench) -> None:
    result = bench.cli("setup", "supervisor", site=None)
    assert result.exit_code == 0 and "cannot be imported" not in result.stderr, result.stderr
    env = procfiles.carried_environment(bench.bench)
    assert "tests/apps" in env["PYTHONPATH"]  # testapp lives there, found only through PYTHONPATH
    assert procfiles.unimportable_apps(bench.bench, env) == []
    status, _ = checks(doctor(bench)[1])["apps"]
    assert status == "ok"


def test_doctor_fails_when_the_generated_file_lacks_what_imports_an_app(bench) -> None:
    """A file written before the environment was carried (only BENCH_PATH): testapp is not importable."""
    assert bench.cli("setup", "supervisor", site=None).exit_code == 0
    path = bench.path / "config" / "supervisor.conf"
    lines = [line if not line.startswith("environment=") else f'environment=BENCH_PATH="{bench.path}"'
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    code, doc = doctor(bench)
    status, detail = checks(doc)["apps"]
    assert code == 1 and status == "fail" and "testapp" in detail


def test_setup_warns_about_an_app_nobody_can_import(bench) -> None:
    apps = bench.path / "sites" / "apps.txt"
    apps.write_text(apps.read_text() + "no_such_app_here\n")
    bench.bench.reload()
    for kind in ("supervisor", "systemd"):
        result = bench.cli("setup", kind, site=None)
        assert result.exit_code == 0, result.stderr
        assert "no_such_app_here" in result.stderr and "MethodNotFound" in result.stderr
        assert "testapp" not in result.stderr
