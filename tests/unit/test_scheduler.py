"""The fair queue: which run starts next, in what order the queue would start, and when (pure; no clock)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ftui.engine.scheduler import FairQueue, Waiting, start_estimates


def waiting(owner: str, n: int, t0: float = 0.0) -> list[Waiting]:
    return [Waiting(Path(f"/runs/{owner}/{owner}{i}"), owner, t0 + i) for i in range(n)]


def start_all(queue: FairQueue, slots: int = 1) -> list[str]:
    """Start runs one at a time, each ending before the next starts when slots=1."""
    order, active = [], Counter()
    while (item := queue.pop_next(active)) is not None:
        order.append(item.run_dir.name)
    return order


def test_a_user_with_one_run_is_not_starved_by_one_with_many():
    queue = FairQueue()
    for item in waiting("ann", 4) + waiting("bob", 1, t0=10):
        queue.add(item)
    first = queue.pop_next(Counter())  # the slot was free: Ann's first run starts at once
    assert first.run_dir.name == "ann0"
    # Ann's run ends (no one active): the next goes to Bob, served never, although Ann's runs are older
    assert queue.pop_next(Counter()).run_dir.name == "bob0"
    assert start_all(queue) == ["ann1", "ann2", "ann3"]


def test_fewest_active_runs_first_then_oldest_of_theirs():
    queue = FairQueue()
    for item in waiting("ann", 2) + waiting("bob", 2, t0=10) + waiting("cy", 1, t0=20):
        queue.add(item)
    # Ann holds two slots, Bob one, Cy none: Cy, then Bob (fewer than Ann), each their oldest
    assert queue.pop_next(Counter(ann=2, bob=1)).run_dir.name == "cy0"
    assert queue.pop_next(Counter(ann=2, bob=1, cy=1)).run_dir.name == "bob0"


def test_a_user_at_the_cap_waits_while_others_start():
    queue = FairQueue(max_active_per_user=1)
    for item in waiting("ann", 2) + waiting("bob", 1, t0=10):
        queue.add(item)
    assert queue.pop_next(Counter(ann=1)).run_dir.name == "bob0"
    assert queue.pop_next(Counter(ann=1, bob=1)) is None  # Ann's second run waits for her first to end
    assert queue.pop_next(Counter(bob=1)).run_dir.name == "ann0"


def test_order_predicts_the_starts_and_puts_capped_users_last():
    queue = FairQueue(max_active_per_user=2)
    for item in waiting("ann", 3) + waiting("bob", 1, t0=10):
        queue.add(item)
    assert [w.run_dir.name for w in queue.order(Counter())] == ["ann0", "bob0", "ann1", "ann2"]
    assert [w.run_dir.name for w in queue.order(Counter(ann=2))] == ["bob0", "ann0", "ann1", "ann2"]
    assert len(queue) == 4  # order() only predicts


def test_a_restart_keeps_the_order_by_queued_time_not_by_insertion():
    queue = FairQueue()
    late, early = Waiting(Path("/runs/ann/late"), "ann", 50.0), Waiting(Path("/runs/ann/early"), "ann", 5.0)
    queue.add(late)
    queue.add(early)
    assert start_all(queue) == ["early", "late"]


def test_start_estimates_follow_the_active_runs_etas():
    # one slot, held by a run ending in 100 s; the queued ones take 60 s each
    assert start_estimates(3, free_slots=0, active_etas=[100.0], typical_s=60.0) == [100.0, 160.0, 220.0]
    # a free slot: the first starts now
    assert start_estimates(2, free_slots=1, active_etas=[30.0], typical_s=None) == [0.0, 30.0]
    # an active run without an ETA, nothing known about durations: unknown
    assert start_estimates(2, free_slots=0, active_etas=[None], typical_s=60.0) == [None, None]
    assert start_estimates(1, free_slots=0, active_etas=[], typical_s=60.0) == [None]
