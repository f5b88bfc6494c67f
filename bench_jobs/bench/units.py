"""Durations and time zones as operators write them: one formatter of durations (`12s`, `1h06m`) for the
CLI's tables and `doctor`'s messages, and one reader of IANA zone names (site config, `new-site
--time-zone`, the scheduler, `enqueue --at`), low enough in the layers that all may use them."""

from __future__ import annotations

from datetime import tzinfo


def age(seconds: float | None, missing: str = "-") -> str:
    """12.3 -> '12s', 4000 -> '1h06m'; `missing` for None (the web page shows an em dash)."""
    if seconds is None:
        return missing
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def zone(name: str) -> tzinfo | None:
    """The zone an IANA name (`Europe/Berlin`) names; None when there is no such zone (each caller
    says what to fix where)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None
