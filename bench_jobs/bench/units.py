"""Durations as operators read them (`12s`, `1h06m`): one formatter for the CLI's tables and `doctor`'s
messages, low enough in the layers that both may use it."""

from __future__ import annotations


def age(seconds: float | None) -> str:
    """12.3 -> '12s', 4000 -> '1h06m'."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
