"""The small pieces of the loop (engine/loop.py): evaluation, when to log and evaluate, what counts as
better, and how the best model is written."""
from __future__ import annotations

import math
import threading
from pathlib import Path

import torch
import torch.nn.functional as F

from ftui.engine import checkpoint
from ftui.engine.distributed import Ranks, step_loss
from ftui.tasks.base import Task

UNKNOWN = -100  # a validation label outside the training labels: ignored by the loss, always wrong
EVAL_BATCH = 64  # evaluation keeps no activations for backward, so it can take bigger batches
AUTO_EVAL_EVERY_S = 120.0  # auto mode: about one evaluation per two minutes of training...
AUTO_MAX_EVALS = 4  # ...at most this many per epoch (the last one always at the epoch's end)


def logits_of(output) -> torch.Tensor:
    """transformers models return an output object; plain nn.Modules (image/audio) may return a tensor."""
    return output if isinstance(output, torch.Tensor) else output.logits


def auto_log_every(total_steps: int) -> int:
    """About 100 points over the run, but at least every 25 steps (step 1 is always logged too)."""
    return max(1, min(25, total_steps // 100))


def auto_evals_per_epoch(epoch_seconds: float) -> int:
    return max(1, min(AUTO_MAX_EVALS, math.ceil(epoch_seconds / AUTO_EVAL_EVERY_S)))


def eval_points(steps_per_epoch: int, n: int) -> set[int]:
    """Steps within an epoch (1-based) after which to evaluate: evenly spaced, the last at the end."""
    n = max(1, min(n, steps_per_epoch))
    return {round(k * steps_per_epoch / n) for k in range(1, n + 1)}


def improves(accuracy: float, loss: float, best: dict | None) -> bool:
    """Higher validation accuracy wins; a tie goes to the lower validation loss."""
    return best is None or accuracy > best["accuracy"] or (accuracy == best["accuracy"] and loss < best["loss"])


def export_model(task: Task, model, processor, labels: list[str], out_dir: Path) -> None:
    """task.save into a temporary sibling, then swapped in: a reader (the predictor) never sees half a model."""
    tmp = checkpoint.temp_sibling(out_dir)
    task.save(model, processor, labels, tmp)
    checkpoint.replace_dir(tmp, out_dir)


def train_step(net, model, batch: dict, device, autocast, optimizer, label_smoothing: float,
               ranks: Ranks | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One optimizer step on a global batch (with several ranks: on this rank's chunk of it, `net` being the
    DDP wrapper of `model`): (loss on the device, gradient norm before clipping, the global batch's rows)."""
    n = int(batch["labels"].shape[0])
    weight = None
    if ranks is not None and ranks.active:
        batch, weight = ranks.shard(batch)
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    targets = batch.pop("labels")
    with autocast:
        logits = logits_of(net(**batch))
        if weight is None:
            loss = F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
        else:
            loss = step_loss(logits.float(), targets, weight, label_smoothing)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).detach()  # as the HF Trainer
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach(), norm, n


@torch.inference_mode()
def evaluate(model, batches, device, autocast, cancel: threading.Event, ranks: Ranks | None = None
             ) -> tuple[float, float] | None:
    """(mean loss over known labels, accuracy over all examples); None if cancelled meanwhile. With several
    ranks each evaluates its chunk of every batch and the sums are all-reduced (every rank gets the result)."""
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)  # loss over known labels, known, correct, total
    for batch in batches:
        if cancel.is_set():
            return None
        if ranks is not None and ranks.active:
            batch = ranks.rows(batch)
            if not int(batch["labels"].shape[0]):
                continue
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        targets = batch.pop("labels")
        with autocast:
            logits = logits_of(model(**batch)).float()
        mask = targets != UNKNOWN
        if mask.any():
            sums[0] += F.cross_entropy(logits[mask], targets[mask], reduction="sum").item()
        sums[1:] += torch.tensor([int(mask.sum()), int((logits.argmax(-1) == targets).sum()), int(targets.shape[0])],
                                 dtype=torch.float64)
    if ranks is not None and ranks.active:
        sums = ranks.sum(sums.to(device)).cpu()
    loss_sum, known, correct, total = sums.tolist()
    return loss_sum / max(1, known), correct / max(1, total)
