"""`setup systemd`: the bench's programs (process_files.plan) as systemd units in config/systemd/ —
a template service per worker program, the scheduler, the web page and the bench's own Redis, tied
together by a target. Ordering (After= + Requires= on Redis) starts Redis first and stops it last.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field
from pathlib import Path

from bench_jobs.bench.config import write_atomic
from bench_jobs.bench.layout import Bench
from bench_jobs.ops.process_files import (
    BESIDE,
    HEADER,
    MARKER,
    Program,
    check_user,
    environment,
    ours,
    plan,
    stderr_log,
    stdout_log,
    unit_prefix,
)


def _systemd_word(word: str) -> str:
    """Quote for ExecStart; '%' and '$' are doubled so systemd does not expand them."""
    word = word.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%$+=:,./-]+", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd_env(key: str, value: str) -> str:
    return '"' + f"{key}={value}".replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def _service(bench: Bench, program: Program, user: str, after: list[str], part_of: str) -> str:
    description = program.description.replace("worker", "worker %i", 1) if program.kind == "worker" \
        else program.description
    # After= + Requires= the bench's Redis: started before, stopped after (and with) it.
    lines = [f"# {HEADER.format(cmd='setup systemd', bench=bench.path)}",
             "[Unit]", f"Description={description}", f"PartOf={part_of}",
             f"After=network-online.target {' '.join(after)}".rstrip(), "Wants=network-online.target",
             *([f"Requires={' '.join(after)}"] if after else []), "",
             "[Service]", "Type=simple", f"User={user}", f"WorkingDirectory={bench.path}",
             *(f"Environment={_systemd_env(k, v)}" for k, v in environment(bench).items()),
             f"ExecStart={' '.join(_systemd_word(word) for word in program.command)}",
             # Warm stop: SIGTERM to the main process only; it stops its children itself. After
             # TimeoutStopSec (job timeout + margin) everything left in the cgroup gets SIGKILL.
             "KillSignal=SIGTERM", "KillMode=mixed", f"TimeoutStopSec={program.stop_wait}",
             "Restart=always", "RestartSec=2",
             f"StandardOutput={'append:' + str(out) if (out := stdout_log(bench, program)) else 'null'}",
             f"StandardError=append:{stderr_log(bench, program)}"]
    if program.nice is not None:
        lines.append(f"Nice={program.nice}")
    return "\n".join(lines) + "\n"


def _target(description: str, wants: list[str], part_of: str | None) -> str:
    lines = [f"# {MARKER}` (setup systemd). Do not edit: re-run it.", "[Unit]", f"Description={description}",
             f"Wants={' '.join(wants)}"]
    if part_of:  # stopping or restarting the bench target takes the workers target with it
        lines.append(f"PartOf={part_of}")
    else:
        lines += ["", "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(lines) + "\n"


def systemd_units(bench: Bench, programs: list[Program], user: str | None = None,
                  prefix: str | None = None) -> dict[str, str]:
    """File name -> unit text: a template service per worker queue, one per other program, and
    `{prefix}-workers.target` (every worker instance) under `{prefix}.target` (the whole bench)."""
    check_user(user)
    user = user or getpass.getuser()
    prefix = prefix or unit_prefix(bench)
    bench_target, workers_target = f"{prefix}.target", f"{prefix}-workers.target"
    redis_units = [f"{p.name}.service" for p in programs if p.kind == "redis"]
    units: dict[str, str] = {}
    instances: list[str] = []
    for program in programs:
        if program.kind == "worker":
            units[f"{program.name}@.service"] = _service(bench, program, user, redis_units, workers_target)
            instances += [f"{program.name}@{n}.service" for n in range(1, program.numprocs + 1)]
        else:
            after = redis_units if program.kind != "redis" else []
            units[f"{program.name}.service"] = _service(bench, program, user, after, bench_target)
    units[workers_target] = _target(f"bench-jobs workers of {bench.path}", instances, part_of=bench_target)
    others = [name for name in units if name.endswith(".service") and "@" not in name]
    units[bench_target] = _target(f"bench-jobs: Redis, workers and scheduler of {bench.path}",
                                  [*others, workers_target], part_of=None)
    return units


@dataclass
class SystemdResult:
    paths: list[Path]
    kept: list[Path] = field(default_factory=list)  # files of the same names bench-jobs did not write
    target: str = ""


def write_systemd(bench: Bench, *, user: str | None = None, skip_redis: bool = False,
                  force: bool = False) -> SystemdResult:
    """Write config/systemd/*; units of this bench that the plan no longer has are removed (only
    files bench-jobs wrote). When a unit of the same name exists that bench-jobs did not write (a
    Frappe bench's `bench setup systemd`), every unit is named `{prefix}-bench-jobs-…` instead and the
    existing files are left as they are."""
    directory = bench.config_path / "systemd"
    bench.logs_path.mkdir(parents=True, exist_ok=True)
    prefix = unit_prefix(bench)
    programs = plan(bench, skip_redis=skip_redis)
    units = systemd_units(bench, programs, user)
    kept = [directory / name for name in units if not ours(directory / name)]
    if kept and not force:
        prefix = f"{prefix}-{BESIDE}"
        # Their units already run the queue Redis (Frappe's `{prefix}-redis-queue.service`): never a second one.
        redis_theirs = any("redis-queue" in path.name and not ours(path) for path in directory.glob("*.service"))
        programs = plan(bench, skip_redis=skip_redis or redis_theirs, prefix=prefix)
        units = systemd_units(bench, programs, user, prefix=prefix)
    for name, text in units.items():
        write_atomic(directory / name, text)
    for old in directory.glob(f"{prefix}[-.]*"):
        if old.suffix in {".service", ".target"} and old.name not in units and ours(old):
            old.unlink()  # e.g. a custom queue removed from `workers`
    return SystemdResult([directory / name for name in units], kept=kept if not force else [],
                         target=f"{prefix}.target")
