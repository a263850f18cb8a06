"""A suggested learning rate: an LR range test on the user's own data (Smith 2017; fastai's lr_find).

The run's model is prepared as training would prepare it (prepare.prepare), its head fitted first on the
frozen features of a sample (so the sweep measures what the fine-tuning stage will meet), then real
training steps are taken with the rate growing exponentially from MIN_LR to MAX_LR; the sweep ends
early when the loss blows up or the time budget is spent.

Reading the curve: starting from a fitted head, the loss is flat and noisy at small rates, so its
minimum is mostly noise (fastai's "minimum / 10" gave 1e-7 on two of six sets here). What is sharp is
where it blows up: the first rate at which the running median of the loss rises above BLOW_UP times its
starting level. The suggestion is that rate / DIVISOR. Measured here (MiniLM on TREC and the Chinese
reviews, Whisper tiny on spoken digits): the loss blew up at 1.3e-3 to 3.5e-3, and a thirtieth of that
lands on the rates the catalog measured by grid search (5e-5 to 1e-4). Nothing is saved.
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
WINDOW = 5  # steps in the running median: one hard batch is not a blow-up
START = 0.15  # the first share of the sweep sets the starting level (at least 3 steps)
BLOW_UP = 1.5  # the loss has blown up once its running median is this many times the starting level,
NOISE = 4.0  # and this many times the starting steps' spread above it (an easy set's spiky near-zero losses),
MARGIN = 0.05  # plus this much
STOP = 4.0  # the sweep stops at STOP times what counts as blowing up
DIVISOR = 30.0  # the suggestion: the blow-up rate / DIVISOR


@dataclass
class RangeTest:
    learning_rate: float | None  # None: the curve said nothing usable (flat, or diverged at once)
    curve: list[dict]  # [{learning_rate, loss}] smoothed, in sweep order
    steps: int
    seconds: float
    ended_by: str  # "diverged" | "time" | "steps" | "data"


def sweep_rates(n: int, low: float = MIN_LR, high: float = MAX_LR) -> list[float]:
    """n rates spaced evenly in log scale from low to high (both included)."""
    if n <= 1:
        return [low]
    return [low * (high / low) ** (i / (n - 1)) for i in range(n)]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def blow_up_level(losses: list[float], n_start: int | None = None) -> float:
    """The running-median loss above which the loss has blown up: relative to the level of the sweep's
    first steps (before the rate does anything) and to their spread (a robust sigma: 1.48 x MAD)."""
    start = losses[:max(3, n_start if n_start is not None else int(len(losses) * START))]
    level = _median(start)
    noise = 1.4826 * _median([abs(x - level) for x in start])
    return max(BLOW_UP * level, level + NOISE * noise) + MARGIN


def running_median(losses: list[float]) -> list[float]:
    """The median of each step's last WINDOW losses."""
    return [_median(losses[max(0, i - WINDOW + 1):i + 1]) for i in range(len(losses))]


def suggest(curve: list[dict]) -> float | None:
    """The rate where the running-median loss first rises above BLOW_UP x its starting level (+ MARGIN),
    divided by DIVISOR; None when it never does within the sweep (nothing to read: use the catalog's)."""
    if len(curve) < 2 * WINDOW:
        return None
    raw = [point["raw_loss"] for point in curve]
    limit, smooth = blow_up_level(raw), running_median(raw)
    for i in range(WINDOW, len(curve)):
        if smooth[i] > limit:
            return max(curve[0]["learning_rate"], curve[i]["learning_rate"] / DIVISOR)
    return None


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
    curve: list[dict] = []  # {learning_rate, loss (the running median), raw_loss}
    raw: list[float] = []
    step, stopped = 0, "steps"
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
        raw.append(value)
        median = _median(raw[-WINDOW:])
        curve.append({"learning_rate": rate, "loss": median, "raw_loss": value})
        if step > 2 * WINDOW and median > STOP * blow_up_level(raw, int(len(rates) * START)):
            stopped = "diverged"
            break
        if step == 3:  # the pace is known: spread the remaining budget over the rest of the range
            per_step = (time.perf_counter() - sweep_start) / step
            room = int(max(0.0, budget_s - (time.perf_counter() - sweep_start)) / max(per_step, 1e-6))
            if room < len(rates) - step:  # not enough time for every point: coarser steps, same range
                rates = rates[:step] + sweep_rates(max(2, room), rates[step], max_lr)
    return RangeTest(learning_rate=suggest(curve), curve=curve, steps=step,
                     seconds=time.perf_counter() - started, ended_by=stopped)


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
