"""The training loop: plain PyTorch, reads top to bottom.

train(config, task, source, data, sink, cancel, out_dir) builds the model, fine-tunes it, emits
typed events to `sink`, and saves the result to `out_dir`. It knows nothing about text, images
or audio (the Task does), nor about threads or files other than out_dir (the JobManager does).
Exceptions propagate: the caller turns them into RunFailed.
"""
from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ftui.config import RunConfig, TrainOptions
from ftui.engine.events import EvalLogged, RunFinished, RunStarted, StepLogged
from ftui.engine.sinks import Sink
from ftui.models.catalog import ModelSource
from ftui.tasks.base import Task

UNKNOWN = -100  # a validation label outside the training labels: ignored by the loss, always wrong
EVAL_BATCH = 64  # evaluation keeps no activations for backward, so it can take bigger batches
AUTO_EVAL_EVERY_S = 120.0  # auto mode: about one evaluation per two minutes of training...
AUTO_MAX_EVALS = 4  # ...at most this many per epoch (the last one always at the epoch's end)


@dataclass
class TrainData:
    labels: list[str]  # ordered label names; class id = position
    train_inputs: list
    train_labels: list[str]
    val_inputs: list
    val_labels: list[str]


@dataclass
class TrainResult:
    state: str  # "finished" | "stopped"
    step: int
    total_steps: int
    best_accuracy: float | None
    last_accuracy: float | None
    elapsed_s: float
    train_seconds: float  # time spent in training steps only (for throughput comparisons)
    samples: int  # training samples processed


