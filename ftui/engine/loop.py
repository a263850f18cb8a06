"""The training loop: plain PyTorch, reads top to bottom.

train(config, task, source, data, sink, cancel, out_dir) builds the model, fine-tunes it, emits
typed events to `sink`, and saves the result to `out_dir`. It knows nothing about text, images
or audio (the Task does), nor about threads or files other than out_dir and the checkpoint folder
(the JobManager does). Exceptions propagate: the caller turns them into RunFailed.

The model in out_dir is the best one by validation accuracy (a tie goes to the lower validation
loss): it is written whenever an evaluation improves, so it is on disk at once (a crash keeps it, a
resume needs nothing more) and costs no memory; without validation data it is the last one.
With `checkpoint_dir`, the resumable state (ftui/engine/checkpoint.py) is written at every
evaluation, at the end of every epoch and on stop; `resume_from` (a loaded one) continues with the same
results as an uninterrupted run (same weights, optimizer, schedule, RNG streams and batch order).
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ftui.config import RunConfig
from ftui.engine import checkpoint
from ftui.engine.events import EvalLogged, RunFinished, RunStarted, StepLogged
from ftui.engine.recipe import (autocast_context, body_lr, build_optimizer, build_scheduler, pick_device,
                                seed_everything)
from ftui.engine.sinks import Sink
from ftui.errors import FtuiError
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
    stopped_early: bool = False
    best: dict | None = None  # {step, epoch, accuracy, loss} of the model saved in out_dir; None: the last


@dataclass
class Progress:
    """Where training stands: what a checkpoint's trainer_state.json records (with the run's sizes)."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # the epoch in progress (0-based)...
    batch: int = 0  # ...and how many of its batches are done
    samples: int = 0
    train_seconds: float = 0.0
    best: dict | None = None  # the best evaluation so far: {step, epoch, accuracy, loss}
    evals_without_improvement: int = 0
    evals_per_epoch: int | None = None  # auto mode: decided after the first timed steps, then kept
    eval_pending: bool = False  # stopped during an evaluation: a resume runs it first


