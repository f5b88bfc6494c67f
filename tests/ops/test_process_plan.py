"""`start`, `worker --num-workers` and `setup supervisor|systemd` run what one process_plan says."""

from __future__ import annotations

from pathlib import Path

from bench_jobs.bench.admin import create_bench, create_site
from bench_jobs.bench.config import update_json
from bench_jobs.cli.context import Context
from bench_jobs.cli.start import children
from bench_jobs.ops import process_files
from bench_jobs.ops.processes import process_plan


def bench_with_reports(tmp_path: Path):
    bench = create_bench(tmp_path / "bench")
    create_site(bench, "site1.local")
    update_json(bench.common_config_file, {"workers": {"reports": {"timeout": 900, "background_workers": 2}}})
    bench.reload()
    return bench


def test_start_and_process_files_run_the_same_plan(tmp_path: Path) -> None:
    bench = bench_with_reports(tmp_path)
    plan = process_plan(bench)
    assert [(p.label, p.count) for p in plan] == [("worker.short", 1), ("worker.default", 1), ("worker.long", 1),
                                                  ("worker.reports", 2), ("scheduler", 1), ("web", 1)]
    started = dict(children(Context(bench_option=str(bench.path)), workers=True, scheduler=True, web=True))
    assert list(started) == [name for p in plan for name in p.instances()]
    assert started["worker.reports.2"][-3:] == ["worker", "--queue", "reports"]
    programs = {p.kind + ":" + p.name.rsplit("-", 1)[-1]: p for p in process_files.plan(bench, skip_redis=True)}
    reports = programs["worker:reports"]
    assert reports.numprocs == 2 and reports.command[-3:] == ("worker", "--queue", "reports")
    assert reports.stop_wait == 900 + process_files.STOP_MARGIN
    assert programs["web:web"].command[-3:] == ("serve", "--processes", "2")


def test_num_workers_is_one_group_over_the_queue_list(tmp_path: Path) -> None:
    bench = bench_with_reports(tmp_path)
    [group] = process_plan(bench, scheduler=False, web=False, worker_queues=["short", "reports"], worker_count=3,
                           worker_args=("--burst",))
    assert group.instances() == ["worker.1", "worker.2", "worker.3"]
    assert group.args == ("worker", "--queue", "short,reports", "--burst") and group.timeout == 900
