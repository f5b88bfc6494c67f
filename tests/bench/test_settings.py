"""Settings: each key declared once in bench_jobs/bench/settings.py, read only through it, documented from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench_jobs.bench import settings as S
from tests.conftest import assert_clean_error

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bench_jobs"
# A config dict read by key outside the declaration: `.common_config.get(`, `site_config(x)["k"]`, ...
RAW_READ = re.compile(r"(common_config|site_config\([^)]*\)|merged_config\([^)]*\))\s*(\.get\(|\[)")


def test_readme_table_matches_the_declaration() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_no_module_reads_a_config_key_around_the_declaration() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                 for path in PACKAGE.rglob("*.py") if path.name != "settings.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if RAW_READ.search(line)]
    assert not offenders, "read these through bench_jobs.bench.settings:\n" + "\n".join(offenders)


def test_every_declared_key_is_read_somewhere() -> None:
    source = "\n".join(path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")
                       if path.name != "settings.py")
    names = {name: value for name, value in vars(S).items() if isinstance(value, S.Setting)}
    unread = [s.name for attr, s in names.items() if f"S.{attr}" not in source and f'"{s.name}"' not in source]
    assert not unread, f"declared but never read: {unread}"


def test_a_site_level_value_names_the_site_file(bench) -> None:
    bench.set_config(site=bench.site, rq_results_ttl="soon")
    result = bench.cli("enqueue", "testapp.jobs.noop")
    assert_clean_error(result, f"rq_results_ttl in sites/{bench.site}/site_config.json is 'soon'; "
                       "it must be a whole number >= 0")
    assert len(result.stderr.strip().splitlines()) <= 2
    assert bench.client().llen(f"rq:queue:{bench.bench.bench_id}:default") == 0


def test_a_failure_ttl_of_zero_is_refused(bench) -> None:
    bench.set_config(rq_job_failure_ttl=0)
    result = bench.cli("enqueue", "testapp.jobs.noop")
    assert_clean_error(result, "rq_job_failure_ttl in sites/common_site_config.json is 0; "
                       "it must be a whole number >= 1")


def test_results_ttl_zero_means_delete_at_once_at_enqueue_and_at_finish(bench) -> None:
    """0 is not "the default" at enqueue and "delete" at finish: it is "keep nothing" at both."""
    bench.set_config(site=bench.site, rq_results_ttl=0)
    result = bench.cli("enqueue", "testapp.jobs.add", "--kwargs", '{"a": 1, "b": 2}')
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    client = bench.client()
    assert client.hget(f"rq:job:{job_id}", "result_ttl") == b"0"
    done = bench.run("worker", "--burst", "--quiet", "--no-fork", timeout=120)
    assert done.returncode == 0, done.stderr
    assert not client.exists(f"rq:job:{job_id}")
    shown = bench.cli("jobs", "show", job_id)
    assert shown.exit_code == 1 and "rq_results_ttl" in shown.stderr