def train(config: RunConfig, task: Task, source: ModelSource, data: TrainData, sink: Sink,
          cancel: threading.Event, out_dir: Path, *, checkpoint_dir: Path | None = None,
          resume_from: checkpoint.Checkpoint | None = None) -> TrainResult:
    """checkpoint_dir: where the resumable state is written (None: nowhere). resume_from: a checkpoint
    already read and checked by checkpoint.load (JobManager.resume does that before queueing, so it is
    read once); a config with more epochs than the checkpoint's run is "train N more epochs"."""
    opts = config.train
    start = time.time()
    out_dir = Path(out_dir)
    run_id = out_dir.parent.name
    steps_per_epoch = math.ceil(len(data.train_inputs) / opts.batch_size)
    total_steps = steps_per_epoch * config.epochs
    ckpt = resume_from  # checked whole before anything (the log, model/) changes
    if ckpt is not None and ckpt.state["steps_per_epoch"] != steps_per_epoch:
        raise FtuiError("checkpoint_corrupt", run_id=run_id,
                        reason=f"{ckpt.state['steps_per_epoch']} steps per epoch in the checkpoint, {steps_per_epoch} now")
    if ckpt is None:
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
                               opts, batch_size=max(EVAL_BATCH, opts.batch_size), shuffle=False) if data.val_inputs else []
    optimizer = build_optimizer(model, built.head, config.learning_rate, opts)
    progress = Progress()
    extended_from = None
    if ckpt is not None:
        checkpoint.restore(ckpt, model, optimizer, run_id)
        progress = Progress(**{f.name: ckpt.state[f.name] for f in dataclasses.fields(Progress) if f.name in ckpt.state})
        if ckpt.state["epochs"] != config.epochs:  # "train N more epochs": a fresh patience
            extended_from, progress.evals_without_improvement = ckpt.state["epochs"], 0
    # An extension re-derives the schedule over the new total: from here on the rate is what a run
    # configured for the new total from the start would use (see build_scheduler).
    scheduler = build_scheduler(optimizer, total_steps, opts.warmup_ratio, start_step=progress.step)
    if ckpt is not None and ckpt.state["total_steps"] == total_steps:
        scheduler.load_state_dict(ckpt.trainer["scheduler"])
    log_every = opts.log_every_steps or auto_log_every(total_steps)
    autocast = autocast_context(device)
    has_val = len(data.val_inputs) > 0
    patience = opts.early_stopping_patience if has_val else 0
    if ckpt is not None:
        sink.emit(RunStarted(total_steps=total_steps, steps_per_epoch=steps_per_epoch, epochs=config.epochs,
                             n_train=len(data.train_inputs), n_validation=len(data.val_inputs), time=start,
                             start_step=progress.step, best=progress.best, extended_from_epochs=extended_from))
        checkpoint.restore_rng(ckpt.trainer["rng"])  # last: nothing from here to the first step draws from them

    saved = (progress.step, progress.eval_pending) if ckpt is not None else None  # what is on disk

    def save_checkpoint() -> None:
        nonlocal saved
        if checkpoint_dir is None:
            return
        saved = (progress.step, progress.eval_pending)
        epoch, batch = (progress.epoch + 1, 0) if progress.batch >= steps_per_epoch else (progress.epoch, progress.batch)
        state = {**dataclasses.asdict(progress), "epoch": epoch, "batch": batch, "steps_per_epoch": steps_per_epoch,
                 "total_steps": total_steps, "epochs": config.epochs}
        checkpoint.save(Path(checkpoint_dir), model, optimizer, scheduler, state)

    def validate() -> float | None:
        """One evaluation: log it, keep the model if it is the best so far, count towards early stopping.
        Returns the accuracy; None if cancelled meanwhile (the checkpoint then records it as pending)."""
        result = evaluate(model, val_batches, device, autocast, cancel)
        if result is None:
            progress.eval_pending = True
            return None
        progress.eval_pending = False
        loss, accuracy = result
        epoch = round(progress.epoch + progress.batch / steps_per_epoch, 4)
        is_best = improves(accuracy, loss, progress.best)
        if is_best:
            progress.best = {"step": progress.step, "epoch": epoch, "accuracy": accuracy, "loss": loss}
            progress.evals_without_improvement = 0
            export_model(task, model, built.processor, data.labels, out_dir)  # before the event that says so
        else:
            progress.evals_without_improvement += 1
        sink.emit(EvalLogged(step=progress.step, epoch=epoch, loss=loss, accuracy=accuracy,
                             elapsed_s=time.time() - start, is_best=is_best))
        return accuracy

    # -- train ---------------------------------------------------------------------------
    last = None
    stopped = stopped_early = False
    window_loss = torch.zeros((), device=device)  # summed on device; .item() only when logging
    window_steps, window_samples, window_time = 0, 0, 0.0
    if progress.eval_pending and has_val:  # the evaluation a stop interrupted comes first
        last = validate()
        stopped = last is None
        if not stopped:
            stopped_early = bool(patience) and progress.evals_without_improvement >= patience
            save_checkpoint()
    stopped = stopped or cancel.is_set()
    resume_epoch, resume_batch = progress.epoch, progress.batch
    model.train()
    tick = time.perf_counter()  # step time includes batch collation, excludes evaluation
    for epoch in range(resume_epoch, config.epochs):
        if stopped or stopped_early:
            break
        skip = resume_batch if epoch == resume_epoch else 0
        progress.epoch, progress.batch = epoch, skip
        train_batches.set_epoch(epoch)  # this epoch's order comes from (seed, epoch) alone (tasks/base.py)
        evals_per_epoch = progress.evals_per_epoch
        eval_at = eval_points(steps_per_epoch, evals_per_epoch) if evals_per_epoch else {steps_per_epoch}
        for i, batch in enumerate(train_batches, start=1):
            if i <= skip:  # resuming mid-epoch: the batches done before the stop are drawn, not trained
                tick = time.perf_counter()
                continue
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
            progress.step += 1
            progress.batch = i
            step = progress.step
            n = int(targets.shape[0])
            progress.samples += n
            window_steps += 1
            window_samples += n
            if device.type == "cuda" and (step % log_every == 0 or step == 1):
                torch.cuda.synchronize()  # honest timing on logging steps only
            now = time.perf_counter()
            window_time += now - tick
            progress.train_seconds += now - tick
            tick = now

            if step % log_every == 0 or step == 1 or i == steps_per_epoch:
                sink.emit(StepLogged(step=step, epoch=round(epoch + i / steps_per_epoch, 4),
                                     loss=window_loss.item() / window_steps,  # GPU sync: logging steps only
                                     learning_rate=body_lr(optimizer),
                                     samples_per_second=window_samples / max(window_time, 1e-9),
                                     elapsed_s=time.time() - start))
                window_loss.zero_()
                window_steps, window_samples, window_time = 0, 0, 0.0

            if progress.evals_per_epoch is None and (step == 10 or i == steps_per_epoch):
                # Auto: enough evaluations on long epochs that the validation curve moves.
                per_step = progress.train_seconds / step
                progress.evals_per_epoch = auto_evals_per_epoch(per_step * steps_per_epoch)
                eval_at = eval_points(steps_per_epoch, progress.evals_per_epoch)
            if i in eval_at and has_val:
                accuracy = validate()
                if accuracy is None:  # cancelled during evaluation
                    stopped = True
                    break
                last = accuracy
                stopped_early = bool(patience) and progress.evals_without_improvement >= patience
            if (i in eval_at and has_val) or i == steps_per_epoch:
                save_checkpoint()  # at every evaluation and at the end of every epoch
                model.train()
                tick = time.perf_counter()
            if stopped_early:
                break

    # -- save ----------------------------------------------------------------------------
    step = progress.step
    if stopped and step > 0 and saved != (step, progress.eval_pending):
        save_checkpoint()  # a stop keeps the state at the step reached (resumable)
    # Without any evaluation the model is the last one; also on stop, what was learned so far is kept
    # (unless nothing was learned yet). With evaluations, model/ already holds the best.
    if progress.best is None and (step > 0 or not stopped):
        export_model(task, model.to("cpu").eval(), built.processor, data.labels, out_dir)
    state = "stopped" if stopped else "finished"
    elapsed = time.time() - start
    sink.emit(RunFinished(state=state, step=step, elapsed_s=elapsed, stopped_early=stopped_early))
    best = progress.best
    return TrainResult(state=state, step=step, total_steps=total_steps,
                       best_accuracy=best["accuracy"] if best else None, last_accuracy=last, elapsed_s=elapsed,
                       train_seconds=progress.train_seconds, samples=progress.samples, stopped_early=stopped_early,
                       best=best)


# -- pieces -------------------------------------------------------------------------------
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
