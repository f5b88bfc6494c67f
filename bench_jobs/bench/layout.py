"""The bench: where it is, its sites, its apps and its merged configuration.

Layout (Frappe-compatible):
    BENCH/sites/common_site_config.json, sites/apps.txt, sites/currentsite.txt,
    BENCH/sites/SITE/site_config.json, BENCH/config/, BENCH/logs/
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from bench_jobs.bench import settings as S
from bench_jobs.bench.config import read_json
from bench_jobs.errors import BenchNotFound, ConfigError, SiteNotFound, UnknownQueue

DEFAULT_QUEUES = {"short": 300, "default": 300, "long": 1500}
SITE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")  # \Z: "$" would let "evil\n" through
QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")

ALL_SITES = "all"  # `--site all`, as in Frappe: every site of the bench


T = TypeVar("T")

# A bench id usable as it is at the head of job ids and worker names: no '_' (it ends the tag) and no '.'.
TAG_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def bench_tag(bench_id: str) -> str:
    """What job ids and worker names of a bench begin with (docs/storage.md, "Benches sharing a Redis"):
    the bench id itself when it is made of letters, digits and '-', else `b` + 12 hex digits of its SHA-1.
    A tag never holds '_' or '.', so `rq:job:{tag}_*` and `rq:worker:{tag}.*` match one bench only."""
    if TAG_RE.match(bench_id):
        return bench_id
    import hashlib  # here: hashlib's OpenSSL load costs every CLI start ~5 ms

    return "b" + hashlib.sha1(bench_id.encode()).hexdigest()[:12]


def is_bench(path: Path) -> bool:
    return (path / "sites").is_dir() and (path / "sites" / "apps.txt").is_file()


def find_bench_path(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """--bench, else $BENCH_PATH, else the nearest directory above cwd that holds sites/apps.txt."""
    given = explicit or os.environ.get("BENCH_PATH")
    if given:
        path = Path(given).expanduser().resolve()
        if not is_bench(path):
            raise BenchNotFound(f"{path} is not a bench (no sites/apps.txt there)",
                                "create one with `bench-jobs init DIR`, or point --bench at an existing bench")
        return path
    start = (cwd or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if is_bench(candidate):
            return candidate
    raise BenchNotFound(f"no bench found in {start} or any directory above it",
                        "run inside a bench, pass --bench DIR or set BENCH_PATH "
                        "(create one with `bench-jobs init DIR`)")


@dataclass
class Bench:
    path: Path
    _site_configs: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    # What is worked out from the config for every enqueue (queue timeouts, a site's limits, that a site
    # exists): held like the config itself, until `reload`, so a process enqueuing thousands of jobs a
    # second neither walks the settings nor stats sites/ per job.
    _derived: dict[Any, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def find(cls, explicit: str | os.PathLike[str] | None = None) -> Bench:
        return cls(find_bench_path(explicit))

    # -- paths ---------------------------------------------------------------
    @property
    def sites_path(self) -> Path:
        return self.path / "sites"

    @property
    def config_path(self) -> Path:
        return self.path / "config"

    @property
    def logs_path(self) -> Path:
        return self.path / "logs"

    @property
    def common_config_file(self) -> Path:
        return self.sites_path / "common_site_config.json"

    def site_config_file(self, site: str) -> Path:
        return self.sites_path / site / "site_config.json"

    # -- config --------------------------------------------------------------
    @cached_property
    def common_config(self) -> dict[str, Any]:
        return read_json(self.common_config_file)

    def reload(self) -> None:
        """Forget cached config so the next read sees the files as they are now."""
        self.__dict__.pop("common_config", None)
        self.__dict__.pop("apps", None)
        self._site_configs.clear()
        self._derived.clear()

    def derived(self, key: Any, compute: Callable[[], T]) -> T:
        """`compute()`, worked out once per `key` until `reload` (values that follow from the config only)."""
        try:
            value: T = self._derived[key]
        except KeyError:
            value = self._derived[key] = compute()
        return value

    def site_config(self, site: str) -> dict[str, Any]:
        """The site's own site_config.json (not merged); checked and read once (until `reload`)."""
        config = self._site_configs.get(site)
        if config is None:
            self.require_site(site)
            config = self._site_configs[site] = read_json(self.site_config_file(site))
        return config

    def merged_config(self, site: str | None) -> dict[str, Any]:
        """Common config with the site's keys on top, as Frappe's get_site_config does."""
        merged = dict(self.common_config)
        if site:
            merged.update(self.site_config(site))
        return merged

    @property
    def bench_id(self) -> str:
        """`bench_id` from common_site_config.json, else derived from the bench's real path as Frappe
        derives it (/home/frappe/frappe-bench -> home-frappe-frappe-bench), so both name the same keys."""
        return self.derived("bench_id", self._bench_id)

    def _bench_id(self) -> str:
        configured = S.BENCH_ID.read(self)
        if configured:
            return str(configured)
        return _derived_bench_id(self.path)

    @property
    def redis_url(self) -> str:
        return S.REDIS_QUEUE.read(self)

    # -- apps and sites ------------------------------------------------------
    @cached_property
    def apps(self) -> list[str]:
        try:
            lines = (self.sites_path / "apps.txt").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]

    def sites(self) -> list[str]:
        return sorted(p.parent.name for p in self.sites_path.glob("*/site_config.json"))

    def require_site(self, site: str) -> None:
        if ("site", site) in self._derived:  # seen to exist since the last `reload`, as its config is cached
            return
        if not (SITE_NAME_RE.match(site) and self.site_config_file(site).is_file()):
            known = ", ".join(self.sites()) or "none yet"
            raise SiteNotFound(f"site '{site}' does not exist in {self.path} (sites: {known})",
                               "create it with `bench-jobs new-site NAME` or pick one of the sites listed")
        self._derived["site", site] = True

    def default_site(self) -> str | None:
        """$BENCH_SITE (or Frappe's $FRAPPE_SITE), else `default_site` in common_site_config.json (what
        Frappe's `bench use` writes), else sites/currentsite.txt, else None — Frappe's order."""
        site = os.environ.get("BENCH_SITE") or os.environ.get("FRAPPE_SITE") or S.DEFAULT_SITE.read(self)
        if not site:
            try:
                site = (self.sites_path / "currentsite.txt").read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                return None
        return str(site).strip() or None

    # -- queues --------------------------------------------------------------
    def queue_timeouts(self) -> dict[str, int]:
        """Queue name -> default job timeout, the three standard queues first, then `workers`."""
        return dict(self.derived("queue_timeouts", self._queue_timeouts))

    def _queue_timeouts(self) -> dict[str, int]:
        queues = dict(DEFAULT_QUEUES)
        for name in S.WORKERS.read(self):
            if not QUEUE_NAME_RE.match(str(name)):
                raise ConfigError(f"queue name '{name}' in `workers` may only hold letters, digits, '_' and '-'",
                                  "rename it in sites/common_site_config.json")
            timeout = S.QUEUE_TIMEOUT.read(self, queue=str(name))
            if timeout:
                queues[str(name)] = timeout
            else:
                queues.setdefault(str(name), 300)
        return queues

    def queue_names(self) -> list[str]:
        return list(self.queue_timeouts())

    def require_queue(self, queue: str) -> str:
        names = self.queue_names()
        if queue not in names:
            raise UnknownQueue(f"unknown queue '{queue}' (known queues: {', '.join(names)})",
                               "add custom queues under `workers` in sites/common_site_config.json")
        return queue

    def parse_queues(self, spec: str | None) -> list[str]:
        """'short,default' -> ['short', 'default'] in that (priority) order; None -> all queues."""
        if not spec:
            return self.queue_names()
        queues = [q.strip() for q in spec.split(",") if q.strip()]
        for queue in queues:
            self.require_queue(queue)
        return list(dict.fromkeys(queues))

    def workers_for(self, queue: str) -> int:
        """How many worker processes production files start for `queue`."""
        return S.QUEUE_WORKERS.read(self, queue=queue) or S.BACKGROUND_WORKERS.read(self)


@functools.lru_cache(maxsize=64)
def _derived_bench_id(path: Path) -> str:
    """The bench id Frappe derives from the real path (resolved once per path: every enqueue asks)."""
    return os.path.realpath(path).strip("/").replace("/", "-")
