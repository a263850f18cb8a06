"""One run over several processes: DistributedDataParallel, started by torchrun (engine/local_backend.py).

    ranks = setup()                      # in the worker: torchrun's RANK / WORLD_SIZE / LOCAL_RANK
    ranks.device()                       # cuda:LOCAL_RANK (nccl), or the CPU (gloo: the tests' path)
    local, weight = ranks.shard(batch)   # this rank's rows of a global batch, and its loss's factor
    net = ranks.wrap(model)              # DDP: gradients averaged over the ranks in backward

Every rank builds the same Batches and draws the same global batches in the same order (tasks/base.py:
the order comes from (seed, epoch) alone); each trains on its own contiguous chunk of every batch. A rank's
loss is its rows' summed cross-entropy times world / global rows, so DDP's average of the gradients is the
gradient of the global batch's mean loss, uneven chunks included: the run follows the single-process run
with the same batch size (tests/integration/test_ddp.py measures it).

Whatever decides whether a collective runs must be the same on every rank, or one rank waits forever: a
stop is agreed by an all-reduce every step (`agreed`), the auto evaluation count is rank 0's (`agree`),
the batch size an auto search finds is the smallest one's (`smallest`). Only rank 0 writes files.
With one process (world 1) every method is the plain single-process behaviour and costs nothing.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

_control = None  # with nccl: a gloo group for the small decisions (a CPU flag does not wait for the GPU's queue)


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def device(self) -> torch.device:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        device = torch.device("cuda", self.local_rank if self.active else torch.cuda.current_device())
        torch.cuda.set_device(device)
        return device

    def shard(self, batch: dict) -> tuple[dict, float]:
        """This rank's contiguous chunk of a global batch, and the factor on its summed loss (world / global
        rows). A rank left without rows (a last batch smaller than the world) trains on row 0 with factor 0:
        it still joins DDP's gradient all-reduce, adding nothing."""
        n = int(next(iter(batch.values())).shape[0])
        start, stop = chunk_bounds(n, self.rank, self.world)
        if start == stop:
            return {k: v[:1] for k, v in batch.items()}, 0.0
        return {k: v[start:stop] for k, v in batch.items()}, self.world / n

    def rows(self, batch: dict) -> dict:
        """This rank's chunk for evaluation (possibly empty: then nothing to run)."""
        n = int(next(iter(batch.values())).shape[0])
        start, stop = chunk_bounds(n, self.rank, self.world)
        return {k: v[start:stop] for k, v in batch.items()}

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP around the model (broadcasting rank 0's weights, the fitted head included); the model itself
        with one process. The wrapper shares the model's parameters: the optimizer and checkpoints use the model."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        on_gpu = next(model.parameters()).device.type == "cuda"
        return DistributedDataParallel(model, device_ids=[self.local_rank] if on_gpu else None)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """All-reduced sum, in place (the tensor on this rank's device)."""
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def agree(self, value: int) -> int:
        """Rank 0's value on every rank (a decision from timings, which differ between ranks)."""
        if not self.active:
            return value
        box = torch.tensor([int(value)], dtype=torch.int64)
        dist.broadcast(box, src=0, group=_control)
        return int(box.item())

    def smallest(self, value: int) -> int:
        if not self.active:
            return value
        box = torch.tensor([int(value)], dtype=torch.int64)
        dist.all_reduce(box, op=dist.ReduceOp.MIN, group=_control)
        return int(box.item())

    def agreed(self, cancel: threading.Event) -> threading.Event | AgreedStop:
        return AgreedStop(cancel) if self.active else cancel


class AgreedStop:
    """A stop seen by any rank (its SIGTERM or the STOP file, worker.py) is a stop on all of them, at the same
    step: is_set() all-reduces the flag, so every rank must ask it at the same points (the loop, evaluate and
    the feature pass do: once per step or batch, a CPU tensor over gloo, ~0.1 ms, no GPU sync). Once agreed
    it stays set without asking."""

    def __init__(self, cancel: threading.Event):
        self.cancel, self._agreed = cancel, False

    def is_set(self) -> bool:
        if not self._agreed:
            flag = torch.tensor([1 if self.cancel.is_set() else 0], dtype=torch.int64)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=_control)
            self._agreed = bool(flag.item())
        return self._agreed

    def set(self) -> None:
        self.cancel.set()


def chunk_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [start, stop) of rank's chunk of n rows: as torch.tensor_split, the first n % world get one more."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def step_loss(logits: torch.Tensor, targets: torch.Tensor, weight: float, label_smoothing: float) -> torch.Tensor:
    """This rank's share of the global batch's mean cross-entropy (see the module's docstring)."""
    return F.cross_entropy(logits, targets, reduction="sum", label_smoothing=label_smoothing) * weight


def from_env() -> Ranks:
    """The ranks torchrun gave this process (one process without them)."""
    env = os.environ
    world = int(env.get("WORLD_SIZE") or 1)
    if world <= 1:  # a stray RANK in the server's environment does not make a plain worker a follower
        return Ranks()
    return Ranks(rank=int(env.get("RANK") or 0), world=world, local_rank=int(env.get("LOCAL_RANK") or 0))


def setup() -> Ranks:
    """Join the process group when torchrun started several of us (nccl on GPUs, gloo on CPUs), and wait for
    every rank: what a rank reads before this (status.json's resume flag) is read before rank 0 changes it."""
    global _control
    ranks = from_env()
    if ranks.active and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(ranks.local_rank)
        dist.init_process_group(backend=backend)
        _control = dist.new_group(backend="gloo") if backend == "nccl" else None
        dist.barrier(group=_control)
    return ranks


def teardown() -> None:
    global _control
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _control = None
