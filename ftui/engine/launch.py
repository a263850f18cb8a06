"""How a run's worker is started: one process, or one per GPU through torchrun (a run's `gpus` option).

    worker_command(python, gpus, run_dir)   # python -m ftui.worker RUN_DIR, or
                                            # python -m torch.distributed.run --standalone --nproc_per_node N
                                            #        -m ftui.worker RUN_DIR   (engine/distributed.py trains)
    gpus_refusal(gpus, slots)               # FtuiError("gpus_unavailable") when no slot has that many GPUs

A multi-GPU run needs one slot that holds its GPUs: the admin groups GPUs into slots with `--gpus 0+1,2+3`
(two slots of two GPUs). Scheduling a run over several slots is not done: a slot is the unit the fair queue
hands out. On a box without GPUs a run with gpus > 1 is refused, unless FTUI_DDP_CPU=1 is set for the server:
then it runs as that many CPU processes (gloo), the path the tests take. torchrun is the venv's own
(`python -m torch.distributed.run`), never one found on PATH. No torch here: the server imports this.
"""
from __future__ import annotations

import os
from pathlib import Path

from ftui.errors import FtuiError
from ftui.runs.store import read_json

WORKER_MODULE = "ftui.worker"
CPU_DDP_ENV = "FTUI_DDP_CPU"  # "1": runs with gpus > 1 train as CPU processes (gloo) on a box without GPUs


def run_gpus(run_dir: Path) -> int:
    """The run's `gpus` option, from its config.json (1 when absent or unreadable)."""
    train = (read_json(Path(run_dir) / "config.json", {}) or {}).get("train") or {}
    try:
        return max(1, int(train.get("gpus") or 1))
    except (TypeError, ValueError):
        return 1


def worker_command(python: str, gpus: int, run_dir: Path) -> list[str]:
    if gpus <= 1:
        return [python, "-m", WORKER_MODULE, str(run_dir)]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
            "-m", WORKER_MODULE, str(run_dir)]


def slot_gpus(slot) -> list[str]:
    """The GPU indexes a slot holds ("0,1" for a slot planned from `--gpus 0+1`)."""
    return [g for g in (slot.gpu or "").split(",") if g.strip()]


def gpus_refusal(gpus: int, slots) -> FtuiError | None:
    """Why a run asking for `gpus` GPUs cannot train on any of `slots` (None: it can). Cluster slots (Ray)
    take any count: the cluster finds the GPUs."""
    if int(gpus) <= 1 or any(slot.place for slot in slots):
        return None
    most = max((len(slot_gpus(slot)) for slot in slots), default=0)
    if most >= gpus or (most == 0 and os.environ.get(CPU_DDP_ENV) == "1"):
        return None
    return FtuiError("gpus_unavailable", wanted=int(gpus), most=most)


def worker_env(slot, gpus: int) -> dict[str, str]:
    """The slot's environment for a run on `gpus` of its GPUs: only those are visible; CPU processes (gloo)
    share the slot's threads."""
    env = slot.env()
    held = slot_gpus(slot)
    if len(held) > 1:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(held[:gpus])
    if gpus > 1 and not held and slot.threads:
        env["FTUI_THREADS"] = str(max(1, slot.threads // gpus))
    return env
