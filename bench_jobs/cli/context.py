"""The object every command receives: the bench, the site and a lazily opened Redis."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from bench_jobs.errors import BenchJobsError, SiteNotFound

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench


@dataclass
class Context:
    bench_option: str | None = None
    site_option: str | None = None
    _redis: redis.Redis | None = field(default=None, repr=False)
    _reader: redis.Redis | None = field(default=None, repr=False)

    @cached_property
    def bench(self) -> Bench:
        # Imported here, not at the top: `bench-jobs --help` and completion never need it.
        from bench_jobs.bench.layout import Bench

        return Bench.find(self.bench_option)

    @property
    def all_sites(self) -> bool:
        """`--site all`, as in Frappe: the command acts on every site of the bench."""
        from bench_jobs.bench.layout import ALL_SITES

        return self.site_option == ALL_SITES

    @property
    def site(self) -> str | None:
        """The selected site, checked to exist; None when none was chosen anywhere, or with `--site all`
        (listings then cover every site)."""
        if self.all_sites:
            return None
        site = self.site_option or self.bench.default_site()
        if site:
            self.bench.require_site(site)
        return site

    def require_site(self, all_sites_hint: bool = False) -> str:
        if self.all_sites:
            raise BenchJobsError("this command acts on one site; `--site all` is not for it",
                                 "pass --site SITE (before the command)")
        site = self.site
        if not site:
            also = ", or --all-sites (after the command)" if all_sites_hint else ""
            raise SiteNotFound("no site selected", "pass --site SITE (before the command), set BENCH_SITE, "
                               f"or run `bench-jobs use SITE`{also}")
        return site

    def sites(self, all_sites: bool, *, seen_in_redis: bool = False) -> list[str]:
        """The one rule for which sites a command acts on (docs/cli.md, "Which sites"):
        `--all-sites` or `--site all` (Frappe's spelling): every site of the bench (with `seen_in_redis`,
        also sites that only have jobs left in Redis); else the selected site (--site, $BENCH_SITE,
        default_site, sites/currentsite.txt); with neither, an error that names both ways to choose.
        Never a silent "all" or "none"."""
        if not all_sites and not self.all_sites:
            return [self.require_site(all_sites_hint=True)]
        if seen_in_redis:
            from bench_jobs.jobs.queries import known_sites

            return known_sites(self.reader, self.bench)
        return self.bench.sites()

    def require_sites(self) -> list[str]:
        """The sites a per-site action (enable, trigger, execute, ...) applies to: every site with
        `--site all`, else the selected one."""
        if self.all_sites:
            sites = self.bench.sites()
            if not sites:
                raise SiteNotFound("`--site all`: this bench has no site yet",
                                   "create one with `bench-jobs new-site NAME`")
            return sites
        return [self.require_site()]

    def _checked(self, client: redis.Redis) -> redis.Redis:
        """`client` once it answered a PING; else RedisUnavailable with a fix."""
        from bench_jobs.bench.connection import check

        check(client, self.bench)
        return client

    @property
    def reader(self) -> redis.Redis:
        """The bench's queue Redis for a command that only reads, pinged once like `redis`: a client
        that does not import redis-py where the URL allows (bench/read_client.py), else the same client."""
        if self._redis is not None:
            return self._redis
        if self._reader is None:
            from bench_jobs.bench.context import reader_for

            self._reader = self._checked(reader_for(self.bench))
        return self._reader

    @property
    def redis(self) -> redis.Redis:
        """The bench's queue Redis, pinged once so a down server is reported up front."""
        if self._redis is None:
            from bench_jobs.bench.context import redis_for

            self._redis = self._checked(redis_for(self.bench))
        return self._redis

    def check_redis(self) -> None:
        """Open and ping Redis now, so a down server is one clean error before any work starts."""
        _ = self.redis

    def user_error(self, exc: BaseException) -> BenchJobsError | None:
        """`exc` as the one-line error the CLI prints, or None when it is not one of ours.

        Redis errors raised anywhere under a command (redis-py's connection, timeout and ACL errors)
        become RedisUnavailable with a fix here, once, instead of in each command."""
        if isinstance(exc, BenchJobsError):
            return exc
        import sys

        if "redis" not in sys.modules:  # redis-py never loaded: cannot be one of its errors
            return None
        from bench_jobs.bench.connection import as_user_error

        return as_user_error(exc, self.bench)

    def close(self) -> None:
        for client in (self._reader, self._redis):
            if client is not None:
                client.close()
        self._redis = self._reader = None
