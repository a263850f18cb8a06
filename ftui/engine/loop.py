"""The training loop: plain PyTorch, one run from top to bottom, in two stages.

train(config, task, source, data, sink, cancel, out_dir) decides the recipe (engine/adapt.py), builds
the model, and then
  1. head first: computes the frozen backbone's features once and fits the new head on them
     (engine/head.py) -- the first points on the charts, and already a model that predicts;
  2. fine-tunes the whole network from that head (skipped with train_head_only),
emitting typed events to `sink` and saving the best model to `out_dir`. It knows nothing about text,
images or audio (the Task does), nor about threads or files other than out_dir and the checkpoint
folder (the JobManager does). Exceptions propagate: the caller turns them into RunFailed.

The model in out_dir is the best one by validation accuracy (a tie goes to the lower validation
loss), the head-first result included: it is written whenever an evaluation improves, so it is on disk
at once (a crash keeps it) and costs no memory; without validation data it is the last one.
With `checkpoint_dir`, the resumable state (engine/checkpoint.py) is written after the head-first
stage, at every evaluation, at the end of every epoch and on stop; `resume_from` (a loaded one)
continues with the same results as an uninterrupted run (same weights, optimizer, schedule, RNG
streams and batch order); a resumed run never repeats the head-first stage (its checkpoint holds it).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ftui.config import RunConfig, TrainOptions
from ftui.engine import adapt, checkpoint, head as head_stage, preflight
from ftui.engine.distributed import Ranks
from ftui.engine.events import EvalLogged, PreflightMeasured, RecipeChosen, RunFinished, RunStarted, StepLogged
from ftui.engine.prepare import prepare, recipe_state
from ftui.engine.recipe import (autocast_context, body_lr, build_optimizer, compile_for_gpu, set_learning_rates,
                                pick_device, set_cpu_threads)
from ftui.engine.sinks import Sink
from ftui.engine.steps import (auto_evals_per_epoch, auto_log_every, eval_points, evaluate, export_model, improves,
                               train_step)
from ftui.errors import FtuiError
from ftui.models.catalog import ModelSource
from ftui.tasks.base import Task
from ftui.vocab import RunState


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
    options: TrainOptions | None = None  # the recipe as decided (every auto value filled in)


@dataclass
class Position:
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
          resume_from: checkpoint.Checkpoint | None = None, ranks: Ranks | None = None) -> TrainResult:
    """checkpoint_dir: where the resumable state is written (None: nowhere). resume_from: a checkpoint
    already read and checked by checkpoint.load (JobManager.resume does that before queueing, so it is
    read once); a config with more epochs than the checkpoint's run is "train N more epochs". ranks: this
    process's place in a multi-GPU run (engine/distributed.py): only rank 0 writes files."""
    start = time.time()
    out_dir = Path(out_dir)
    run_id = out_dir.parent.name
    ckpt = resume_from  # checked whole before anything (the log, model/) changes
    set_cpu_threads()
    ranks = ranks or Ranks()
    device = ranks.device() if ranks.active else pick_device()
    cancel = ranks.agreed(cancel)  # a stop any rank sees stops every rank at the same step

    # -- the recipe, the model and the data ---------------------------------------------------
    p = prepare(config, task, source, data, device, ckpt, ranks)
    opts, choices, built, model, split = p.options, p.choices, p.built, p.built.model, p.split
    train_batches, val_batches, head_only = p.train_batches, p.val_batches, p.head_only
    if not head_only and compile_for_gpu(model, device, config.task):
        choices.append(adapt.Choice("compile", True, "a GPU and a few bucketed shapes: compiling pays"))
    steps_per_epoch = len(train_batches)
    total_steps = 0 if head_only else steps_per_epoch * config.epochs
    if ckpt is not None and ckpt.state["steps_per_epoch"] != steps_per_epoch:
        raise FtuiError("checkpoint_corrupt", run_id=run_id,
                        reason=f"{ckpt.state['steps_per_epoch']} steps per epoch in the checkpoint, {steps_per_epoch} now")
    optimizer = build_optimizer(model, built.head, config.learning_rate, opts)
    pos = Position()
    extended_from = None
    if ckpt is not None:
        checkpoint.restore(ckpt, model, optimizer, run_id)
        pos = Position(**{f.name: ckpt.state[f.name] for f in dataclasses.fields(Position) if f.name in ckpt.state})
        if ckpt.state["epochs"] != config.epochs:  # "train N more epochs": a fresh patience
            extended_from, pos.evals_without_improvement = ckpt.state["epochs"], 0
    set_learning_rates(optimizer, pos.step, total_steps, opts.warmup_ratio)  # a pure function of the step
    log_every = opts.log_every_steps or auto_log_every(total_steps)
    autocast = autocast_context(device)
    has_val = len(data.val_inputs) > 0
    patience = opts.early_stopping_patience if has_val else 0
    sink.emit(RunStarted(total_steps=total_steps, steps_per_epoch=steps_per_epoch, epochs=config.epochs,
                         n_train=len(data.train_inputs), n_validation=len(data.val_inputs), time=start,
                         start_step=pos.step, best=pos.best, extended_from_epochs=extended_from))
    sink.emit(RecipeChosen(options=dataclasses.asdict(opts), summary=adapt.summary(opts, choices, config.task, split is not None),
                           choices=[dataclasses.asdict(c) for c in choices]))
    if ckpt is not None:
        checkpoint.restore_rng(ckpt.trainer["rng"])  # last: nothing from here to the first step draws from them

    saved = (pos.step, pos.eval_pending) if ckpt is not None else None  # what is on disk

    def save_checkpoint() -> None:
        nonlocal saved
        if checkpoint_dir is None or head_only:
            return
        saved = (pos.step, pos.eval_pending)
        epoch, batch = (pos.epoch + 1, 0) if pos.batch >= steps_per_epoch else (pos.epoch, pos.batch)
        state = {**dataclasses.asdict(pos), "epoch": epoch, "batch": batch, "steps_per_epoch": steps_per_epoch,
                 "total_steps": total_steps, "epochs": config.epochs, "recipe": recipe_state(opts)}
        if ranks.main:
            checkpoint.save(Path(checkpoint_dir), model, optimizer, state)

    def record_eval(loss: float, accuracy: float, epoch: float, stage: str = "") -> None:
        """Log one evaluation; keep the model if it is the best so far; count towards early stopping."""
        is_best = improves(accuracy, loss, pos.best)
        if is_best:
            pos.best = {"step": pos.step, "epoch": epoch, "accuracy": accuracy, "loss": loss}
            pos.evals_without_improvement = 0
            if ranks.main:
                export_model(task, model, built.processor, data.labels, out_dir)  # before the event that says so
        else:
            pos.evals_without_improvement += 1
        sink.emit(EvalLogged(step=pos.step, epoch=epoch, loss=loss, accuracy=accuracy,
                             elapsed_s=time.time() - start, is_best=is_best, stage=stage))

    def validate() -> float | None:
        """One evaluation of the whole model; None if cancelled meanwhile (the checkpoint then says pending)."""
        result = evaluate(model, val_batches, device, autocast, cancel, ranks)
        if result is None:
            pos.eval_pending = True
            return None
        pos.eval_pending = False
        record_eval(*result, epoch=round(pos.epoch + pos.batch / steps_per_epoch, 4))
        return result[1]

    # -- stage 1: the head on the frozen backbone's features ------------------------------------
    # With several ranks every rank runs it whole, alike (the same features, a deterministic fit), and only
    # rank 0 writes; DDP's wrap below then broadcasts rank 0's head. Chosen over fitting on rank 0 and
    # broadcasting: no rank idles at a barrier, and the stage costs what it costs one process.
    last = None
    stopped = stopped_early = False
    if split is not None and ckpt is None:
        model.eval()  # frozen features: no dropout, batch norms on their pretrained statistics
        fitted = head_stage.run(split, train_batches, val_batches, len(data.train_inputs), len(data.val_inputs),
                                device, autocast, cancel, sink, seed=opts.seed)
        stopped = fitted is None
        if not stopped:
            sink.emit(StepLogged(step=0, epoch=0.0, loss=fitted.loss, learning_rate=0.0,
                                 samples_per_second=fitted.examples_per_second, elapsed_s=time.time() - start,
                                 stage="head"))
            if fitted.validation is not None:
                loss, last = fitted.validation
                record_eval(loss, last, epoch=0.0, stage="head")
            elif head_only and ranks.main:
                export_model(task, model, built.processor, data.labels, out_dir)
            save_checkpoint()  # a stop during fine-tuning resumes from the fitted head, not from scratch

    # -- stage 2: everything, from that head ----------------------------------------------------
    window_loss = torch.zeros((), device=device)  # summed on device; .item() only when logging
    window_norm = torch.zeros((), device=device)
    window_steps, window_samples, window_time = 0, 0, 0.0
    step_times: list[float] = []  # the first steps, for pre-flight
    if pos.eval_pending and has_val:  # the evaluation a stop interrupted comes first
        last = validate()
        stopped = last is None
        if not stopped:
            stopped_early = bool(patience) and pos.evals_without_improvement >= patience
            save_checkpoint()
    stopped = stopped or cancel.is_set()
    resume_epoch, resume_batch = pos.epoch, pos.batch
    net = model if head_only else ranks.wrap(model)  # DDP with several ranks: the model itself with one
    net.train()
    tick = time.perf_counter()  # step time includes batch collation, excludes evaluation
    for epoch in range(resume_epoch, 0 if head_only else config.epochs):
        if stopped or stopped_early:
            break
        skip = resume_batch if epoch == resume_epoch else 0
        pos.epoch, pos.batch = epoch, skip
        train_batches.set_epoch(epoch)  # this epoch's order comes from (seed, epoch) alone (tasks/base.py)
        evals_per_epoch = pos.evals_per_epoch
        eval_at = eval_points(steps_per_epoch, evals_per_epoch) if evals_per_epoch else {steps_per_epoch}
        for i, batch in enumerate(train_batches, start=1):
            if i <= skip:  # resuming mid-epoch: the batches done before the stop are drawn, not trained
                tick = time.perf_counter()
                continue
            if cancel.is_set():  # checked every step: a stop takes effect within one step
                stopped = True
                break
            loss, norm, n = train_step(net, model, batch, device, autocast, optimizer, opts.label_smoothing or 0.0, ranks)
            window_norm += norm
            window_loss += loss
            pos.step += 1
            set_learning_rates(optimizer, pos.step, total_steps, opts.warmup_ratio)  # the next step's
            pos.batch = i
            step = pos.step
            pos.samples += n
            window_steps += 1
            window_samples += n
            timing = len(step_times) < preflight.PREFLIGHT_STEPS
            if device.type == "cuda" and (step % log_every == 0 or step == 1 or timing):
                torch.cuda.synchronize()  # honest timing on logging and pre-flight steps only
            now = time.perf_counter()
            window_time += now - tick
            pos.train_seconds += now - tick
            if timing:
                step_times.append(now - tick)
                if len(step_times) == preflight.PREFLIGHT_STEPS or step == total_steps:
                    per_step = preflight.seconds_per_step(step_times)
                    sink.emit(PreflightMeasured(seconds_per_step=round(per_step, 4),
                                                peak_memory_mb=round(preflight.peak_memory_mb(device), 1),
                                                batch_size=opts.batch_size, device=device.type,
                                                eta_s=round(per_step * (total_steps - step), 1)))
            tick = now

            if step % log_every == 0 or step == 1 or i == steps_per_epoch:
                sink.emit(StepLogged(step=step, epoch=round(epoch + i / steps_per_epoch, 4),
                                     # GPU sync, and the ranks' mean: on logging steps only
                                     loss=ranks.sum(window_loss).item() / ranks.world / window_steps,
                                     learning_rate=body_lr(optimizer),
                                     samples_per_second=window_samples / max(window_time, 1e-9),
                                     elapsed_s=time.time() - start,
                                     grad_norm=round(window_norm.item() / window_steps, 6)))
                window_loss.zero_()
                window_norm.zero_()
                window_steps, window_samples, window_time = 0, 0, 0.0

            if pos.evals_per_epoch is None and (step == 10 or i == steps_per_epoch):
                # Auto: enough evaluations on long epochs that the validation curve moves.
                per_step = pos.train_seconds / step
                pos.evals_per_epoch = ranks.agree(auto_evals_per_epoch(per_step * steps_per_epoch))  # rank 0's timing
                eval_at = eval_points(steps_per_epoch, pos.evals_per_epoch)
            if i in eval_at and has_val:
                accuracy = validate()
                if accuracy is None:  # cancelled during evaluation
                    stopped = True
                    break
                last = accuracy
                stopped_early = bool(patience) and pos.evals_without_improvement >= patience
            if (i in eval_at and has_val) or i == steps_per_epoch:
                save_checkpoint()  # at every evaluation and at the end of every epoch
                net.train()
                tick = time.perf_counter()
            if stopped_early:
                break

    # -- save ------------------------------------------------------------------------------------
    step = pos.step
    if stopped and step > 0 and saved != (step, pos.eval_pending):
        save_checkpoint()  # a stop keeps the state at the step reached (resumable)
    # Without any evaluation the model is the last one; also on stop, what was learned so far is kept
    # (unless nothing was learned yet). With evaluations, model/ already holds the best.
    if pos.best is None and not head_only and (step > 0 or not stopped) and ranks.main:
        export_model(task, model.to("cpu").eval(), built.processor, data.labels, out_dir)
    state = RunState.STOPPED if stopped else RunState.FINISHED
    elapsed = time.time() - start
    sink.emit(RunFinished(state=state, step=step, elapsed_s=elapsed, stopped_early=stopped_early))
    best = pos.best
    return TrainResult(state=state, step=step, total_steps=total_steps,
                       best_accuracy=best["accuracy"] if best else None, last_accuracy=last, elapsed_s=elapsed,
                       train_seconds=pos.train_seconds, samples=pos.samples, stopped_early=stopped_early,
                       best=best, options=opts)
