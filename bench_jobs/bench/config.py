"""Reading and writing the bench's JSON config files: atomically, keeping unknown keys."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench_jobs.errors import ConfigError


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, or {} when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
                          "save it as UTF-8 JSON like {\"key\": \"value\"}") from None
    except OSError as exc:  # a directory, no read permission, an I/O error
        raise ConfigError(f"cannot read {path} ({exc.strerror or exc})",
                          "make it a readable file for this user") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            "fix the file by hand; it must hold one JSON object like {\"key\": \"value\"}",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object, not {type(data).__name__}",
                          "wrap the settings in { ... }")
    return data


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace `path` with `text` so readers see the old file or the new one, never a half."""
    import tempfile  # only writers pay for it (it pulls shutil and random)

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file to be written, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # name the file being replaced, not the temporary one
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any], mode: int = 0o644) -> None:
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n", mode)


def update_json(path: Path, changes: dict[str, Any], mode: int | None = None,
                remove: tuple[str, ...] = ()) -> dict[str, Any]:
    """Set `changes` (and drop `remove`) in the JSON file at `path`; other keys stay untouched."""
    data = read_json(path)
    data.update(changes)
    for key in remove:
        data.pop(key, None)
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    write_json(path, data, mode)
    return data
