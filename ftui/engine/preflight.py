"""Pre-flight: what the first real steps of a run say about its cost, and the largest batch that fits.

The loop times its first fine-tuning steps (they are real steps, not a rehearsal) and reports seconds
per step, peak memory and the ETA before any progress bar claims one. On a GPU with batch size on
auto, `find_batch_size` tries a forward + backward pass on the worst-case batch and halves on
out-of-memory (accelerate's find_executable_batch_size does the same), keeping a memory margin.
"""
from __future__ import annotations

import resource
import statistics
from collections.abc import Callable

PREFLIGHT_STEPS = 5  # steps timed before the ETA is claimed (the first one pays warm-up and is dropped)
GPU_BATCH_START = 128  # the largest batch tried on a GPU: bigger ones rarely fine-tune better
MIN_STEPS_PER_EPOCH = 20  # a small data set keeps at least this many updates per epoch
MEMORY_MARGIN = 0.85  # a batch must leave 15% of the GPU's memory free (fragmentation, longer batches)


def seconds_per_step(step_times: list[float]) -> float:
    """The median of the timed steps after the first (which pays one-off warm-up costs)."""
    times = step_times[1:] or step_times
    return statistics.median(times) if times else 0.0


def peak_memory_mb(device) -> float:
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def find_batch_size(try_batch: Callable[[int], float | None], n_train: int, *, start: int = GPU_BATCH_START,
                    memory_total: float | None = None) -> int:
    """The largest power-of-two batch (<= start, and small enough that an epoch keeps MIN_STEPS_PER_EPOCH
    updates) for which try_batch(b) neither runs out of memory nor peaks above the margin.
    try_batch(b) runs one worst-case step and returns its peak memory in bytes (None: unknown)."""
    cap = max(1, n_train // MIN_STEPS_PER_EPOCH)
    batch = 1
    while batch * 2 <= min(start, cap):
        batch *= 2
    while batch > 1:
        try:
            peak = try_batch(batch)
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            batch //= 2
            continue
        if memory_total and peak is not None and peak > MEMORY_MARGIN * memory_total:
            batch //= 2
            continue
        return batch
    return 1
