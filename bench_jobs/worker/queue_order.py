"""The order a worker asks its queues in (`worker --strategy`): strict priority as given, round robin,
or a shuffle per claim.

Its own module because it is a policy with state of its own (where the round robin stands), apart
from how the loop claims and runs jobs; the CLI takes the strategies' names from here.
"""

from __future__ import annotations

import random

STRATEGIES = ("default", "round_robin", "random")


class QueueOrder:
    def __init__(self, queues: list[str], strategy: str) -> None:
        self.queues, self.strategy = queues, strategy
        self.rotation = 0  # round_robin: index of the queue to look at first

    @property
    def per_job(self) -> bool:
        """round_robin and random choose the queue per job, so they claim one job at a time."""
        return self.strategy != "default"

    def next(self) -> list[str]:
        """The queues in the order the next claim looks at them."""
        queues = self.queues
        if self.strategy == "random":
            return random.sample(queues, len(queues))
        if self.strategy == "round_robin":
            start = self.rotation % len(queues)
            return queues[start:] + queues[:start]
        return queues

    def ran(self, queue: str) -> None:
        """A job of `queue` is about to run: round_robin looks at the queue after it next."""
        if self.strategy == "round_robin" and queue in self.queues:
            self.rotation = self.queues.index(queue) + 1
