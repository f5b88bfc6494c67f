"""Regenerate completions/ (bash, zsh, fish) from `bench-jobs completion SHELL`.

Run after changing the CLI's name or completion protocol:  .venv/bin/python scripts/gen_completions.py
tests/cli/test_completion.py fails while the checked-in files differ from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_jobs.bench.config import write_atomic  # noqa: E402
from bench_jobs.cli.completion import FILES, script  # noqa: E402


def main() -> None:
    for shell, name in FILES.items():
        path = ROOT / "completions" / name
        write_atomic(path, script(shell))
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
