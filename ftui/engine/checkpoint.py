"""Resumable training state: `<run_dir>/checkpoints/last/`.

    checkpoints/last/
      model.safetensors    the weights and buffers (safetensors: no pickle)
      trainer_state.pt     optimizer and RNG states, saved with torch.save as plain tensors,
                           lists and numbers, and read back ONLY with torch.load(weights_only=True):
                           a checkpoint is a user file, and unpickling one could run code
      trainer_state.json   where training stands, readable without torch (the web app asks it):
                           step, epoch + batch (the next batch to train is batch+1 of epoch, 0-based epoch),
                           steps_per_epoch, total_steps, epochs, best {step, epoch, accuracy, loss},
                           evals_without_improvement, evals_per_epoch, eval_pending, samples, train_seconds

A checkpoint is written into a temporary sibling folder and swapped in with two renames, so a crash
mid-write leaves the previous checkpoint whole. `load` checks everything before anyone changes a
file: a damaged checkpoint is FtuiError("checkpoint_corrupt"), raised while the run is untouched.

torch is imported inside the functions that need it: jobs and services ask `find`/`read_state`
without loading torch.
"""
from __future__ import annotations

import json
import os
import random
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from ftui.errors import FtuiError

FORMAT = 1
WEIGHTS, TRAINER, STATE = "model.safetensors", "trainer_state.pt", "trainer_state.json"
STATE_KEYS = ("step", "epoch", "batch", "steps_per_epoch", "total_steps", "epochs")
TRAINER_KEYS = ("step", "optimizer", "rng", "param_names", "param_shapes")  # (older ones also hold a scheduler)


def last_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints" / "last"


def find(run_dir: Path) -> Path | None:
    """The run's resumable checkpoint folder, or None. After a crash between the two renames of a swap
    the previous checkpoint is still whole under its `.last.old-*` name, and is used."""
    last = last_dir(run_dir)
    if last.is_dir():
        return last
    left = sorted(last.parent.glob(f".{last.name}.old-*"), key=lambda p: p.stat().st_mtime) if last.parent.is_dir() else []
    return left[-1] if left else None


