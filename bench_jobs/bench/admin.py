"""Making benches and sites, registering apps: the core under init/new-site/add-app/use."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from bench_jobs.bench.config import update_json, write_atomic, write_json
from bench_jobs.bench.layout import SITE_NAME_RE, Bench, is_bench
from bench_jobs.errors import BenchJobsError, ConfigError

APP_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def create_bench(path: Path, redis_port: int = 11000) -> Bench:
    path = path.expanduser().resolve()
    if is_bench(path):
        raise BenchJobsError(f"{path} is already a bench", "pick another directory, or use the bench that is there")
    if path.exists() and any(path.iterdir()):
        raise BenchJobsError(f"{path} exists and is not empty", "give init a new or empty directory")
    if not 1 <= redis_port <= 65535:
        raise BenchJobsError(f"--redis-port {redis_port} is not a TCP port", "use a number from 1 to 65535")
    for sub in ("sites", "config", "logs", "apps"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    write_json(path / "sites" / "common_site_config.json", {
        "redis_queue": f"redis://127.0.0.1:{redis_port}",
        "background_workers": 1,
    })
    # apps.txt last: its presence is what makes the directory a bench.
    write_atomic(path / "sites" / "apps.txt", "")
    return Bench(path)


def validate_time_zone(tz: str) -> str:
    from bench_jobs.bench.units import zone

    if zone(tz) is None:
        raise ConfigError(f"unknown time zone '{tz}'", "use an IANA name such as Europe/Berlin or Asia/Kolkata")
    return tz


def create_site(bench: Bench, name: str, time_zone: str | None = None) -> Path:
    if not SITE_NAME_RE.match(name) or name in {"assets", "apps.txt"}:
        raise BenchJobsError(f"'{name}' is not a valid site name",
                             "use letters, digits, '.', '_' and '-', e.g. site1.local")
    config_file = bench.site_config_file(name)
    if config_file.exists():
        raise BenchJobsError(f"site '{name}' already exists", f"its config is {config_file}")
    config = {"time_zone": validate_time_zone(time_zone)} if time_zone else {}
    write_json(config_file, config)
    return config_file


def add_app(bench: Bench, app: str) -> bool:
    """Register an importable package in apps.txt; False when it was there already."""
    if not APP_NAME_RE.match(app):
        raise BenchJobsError(f"'{app}' is not a Python package name", "give the importable name, e.g. my_app")
    if app in bench.apps:
        return False
    try:
        found = importlib.util.find_spec(app) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise BenchJobsError(f"app '{app}' is not importable from this Python",
                             f"install it first (pip install -e path/to/{app}), then run add-app again")
    from bench_jobs.bench.apps import not_an_app

    reason = not_an_app(app)
    if reason:
        raise BenchJobsError(f"{reason}: every function in it could be enqueued as a job",
                             "add-app registers the bench's own apps (a package with your jobs, e.g. my_app)")
    write_atomic(bench.sites_path / "apps.txt", "".join(f"{a}\n" for a in [*bench.apps, app]))
    bench.reload()
    return True


def use_site(bench: Bench, site: str) -> None:
    bench.require_site(site)
    bench.site_config(site)  # a site whose config is broken is reported now, not at the next job
    # Frappe's `bench use` writes default_site, which wins over currentsite.txt: keep both saying the same
    update_json(bench.common_config_file, {"default_site": site})
    write_atomic(bench.sites_path / "currentsite.txt", site + "\n")
    bench.reload()
