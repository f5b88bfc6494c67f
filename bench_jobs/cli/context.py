"""The object every command receives: the bench, the site and a lazily opened Redis."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from bench_jobs.errors import SiteNotFound

if TYPE_CHECKING:
    import redis

    from bench_jobs.bench.layout import Bench


@dataclass
class Context:
    bench_option: str | None = None
    site_option: str | None = None
    _redis: redis.Redis | None = field(default=None, repr=False)

    @cached_property
    def bench(self) -> Bench:
        # Imported here, not at the top: `bench-jobs --help` and completion never need it.
        from bench_jobs.bench.layout import Bench

        return Bench.find(self.bench_option)

    @property
    def site(self) -> str | None:
        """The selected site, checked to exist; None when none was chosen anywhere."""
        site = self.site_option or self.bench.default_site()
        if site:
            self.bench.require_site(site)
        return site

    def require_site(self) -> str:
        site = self.site
        if not site:
            raise SiteNotFound("no site selected",
                               "pass --site SITE (before the command), set BENCH_SITE, or run `bench-jobs use SITE`")
        return site

    @property
    def redis(self) -> redis.Redis:
        """The bench's queue Redis, pinged once so a down server is reported up front."""
        if self._redis is None:
            from bench_jobs.bench.connection import check
            from bench_jobs.bench.context import redis_for

            client = redis_for(self.bench)
            check(client, self.bench)
            self._redis = client
        return self._redis

    def check_redis(self) -> None:
        """Open and ping Redis now, so a down server is one clean error before any work starts."""
        _ = self.redis

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
            self._redis = None
