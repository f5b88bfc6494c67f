"""The README's first command, `bash scripts/demo.sh`, end to end in a copy of the checkout: it exits 0,
shows the job's result and the scheduler's run, says where the web page answers, and leaves no process
behind (it broke twice unnoticed before this test)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_the_bench_with_its_web_page_and_stops_it(tmp_path: Path) -> None:
    if not all((Path(sys.prefix) / "bin" / name).exists() for name in ("bench-jobs", "python")):
        pytest.skip("not run from a virtualenv with bench-jobs installed (the demo expects .venv/bin/python)")
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "demo.sh", checkout / "scripts" / "demo.sh")
    shutil.copytree(ROOT / "examples", checkout / "examples")
    # This interpreter's environment stands in for the .venv the demo would create (bench-jobs is
    # installed in it), so the test needs no network and no pip run.
    (checkout / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_PATH", "BENCH_SITE", "PYTHONPATH")}
    env["NO_COLOR"] = "1"
    done = subprocess.run(["bash", str(checkout / "scripts" / "demo.sh")], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=240)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Hello, bench-jobs! (from a worker, for site demo.local)" in out
    assert "method=demo_app.jobs.tick event=finished" in out
    url = re.search(r"The dashboard answers: open (http://127\.0\.0\.1:\d+/) in a browser", out)
    assert url, out
    assert f"with the dashboard on {url.group(1)}" in out
    assert "web exited with code 0" in out
    assert not _processes_in(checkout / "demo-bench")


def _processes_in(directory: Path) -> list[str]:
    """Processes whose working directory is inside `directory` (workers, scheduler, web: the bench;
    Redis: its data directory)."""
    left = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd == directory or directory in cwd.parents:
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            left.append(f"{proc.name}: {args}")
    return left