def read_state(folder: Path) -> dict | None:
    """trainer_state.json, or None when it is missing or unreadable (no torch needed)."""
    try:
        state = json.loads((Path(folder) / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


# -- writing ------------------------------------------------------------------------------
def save(folder: Path, model, optimizer, state: dict) -> None:
    """Write a complete checkpoint to `folder` (replacing the previous one only once it is whole)."""
    import torch
    from safetensors.torch import save_model

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(folder)
    tmp.mkdir()
    names, shapes = trained_parameters(model, optimizer)
    save_model(model, str(tmp / WEIGHTS))  # moves each tensor to the CPU; tied weights are stored once
    torch.save({"format": FORMAT, "step": int(state["step"]), "optimizer": optimizer.state_dict(),
                "rng": capture_rng(), "param_names": names,
                "param_shapes": shapes}, tmp / TRAINER)
    (tmp / STATE).write_text(json.dumps({"format": FORMAT, **state}, indent=2), encoding="utf-8")
    replace_dir(tmp, folder)


def temp_sibling(final: Path) -> Path:
    """A fresh temporary folder name next to `final`; half-written ones a crash left behind are removed."""
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # one writer per run: none of these is in use
    return final.with_name(f".{final.name}.tmp-{secrets.token_hex(3)}")


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap a fully written folder in for `final`: readers see the old or the new one, never half of one."""
    old = final.with_name(f".{final.name}.old-{secrets.token_hex(3)}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)  # only a stale copy is left if this fails; `find` prefers final


def trained_parameters(model, optimizer) -> tuple[list[str], list[list[int]]]:
    """Names and shapes of the optimizer's parameters, in its own order (its state is keyed by position)."""
    name_of = {id(p): name for name, p in model.named_parameters()}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    return [name_of.get(id(p), "") for p in params], [list(p.shape) for p in params]


# -- reading ------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    folder: Path
    state: dict  # trainer_state.json
    trainer: dict  # trainer_state.pt: optimizer, rng, param_names, param_shapes

    @property
    def weights(self) -> Path:
        return self.folder / WEIGHTS


def load(folder: Path, run_id: str = "") -> Checkpoint:
    """Read and check a checkpoint completely, changing nothing. Any damage (a missing or unreadable
    file, a state that does not add up, weights whose shapes disagree with the optimizer's) is
    FtuiError("checkpoint_corrupt", run_id, reason)."""
    import torch
    from safetensors import safe_open

    folder = Path(folder)

    def corrupt(reason: str) -> FtuiError:
        return FtuiError("checkpoint_corrupt", run_id=run_id, reason=reason)

    for name in (WEIGHTS, TRAINER, STATE):
        if not (folder / name).is_file():
            raise corrupt(f"{name} is missing")
    state = read_state(folder)
    if state is None or not all(isinstance(state.get(k), int) for k in STATE_KEYS):
        raise corrupt(f"{STATE} is unreadable or incomplete")
    try:
        # weights_only=True: tensors, lists, dicts and numbers only; a pickle that would run code is refused
        trainer = torch.load(folder / TRAINER, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever stops the safe loader, the file is not a usable state
        raise corrupt(f"{TRAINER} could not be read safely ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(trainer, dict) or any(k not in trainer for k in TRAINER_KEYS):
        raise corrupt(f"{TRAINER} is incomplete")
    if trainer["step"] != state["step"]:
        raise corrupt(f"{TRAINER} is from step {trainer['step']}, {STATE} from step {state['step']}")
    try:
        with safe_open(str(folder / WEIGHTS), framework="pt") as f:
            shapes = {key: list(f.get_slice(key).get_shape()) for key in f.keys()}
            for key in f.keys():
                f.get_tensor(key)  # reads every byte: a truncated file fails here, not mid-resume
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types; all mean "damaged"
        raise corrupt(f"{WEIGHTS} is damaged ({type(exc).__name__}: {str(exc)[:200]})") from exc
    optimizer_state = trainer["optimizer"].get("state", {}) if isinstance(trainer["optimizer"], dict) else None
    if optimizer_state is None:
        raise corrupt("the optimizer state is missing")
    for index, (name, shape) in enumerate(zip(trainer["param_names"], trainer["param_shapes"])):
        if name in shapes and shapes[name] != list(shape):
            raise corrupt(f"shape mismatch for {name}: {shapes[name]} in the weights, {list(shape)} in the optimizer")
        moment = optimizer_state.get(index, {}).get("exp_avg")
        if moment is not None and list(moment.shape) != list(shape):
            raise corrupt(f"shape mismatch for {name}: optimizer state {list(moment.shape)}, parameter {list(shape)}")
    return Checkpoint(folder=folder, state=state, trainer=trainer)


def restore(checkpoint: Checkpoint, model, optimizer, run_id: str = "") -> None:
    """Load the weights and the optimizer state into freshly built ones (RNG: see restore_rng)."""
    from safetensors.torch import load_model

    try:
        names, shapes = trained_parameters(model, optimizer)
        if names != list(checkpoint.trainer["param_names"]) or shapes != [list(s) for s in checkpoint.trainer["param_shapes"]]:
            raise ValueError("the model's trainable parameters differ from the checkpoint's")
        load_model(model, str(checkpoint.weights), strict=True, device=str(next(model.parameters()).device))
        optimizer.load_state_dict(checkpoint.trainer["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise FtuiError("checkpoint_corrupt", run_id=run_id, reason=" ".join(str(exc).split())[:300]) from exc


# -- random number generators ---------------------------------------------------------------
def capture_rng() -> dict:
    """Every global RNG the training step may draw from, as tensors and numbers (weights_only-safe)."""
    import torch

    version, mt, gauss = random.getstate()
    rng = {"python": {"version": version, "mt": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
           "torch": torch.get_rng_state()}
    try:
        import numpy as np
    except ImportError:  # numpy is optional for the loop
        np = None
    if np is not None:
        _, keys, pos, has_gauss, cached = np.random.get_state()
        rng["numpy"] = {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                        "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()  # dropout on the GPU draws from these
    return rng


def restore_rng(rng: dict) -> None:
    import torch

    py = rng["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["mt"].tolist()), py["gauss"]))
    torch.set_rng_state(rng["torch"])
    if "numpy" in rng:
        import numpy as np

        n = rng["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
    if "cuda" in rng and torch.cuda.is_available():
        states = rng["cuda"][: torch.cuda.device_count()]  # a machine with fewer GPUs restores what it has
        for device, state in enumerate(states):
            torch.cuda.set_rng_state(state, device)
