"""The head-first stage: the frozen backbone's features, computed once, and the new head fitted on them.

Linear probing then fine-tuning (LP-FT, Kumar et al. 2022): a head fitted on frozen features gives a
useful model in seconds (one forward pass over the data, no augmentation), and fine-tuning from that
head distorts the pretrained features less than fine-tuning from a random one. The fit is a full-batch
L-BFGS on cross-entropy with an L2 penalty on the head's weights (a multinomial logistic regression
when the head is one Linear), its strength chosen on a held-out fifth of the training features.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ftui.tasks.base import HeadSplit

FEATURE_BATCH = 64  # no activations are kept for backward, so bigger batches than training's
# Inverse L2 strengths tried (scikit-learn's C: penalty 1 / (2 C N) on the summed loss). On MiniLM
# features C=1..10 won on SMS and 0.1 on TREC (logistic regressions, 1,000 texts): the grid spans both.
C_GRID = (0.1, 1.0, 10.0, 100.0)
MAX_ITER = 150
HOLDOUT = 0.2


@dataclass
class Features:
    x: torch.Tensor  # (N, ...) on the CPU, float32
    y: torch.Tensor  # (N,) class ids (-100: a label the run does not know)


@dataclass
class HeadFit:
    loss: float  # training cross-entropy of the fitted head
    accuracy: float  # training accuracy of the fitted head
    c: float  # the chosen inverse L2 strength
    seconds: float
    validation: tuple[float, float] | None = None  # (loss, accuracy) on the validation features (run only)
    examples_per_second: float = 0.0  # through the frozen backbone (run only)


def run(split: HeadSplit, train_batches, val_batches, n_train: int, n_val: int, device, autocast,
        cancel: threading.Event, sink, *, seed: int) -> HeadFit | None:
    """The whole stage: features of the training and validation examples (progress to `sink` as
    StageProgress events), the head fitted on the training ones and scored on the validation ones.
    None if cancelled. The model must be in eval mode."""
    from ftui.engine.events import StageProgress

    started = time.perf_counter()
    total = n_train + n_val

    def report(offset: int):
        return lambda done, _: sink.emit(StageProgress(stage="features", done=offset + done, total=total))

    train = extract(split, train_batches, n_train, device, autocast, cancel, report(0))
    val = extract(split, val_batches, n_val, device, autocast, cancel, report(n_train)) if n_val else None
    if train is None or (n_val and val is None):
        return None
    seconds = time.perf_counter() - started
    fitted = fit(split.head, train, seed=seed)
    fitted.examples_per_second = total / max(seconds, 1e-9)
    fitted.validation = score(split.head, val) if val is not None else None
    return fitted


@torch.inference_mode()
def extract(split: HeadSplit, batches, n: int, device: torch.device, autocast, cancel: threading.Event,
            progress: Callable[[int, int], None] | None = None) -> Features | None:
    """Features of every example of `batches` (a Batches with feature_pass), in input order; None if
    cancelled meanwhile. progress(done, total) after each batch. The model must be in eval mode (the
    caller's job: dropout or batch statistics would make the features noise)."""
    xs: list[torch.Tensor | None] = [None] * n
    ys = torch.full((n,), -100, dtype=torch.long)
    done = 0
    with _channels_last(split.model) as layout:
        for rows, batch in batches.feature_pass(FEATURE_BATCH):
            if cancel.is_set():
                return None
            labels = batch.pop("labels", None)
            batch = {k: v.to(device, non_blocking=True, **layout(v)) for k, v in batch.items()}
            with autocast:
                out = split.features(batch)
            out = out.float().cpu()
            for i, row in enumerate(rows):
                xs[row] = out[i]
            if labels is not None:
                ys[torch.as_tensor(rows)] = labels.cpu()
            done += len(rows)
            if progress is not None:
                progress(done, n)
    if not n:
        return Features(torch.empty(0), ys)
    return Features(torch.stack(xs), ys)


@contextlib.contextmanager
def _channels_last(model: torch.nn.Module | None):
    """A CNN's frozen pass in channels-last layout, back to the usual layout after (the fine-tuning
    stage and the saved weights expect it). Measured on this 2-core CPU, EfficientNet-Lite0 at 224 px,
    batch 64, with other work on the cores: 137 -> 94 ms a photo (oneDNN's depthwise convolutions prefer
    it). Yields layout(tensor) ->
    the .to() keywords for one input: channels-last for 4-D pictures, nothing for the rest."""
    convolutional = model is not None and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    if not convolutional:
        yield lambda tensor: {}
        return
    with torch.inference_mode(False):  # weights made in inference mode could not be trained afterwards
        model.to(memory_format=torch.channels_last)
    try:
        yield lambda tensor: {"memory_format": torch.channels_last} if tensor.dim() == 4 else {}
    finally:
        with torch.inference_mode(False):
            model.to(memory_format=torch.contiguous_format)


def fit(head: torch.nn.Module, train: Features, *, seed: int, label_smoothing: float = 0.0) -> HeadFit:
    """Fit `head` in place on the training features: the L2 strength with the best held-out accuracy
    (ties: lower held-out loss), then refitted on all of them."""
    started = time.perf_counter()
    device = next(head.parameters()).device
    known = train.y >= 0
    x, y = train.x[known].to(device), train.y[known].to(device)
    initial = {k: v.detach().clone() for k, v in head.state_dict().items()}
    best_c = C_GRID[len(C_GRID) // 2]
    fit_idx, hold_idx = _holdout(y, seed)
    if len(hold_idx) and len(fit_idx):
        scores = []
        for c in C_GRID:
            head.load_state_dict(initial)
            _lbfgs(head, x[fit_idx], y[fit_idx], c, label_smoothing)
            with torch.no_grad():
                logits = head(x[hold_idx]).float()
            accuracy = (logits.argmax(-1) == y[hold_idx]).float().mean().item()
            scores.append((-accuracy, F.cross_entropy(logits, y[hold_idx]).item(), c))
        best_c = min(scores)[2]
    head.load_state_dict(initial)
    loss = _lbfgs(head, x, y, best_c, label_smoothing)
    with torch.no_grad():
        accuracy = (head(x).argmax(-1) == y).float().mean().item() if len(y) else 0.0
    return HeadFit(loss=loss, accuracy=accuracy, c=best_c, seconds=time.perf_counter() - started)


@torch.no_grad()
def score(head: torch.nn.Module, features: Features) -> tuple[float, float]:
    """(mean loss over known labels, accuracy over all) of the head on cached features; as loop.evaluate."""
    if not len(features.y):
        return 0.0, 0.0
    head.train(False)
    device = next(head.parameters()).device
    x, y = features.x.to(device), features.y.to(device)
    logits = head(x).float()
    known = y >= 0
    loss = F.cross_entropy(logits[known], y[known]).item() if known.any() else 0.0
    return loss, (logits.argmax(-1) == y).float().mean().item()


def _lbfgs(head: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, c: float, label_smoothing: float) -> float:
    """Full-batch L-BFGS on mean cross-entropy + (1 / (2 C N)) * sum of squared weights (not biases)."""
    head.train(False)  # dropout inside a head stays off: the fit is deterministic
    params = [p for p in head.parameters() if p.requires_grad]
    weights = [p for p in params if p.ndim >= 2]
    strength = 1.0 / (c * max(1, len(y)))
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=MAX_ITER, history_size=20,
                                  tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")
    with torch.enable_grad():
        def closure():
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(head(x).float(), y, label_smoothing=label_smoothing)
            loss = loss + 0.5 * strength * sum((w * w).sum() for w in weights)
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            final = F.cross_entropy(head(x).float(), y).item()
    return final if math.isfinite(final) else float("nan")


def _holdout(y: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A stratified fifth of the rows to choose the L2 strength on (every class keeps one to fit on)."""
    generator = torch.Generator().manual_seed(seed)
    fit_rows, hold_rows = [], []
    y = y.cpu()
    for label in torch.unique(y).tolist():
        rows = (y == label).nonzero().flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        k = int(len(rows) * HOLDOUT) if len(rows) >= 5 else 0
        hold_rows.append(rows[:k])
        fit_rows.append(rows[k:])
    return torch.cat(fit_rows), torch.cat(hold_rows)
