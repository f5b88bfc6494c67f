"""Shell completion: the generated scripts are current, and real shells complete real values."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench_jobs.cli.completion import FILES, script

ROOT = Path(__file__).resolve().parents[2]
COMPLETIONS = ROOT / "completions"
VENV_BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_PATH", "BENCH_SITE")}
    return {**env, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **extra}


@pytest.mark.parametrize("shell", sorted(FILES))
def test_generated_files_are_current(shell):
    path = COMPLETIONS / FILES[shell]
    assert path.read_text() == script(shell), (
        f"{path} is stale: run `.venv/bin/python scripts/gen_completions.py` and commit completions/")


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_command_prints_the_script(bench, shell):
    result = bench.cli("completion", shell, site=None)
    assert result.exit_code == 0, result.output
    assert result.stdout == (COMPLETIONS / FILES[shell]).read_text()


def test_completion_rejects_unknown_shell(bench):
    result = bench.cli("completion", "tcsh", site=None)
    assert result.exit_code == 2 and "tcsh" in result.stderr


def bash_complete(words: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Source the generated bash script in a real bash, call its function as bash would on TAB."""
    cword = len(words) - 1
    quoted = " ".join(f"'{w}'" for w in words)
    program = (f"source {COMPLETIONS / FILES['bash']}\n"
               f"COMP_WORDS=({quoted}); COMP_CWORD={cword}; COMPREPLY=()\n"
               "_bench_jobs_completion bench-jobs\n"
               'printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                          timeout=60, env=_env(**(env or {})))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_completes_commands(bench):
    got = bash_complete(["bench-jobs", "--bench", str(bench.path), "compl"])
    assert got == ["completion"]


def test_bash_completes_sites_from_config(bench):
    assert bash_complete(["bench-jobs", "--bench", str(bench.path), "--site", ""]) == ["site1.test", "site2.test"]
    # The bench can come from the environment as well.
    assert bash_complete(["bench-jobs", "--site", "site2"], {"BENCH_PATH": str(bench.path)}) == ["site2.test"]


def test_bash_completes_shell_names(bench):
    assert bash_complete(["bench-jobs", "completion", "z"]) == ["zsh"]


def test_completion_outside_a_bench_is_silent(tmp_path):
    # No bench anywhere: no values, and no error text leaks into the prompt.
    proc_words = ["bench-jobs", "--site", ""]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert bash_complete(proc_words) == []
    finally:
        os.chdir(cwd)


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed (apt-get install zsh)")
def test_zsh_script_completes_sites(bench):
    # compdef/compadd/_describe belong to zsh's interactive completion system; stubs print what the
    # generated function hands them, so the real script runs in a real zsh.
    program = f"""
compdef() {{ :; }}
_describe() {{ local arr=${{(P)3}}; print -l -- ${{(P)3}}; }}
compadd() {{ print -l -- ${{(P)${{@[-1]}}}}; }}
source {COMPLETIONS / FILES['zsh']}
words=(bench-jobs --bench {bench.path} --site '')
CURRENT=5
_bench_jobs_completion
"""
    proc = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["site1.test", "site2.test"]


def fish_complete(line: str) -> list[tuple[str, str]]:
    """(value, description) pairs as fish offers them for `line`, from the generated fish script."""
    program = f"source {COMPLETIONS / FILES['fish']}; complete -C '{line}'"
    proc = subprocess.run(["fish", "--no-config", "-c", program], capture_output=True, text=True,
                          timeout=60, env=_env())
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return [(value, help) for value, _, help in (line.partition("\t") for line in proc.stdout.splitlines())]


needs_fish = pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed (apt-get install fish)")


@needs_fish
def test_fish_completes_sites_and_commands(bench):
    def fish(line: str) -> list[str]:
        return [value for value, _ in fish_complete(line)]

    assert fish(f"bench-jobs --bench {bench.path} --site site1") == ["site1.test"]
    assert "completion" in fish(f"bench-jobs --bench {bench.path} compl")


@needs_fish
def test_fish_completes_comma_lists_and_whole_descriptions(bench):
    """Click's own fish script split every line at each comma: `short,default` came back as `short`
    and `List, show, retry, ...` as `List`."""
    bench.set_config(workers={"reports": {"timeout": 900}})
    base = f"bench-jobs --bench {bench.path}"
    values = [value for value, _ in fish_complete(f"{base} worker --queue short,")]
    assert values == ["short,default", "short,long", "short,reports"]
    assert [v for v, _ in fish_complete(f"{base} show-pending-jobs --queue short,default,l")] == [
        "short,default,long"]
    helps = dict(fish_complete(f"{base} jo"))
    assert helps["jobs"] == "List, show, retry, cancel, stop, delete or purge jobs."


def test_bash_completes_queues_in_a_comma_list(bench):
    bench.set_config(workers={"reports": {"timeout": 900}})
    base = ["bench-jobs", "--bench", str(bench.path)]
    assert bash_complete([*base, "worker", "--queue", ""]) == ["short", "default", "long", "reports"]
    assert bash_complete([*base, "worker", "--queue", "short,"]) == ["short,default", "short,long", "short,reports"]
    assert bash_complete([*base, "show-pending-jobs", "--queue", "lo"]) == ["long"]
    assert bash_complete([*base, "enqueue", "x", "--queue", "re"]) == ["reports"]


def test_bash_completes_job_ids_of_the_site(bench):
    from bench_jobs.jobs.keys import Keys
    from bench_jobs.jobs.store import enqueue_job

    keys = Keys(bench.bench.bench_id)
    ids = [enqueue_job(bench.client(), keys, job_id=f"{prefix}-job", site=site, queue="default",
                       method="testapp.jobs.noop", kwargs={}, timeout=300).id
           for prefix, site in (("aaa", "site1.test"), ("aab", "site1.test"), ("bbb", "site2.test"))]
    base = ["bench-jobs", "--bench", str(bench.path), "--site", "site1.test", "jobs"]
    assert sorted(bash_complete([*base, "show", "aa"])) == ids[:2]
    assert sorted(bash_complete([*base, "show", ""])) == ids[:2]  # site2.test's job is not offered
    assert bash_complete([*base, "cancel", "aab"]) == ["aab-job"]


def test_job_ids_complete_to_nothing_when_redis_is_down(tmp_path, redis_factory):
    import time

    from tests.conftest import make_bench

    server = redis_factory()
    bench = make_bench(tmp_path / "b", server)
    server.stop()
    started = time.monotonic()
    assert bash_complete(["bench-jobs", "--bench", str(bench.path), "jobs", "show", ""]) == []
    assert time.monotonic() - started < 5


def test_bash_completes_scheduler_events_and_methods(bench):
    got = bash_complete(["bench-jobs", "--bench", str(bench.path), "scheduler", "trigger", ""])
    assert {"daily", "cron", "testapp.jobs.noop"} <= set(got)
    assert bash_complete(["bench-jobs", "--bench", str(bench.path), "scheduler", "trigger", "da"]) == ["daily"]


def test_bash_completes_use_site(bench):
    assert bash_complete(["bench-jobs", "--bench", str(bench.path), "use", "site1"]) == ["site1.test"]


def test_bash_completes_methods_of_installed_apps(bench):
    base = ["bench-jobs", "--bench", str(bench.path)]
    got = bash_complete([*base, "enqueue", "testapp.jobs.n"])
    assert got == ["testapp.jobs.noop"]
    assert "testapp.jobs.fail" in bash_complete([*base, "execute", "testapp.jo"])
    assert bash_complete([*base, "enqueue", "otherapp."]) == []  # not in apps.txt: never offered
    assert not [m for m in bash_complete([*base, "enqueue", ""]) if not m.startswith("testapp.")]


def test_bash_completes_apps_not_yet_added(bench):
    base = ["bench-jobs", "--bench", str(bench.path), "add-app"]
    assert bash_complete([*base, "otherap"]) == ["otherapp"]  # importable, not in apps.txt yet
    assert bash_complete([*base, "testap"]) == []  # already added
    assert bash_complete([*base, "asyncio"]) == []  # the standard library is no app


@pytest.mark.parametrize("words", [["--site", ""], ["worker", "--queue", "short,"], ["scheduler", "trigger", ""],
                                   ["enqueue", "testapp.jobs."], ["add-app", "other"]])
def test_config_backed_completions_never_touch_redis(bench, words):
    """Sites, queues, events, methods and apps come from files: redis-py is not even imported
    (it alone costs ~140 ms per TAB), so they work, and fast, with Redis down."""
    line = ["bench-jobs", "--bench", str(bench.path), *words]
    probe = ("import atexit, os, sys\n"
             "atexit.register(lambda: os.write(2, b'REDIS-IMPORTED' if 'redis' in sys.modules else b''))\n"
             "from bench_jobs.cli import main\nmain()\n")
    env = _env(COMP_WORDS=" ".join(line), COMP_CWORD=str(len(line) - 1), _BENCH_JOBS_COMPLETE="bash_complete")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("plain,"), proc.stdout + proc.stderr
    assert "REDIS-IMPORTED" not in proc.stderr
