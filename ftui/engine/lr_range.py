"""A suggested learning rate: an LR range test on the user's own data (Smith 2017; fastai's lr_find).

The run's model is prepared as training would prepare it (loop.prepare), its head fitted first on the
frozen features of a sample (so the sweep measures what the fine-tuning stage will meet), then real
training steps are taken with the rate growing exponentially from MIN_LR to MAX_LR, recording the
smoothed loss; the sweep ends early when the loss diverges or the time budget is spent. The suggestion
is the rate at the lowest smoothed loss divided by SAFETY (fastai's "lr_min"), within the sweep.
Nothing is saved: the model is thrown away afterwards.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ftui.engine import head as head_stage
from ftui.engine.recipe import autocast_context, build_optimizer, pick_device, set_cpu_threads
from ftui.engine.steps import logits_of

MIN_LR, MAX_LR = 1e-7, 1e-1
MAX_STEPS = 100
TIME_BUDGET_S = 25.0  # the sweep's own steps (model loading and the head fit come on top: ~30 s in all)
HEAD_SAMPLE = 256  # training examples the head is fitted on before the sweep...
SWEEP_SAMPLE = 1600  # ...and others the sweep trains on (the head's own would show a memorised, tiny loss)
SMOOTHING = 0.9  # exponential moving average of the loss, bias-corrected (as fastai)
DIVERGED = 4.0  # stop once the smoothed loss is this many times its minimum
SAFETY = 10.0  # the suggestion: a tenth of the rate at the minimum (the minimum itself is already too hot)


@dataclass
class RangeTest:
    learning_rate: float | None  # None: the curve said nothing usable (flat, or diverged at once)
    curve: list[dict]  # [{learning_rate, loss}] smoothed, in sweep order
    steps: int
    seconds: float
    stopped: str  # "diverged" | "time" | "steps" | "data"


def sweep_rates(n: int, low: float = MIN_LR, high: float = MAX_LR) -> list[float]:
    """n rates spaced evenly in log scale from low to high (both included)."""
    if n <= 1:
        return [low]
    return [low * (high / low) ** (i / (n - 1)) for i in range(n)]


def suggest(curve: list[dict]) -> float | None:
    """The rate at the smoothed loss's minimum, divided by SAFETY; None when the loss never fell below its
    start by 1% (nothing to read) or the minimum is at the sweep's first point."""
    if len(curve) < 5:
        return None
    losses = [point["loss"] for point in curve]
    low = min(range(len(losses)), key=losses.__getitem__)
    if low == 0 or losses[low] > 0.99 * losses[0]:
        return None
    return max(curve[0]["learning_rate"], curve[low]["learning_rate"] / SAFETY)


def range_test(config, task, source, data, cancel: threading.Event | None = None, *,
               budget_s: float = TIME_BUDGET_S, max_steps: int = MAX_STEPS, max_lr: float = MAX_LR) -> RangeTest:
    """Sweep on `data` (a loop.TrainData; only its training part is used) with the config's recipe."""
    from ftui.engine.prepare import prepare

    cancel = cancel or threading.Event()
    started = time.perf_counter()
    set_cpu_threads()
    device = pick_device()
    data = _sample(data, config.train.seed)
    p = prepare(config, task, source, data, device)
    model, opts = p.built.model, p.options
    autocast = autocast_context(device)
    if p.split is not None and p.val_batches:  # fine-tuning starts from a fitted head: so does the sweep
        model.eval()  # frozen features: no dropout, batch norms on their pretrained statistics
        features = head_stage.extract(p.split, p.val_batches, len(data.val_inputs), device, autocast, cancel)
        if features is not None:
            head_stage.fit(p.split.head, features, seed=opts.seed)
    optimizer = build_optimizer(model, p.built.head, 1.0, opts)  # rates are set per step below (x multiplier)
    base = [group["lr"] for group in optimizer.param_groups]
    rates = sweep_rates(max_steps, MIN_LR, max_lr)
    curve: list[dict] = []
    average, best, step, stopped = 0.0, math.inf, 0, "steps"
    model.train()
    batches = iter(_forever(p.train_batches))
    sweep_start = time.perf_counter()
    while step < len(rates):
        if cancel.is_set() or time.perf_counter() - sweep_start > budget_s:
            stopped = "time"
            break
        rate = rates[step]
        for group, multiple in zip(optimizer.param_groups, base):
            group["lr"] = rate * multiple
        batch = {k: v.to(device) for k, v in next(batches).items()}
        targets = batch.pop("labels")
        with autocast:
            loss = F.cross_entropy(logits_of(model(**batch)).float(), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # as the loop: the sweep meets what training meets
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        value = loss.item()
        if not math.isfinite(value):
            stopped = "diverged"
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        smoothed = average / (1 - SMOOTHING ** step)
        curve.append({"learning_rate": rate, "loss": smoothed})
        best = min(best, smoothed)
        if step > 5 and smoothed > DIVERGED * best:
            stopped = "diverged"
            break
        if step == 3:  # the pace is known: spread the remaining budget over the rest of the range
            per_step = (time.perf_counter() - sweep_start) / step
            room = int(max(0.0, budget_s - (time.perf_counter() - sweep_start)) / max(per_step, 1e-6))
            if room < len(rates) - step:  # not enough time for every point: coarser steps, same range
                rates = rates[:step] + sweep_rates(max(2, room), rates[step], max_lr)
    return RangeTest(learning_rate=suggest(curve), curve=curve, steps=step,
                     seconds=time.perf_counter() - started, stopped=stopped)


def _forever(batches):
    epoch = 0
    while True:
        batches.set_epoch(epoch)
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            return
        epoch += 1


def _sample(data, seed: int):
    """TrainData whose "validation" part is the head's sample and whose training part the sweep's: disjoint,
    stratified draws from the training examples (they overlap only when there are too few)."""
    from ftui.data.split import split_examples
    from ftui.engine.loop import TrainData

    labels, n = data.train_labels, len(data.train_inputs)
    if n >= 2 * HEAD_SAMPLE:
        sweep, head = split_examples(labels, HEAD_SAMPLE / n, seed, min(n, HEAD_SAMPLE + SWEEP_SAMPLE))
    else:
        sweep = head = list(range(n))

    def take(rows):
        return [data.train_inputs[i] for i in rows], [labels[i] for i in rows]

    return TrainData(data.labels, *take(sweep), *take(head))
