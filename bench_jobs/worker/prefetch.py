"""How many jobs a worker claims in one round trip: the adaptive batch size.

It starts at 1 and doubles while whole batches run in under BATCH_BUDGET, and halves when one runs
longer than twice that, so slow jobs are claimed one at a time and an idle worker's claim of the one
job just enqueued is as fast as ever, while a stream of short jobs costs one claim per up to
BATCH_MAX jobs. Its own module because the rule is pure arithmetic over two measurements; the loop
only reports what a batch took.
"""

from __future__ import annotations

BATCH_MAX = 64  # jobs claimed in one round trip, at most
BATCH_BUDGET = 0.02  # seconds: batches that run faster than this grow, slower ones shrink


class Prefetch:
    def __init__(self, adaptive: bool = True) -> None:
        # Not adaptive: round_robin and random choose the queue per job, one job per claim.
        self.adaptive = adaptive
        self.size = 1

    def take(self, left: int | None) -> int:
        """Jobs to claim now; `left` is how many the worker may still run (None: no limit)."""
        return self.size if left is None else max(1, min(self.size, left))

    def adapt(self, claimed: int, took: float) -> None:
        """A batch of `claimed` jobs ran in `took` seconds (from its claim to its last finish)."""
        if not self.adaptive:
            return
        if claimed >= self.size and took < BATCH_BUDGET:
            self.size = min(BATCH_MAX, self.size * 2)
        elif took > 2 * BATCH_BUDGET:
            self.size = max(1, self.size // 2)
