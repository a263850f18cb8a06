"""Which queued run trains next: fair between users, pure (no processes, no clock of its own).

    queue = FairQueue(max_active_per_user=0)      # 0: no cap
    queue.add(Waiting(run_dir, owner, queued_at))
    nxt = queue.pop_next(active)                  # active: Counter of running runs per owner
    queue.order(active)                           # the whole queue in the order it would start

When a slot frees, it goes to the user with the fewest active runs; between users with as many, to
the one served longest ago (so A's four queued runs do not all go before B's one: A was just served);
within a user, their oldest queued run first. A user at `max_active_per_user` waits whatever the queue.

`start_estimates` turns that order into estimated start times from the active runs' ETAs.
"""
from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Waiting:
    run_dir: Path
    owner: str
    queued_at: float  # status.json's queued_at: the order survives a restart


class FairQueue:
    def __init__(self, max_active_per_user: int = 0):
        self.max_active_per_user = max(0, int(max_active_per_user or 0))
        self._waiting: dict[Path, Waiting] = {}
        self._last_served: dict[str, int] = {}  # owner -> turn number of their last start
        self._turn = 0

    def add(self, item: Waiting) -> None:
        self._waiting[item.run_dir] = item

    def remove(self, run_dir: Path) -> Waiting | None:
        return self._waiting.pop(run_dir, None)

    def __contains__(self, run_dir: Path) -> bool:
        return run_dir in self._waiting

    def __len__(self) -> int:
        return len(self._waiting)

    def count(self, owner: str) -> int:
        return sum(1 for w in self._waiting.values() if w.owner == owner)

    def served(self, owner: str) -> None:
        """Record that `owner` got a slot now (also for runs started outside pop_next, e.g. re-adopted)."""
        self._turn += 1
        self._last_served[owner] = self._turn

    def pop_next(self, active: Counter) -> Waiting | None:
        item = self._pick(self._waiting.values(), active, self._last_served)
        if item is not None:
            del self._waiting[item.run_dir]
            self.served(item.owner)
        return item

    def order(self, active: Counter) -> list[Waiting]:
        """Every queued run in the order it would start if each started in turn (runs of users at their cap
        last: they start when one of their own ends)."""
        active, served, left = Counter(active), dict(self._last_served), dict(self._waiting)
        turn, order = self._turn, []
        while left:
            item = self._pick(left.values(), active, served) or min(left.values(), key=_age)
            del left[item.run_dir]
            order.append(item)
            active[item.owner] += 1
            turn += 1
            served[item.owner] = turn
        return order

    def _pick(self, waiting, active: Counter, served: dict) -> Waiting | None:
        allowed = [w for w in waiting if not self.max_active_per_user or active[w.owner] < self.max_active_per_user]
        if not allowed:
            return None
        return min(allowed, key=lambda w: (active[w.owner], served.get(w.owner, 0), *_age(w)))


def _age(item: Waiting) -> tuple:
    return item.queued_at, str(item.run_dir)


def start_estimates(n_queued: int, free_slots: int, active_etas: list[float | None],
                    typical_s: float | None) -> list[float | None]:
    """Seconds until each queued run (in start order) starts: slots free as the active runs reach their
    ETA, then as the runs ahead take about `typical_s` each. None where that cannot be known (an active run
    without an ETA yet, or no typical duration)."""
    slot_free = [0.0] * max(0, free_slots) + [math.inf if eta is None else float(eta) for eta in active_etas]
    if not slot_free:
        return [None] * n_queued
    heapq.heapify(slot_free)
    starts = []
    for _ in range(n_queued):
        start = heapq.heappop(slot_free)
        starts.append(None if math.isinf(start) else round(start, 1))
        heapq.heappush(slot_free, math.inf if typical_s is None else start + typical_s)
    return starts