def train(config: RunConfig, task: Task, source: ModelSource, data: TrainData, sink: Sink,
          cancel: threading.Event, out_dir: Path) -> TrainResult:
    opts = config.train
    start = time.time()
    steps_per_epoch = math.ceil(len(data.train_inputs) / opts.batch_size)
    total_steps = steps_per_epoch * config.epochs
    sink.emit(RunStarted(total_steps=total_steps, steps_per_epoch=steps_per_epoch, epochs=config.epochs,
                         n_train=len(data.train_inputs), n_validation=len(data.val_inputs), time=start))

    # -- model and data ------------------------------------------------------------------
    seed_everything(opts.seed)  # before build: the new head's random init is part of the run
    built = task.build(source, data.labels, opts)
    device = pick_device()
    model = built.model.to(device)
    label_id = {name: i for i, name in enumerate(data.labels)}
    train_batches = task.batches(built.processor, data.train_inputs, [label_id[y] for y in data.train_labels],
                                 opts, batch_size=opts.batch_size, shuffle=True, seed=opts.seed)
    val_batches = task.batches(built.processor, data.val_inputs, [label_id.get(y, UNKNOWN) for y in data.val_labels],
                               opts, batch_size=max(EVAL_BATCH, opts.batch_size), shuffle=False)
    optimizer = build_optimizer(model, built.head, config.learning_rate, opts)
    scheduler = build_scheduler(optimizer, total_steps, opts.warmup_ratio)
    log_every = opts.log_every_steps or auto_log_every(total_steps)
    evals_per_epoch = opts.evals_per_epoch or None  # None: decided after the first timed steps
    autocast = autocast_context(device)

    # -- train ---------------------------------------------------------------------------
    step, samples, train_seconds = 0, 0, 0.0
    best = last = None
    window_loss = torch.zeros((), device=device)  # summed on device; .item() only when logging
    window_steps, window_samples, window_time = 0, 0, 0.0
    stopped = cancel.is_set()
    model.train()
    tick = time.perf_counter()  # step time includes batch collation, excludes evaluation
    for epoch in range(config.epochs):
        if stopped:
            break
        eval_at = eval_points(steps_per_epoch, evals_per_epoch) if evals_per_epoch else {steps_per_epoch}
        for i, batch in enumerate(train_batches, start=1):
            if cancel.is_set():  # checked every step: a stop takes effect within one step
                stopped = True
                break
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            targets = batch.pop("labels")
            with autocast:
                logits = logits_of(model(**batch))
                loss = F.cross_entropy(logits.float(), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # as the HF Trainer: tames early spikes
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            window_loss += loss.detach()
            step += 1
            n = int(targets.shape[0])
            samples += n
            window_steps += 1
            window_samples += n
            if device.type == "cuda" and (step % log_every == 0 or step == 1):
                torch.cuda.synchronize()  # honest timing on logging steps only
            now = time.perf_counter()
            window_time += now - tick
            train_seconds += now - tick
            tick = now

            if step % log_every == 0 or step == 1 or i == steps_per_epoch:
                sink.emit(StepLogged(step=step, epoch=round(epoch + i / steps_per_epoch, 4),
                                     loss=window_loss.item() / window_steps,  # GPU sync: logging steps only
                                     learning_rate=body_lr(optimizer),
                                     samples_per_second=window_samples / max(window_time, 1e-9),
                                     elapsed_s=time.time() - start))
                window_loss.zero_()
                window_steps, window_samples, window_time = 0, 0, 0.0

            if evals_per_epoch is None and (step == 10 or i == steps_per_epoch):
                # Auto: enough evaluations on long epochs that the validation curve moves.
                per_step = train_seconds / step
                evals_per_epoch = auto_evals_per_epoch(per_step * steps_per_epoch)
                eval_at = eval_points(steps_per_epoch, evals_per_epoch)
            if i in eval_at and len(data.val_inputs):
                result = evaluate(model, val_batches, device, autocast, cancel)
                if result is None:  # cancelled during evaluation
                    stopped = True
                    break
                last = result[1]
                best = last if best is None else max(best, last)
                sink.emit(EvalLogged(step=step, epoch=round(epoch + i / steps_per_epoch, 4), loss=result[0],
                                     accuracy=last, elapsed_s=time.time() - start))
                model.train()
                tick = time.perf_counter()

    # -- save ----------------------------------------------------------------------------
    # Also on stop: what was learned so far is kept and usable (unless nothing was learned yet).
    if step > 0 or not stopped:
        task.save(model.to("cpu").eval(), built.processor, data.labels, Path(out_dir))
    state = "stopped" if stopped else "finished"
    elapsed = time.time() - start
    sink.emit(RunFinished(state=state, step=step, elapsed_s=elapsed))
    return TrainResult(state=state, step=step, total_steps=total_steps, best_accuracy=best, last_accuracy=last,
                       elapsed_s=elapsed, train_seconds=train_seconds, samples=samples)


# -- pieces -------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA
    try:
        import numpy as np
    except ImportError:  # numpy is optional for the loop; nothing of ours draws from it then
        return
    np.random.seed(seed % 2**32)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_context(device: torch.device):
    """bf16 autocast on GPUs that support it (no loss scaling needed); full precision on CPU,
    where bf16 autocast is slower on most processors."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def logits_of(output) -> torch.Tensor:
    """transformers models return an output object; plain nn.Modules (image/audio) may return a tensor."""
    return output if isinstance(output, torch.Tensor) else output.logits


def build_optimizer(model: torch.nn.Module, head: frozenset[str], lr: float, opts: TrainOptions):
    """AdamW, four groups: body/head x decay/no-decay.

    The new head starts random and needs a bigger step than the pretrained body (lr * multiplier);
    one large lr for everything is what collapses MiniLM to a single class. Biases and norm
    weights (1-D tensors) get no weight decay, as in BERT's original recipe.
    """
    groups = {(h, d): [] for h in (False, True) for d in (False, True)}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups[(name in head, param.ndim >= 2)].append(param)
    param_groups = []
    for (is_head, decay), params in groups.items():
        if params:
            param_groups.append({"params": params, "lr": lr * (opts.head_lr_multiplier if is_head else 1.0),
                                 "weight_decay": opts.weight_decay if decay else 0.0,
                                 "name": f"{'head' if is_head else 'body'}{'' if decay else '_no_decay'}"})
    try:
        # The fused kernel is ~10x faster than the default on CPU too (MiniLM: 0.02 s vs 0.2 s a step).
        return torch.optim.AdamW(param_groups, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # a device/dtype the fused kernel lacks: the portable version
        return torch.optim.AdamW(param_groups, lr=lr)


def body_lr(optimizer) -> float:
    """The pretrained body's current rate (the one the chart shows; the head's is a fixed multiple)."""
    groups = optimizer.param_groups
    return next((g["lr"] for g in groups if g.get("name", "").startswith("body")), groups[0]["lr"])


def build_scheduler(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warm-up over warmup_ratio of the steps, then linear decay to zero."""
    warmup = int(math.ceil(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def auto_log_every(total_steps: int) -> int:
    """About 100 points over the run, but at least every 25 steps (step 1 is always logged too)."""
    return max(1, min(25, total_steps // 100))


def auto_evals_per_epoch(epoch_seconds: float) -> int:
    return max(1, min(AUTO_MAX_EVALS, math.ceil(epoch_seconds / AUTO_EVAL_EVERY_S)))


def eval_points(steps_per_epoch: int, n: int) -> set[int]:
    """Steps within an epoch (1-based) after which to evaluate: evenly spaced, the last at the end."""
    n = max(1, min(n, steps_per_epoch))
    return {round(k * steps_per_epoch / n) for k in range(1, n + 1)}


@torch.inference_mode()
def evaluate(model, batches, device, autocast, cancel: threading.Event) -> tuple[float, float] | None:
    """(mean loss over known labels, accuracy over all examples); None if cancelled meanwhile."""
    model.eval()
    loss_sum, known, correct, total = 0.0, 0, 0, 0
    for batch in batches:
        if cancel.is_set():
            return None
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        targets = batch.pop("labels")
        with autocast:
            logits = logits_of(model(**batch)).float()
        mask = targets != UNKNOWN
        if mask.any():
            loss_sum += F.cross_entropy(logits[mask], targets[mask], reduction="sum").item()
        known += int(mask.sum())
        correct += int((logits.argmax(-1) == targets).sum())
        total += int(targets.shape[0])
    return loss_sum / max(1, known), correct / max(1, total)
