"""Data-aware defaults: every option left on "auto" is decided here, from the data's profile, the model
and the machine, with the reason in words. Pure functions (no torch): unit-testable and readable.

Each rule carries the measurement that justified it (bench/quality.py and the closing notes of the
adaptive fine-tuning issue); change a rule only with a new measurement.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ftui.config import TrainOptions
from ftui.vocab import TaskName

CPU_BATCH = 16  # on a CPU larger batches gain little per sample and cost steps (fewer updates per epoch)
# Below this many pictures per batch, batch-norm statistics are too noisy to update. Measured at batch 16
# (EfficientNet-Lite0, ants/bees at 128 px, 3 epochs): updating them beat keeping them, 0.876 vs 0.863
# test accuracy with 244 photos and 0.889 vs 0.830 with 40.
SMALL_BATCH_BN = 8
LAYER_DECAY = 1.0  # layer-wise rate decay: off (see the closing note of the adaptive issue for the measurement)


@dataclass(frozen=True)
class Choice:
    name: str
    value: Any
    why: str


@dataclass(frozen=True)
class Context:
    """What the decisions read."""

    task: str
    n_train: int
    n_classes: int
    device: str  # "cpu" | "cuda"
    profile: dict  # Task.profile of the training inputs (images: also native_size, fixed_size)


def decide(options: TrainOptions, ctx: Context) -> tuple[TrainOptions, list[Choice]]:
    """(options with every auto value filled in, the choices made). Values the user set are kept."""
    choices: list[Choice] = []

    def choose(name: str, value: Any, why: str) -> None:
        choices.append(Choice(name, value, why))

    o = options
    if o.batch_size == 0 and ctx.device != "cuda":
        choose("batch_size", CPU_BATCH, "a CPU gains little per example from larger batches")
    if o.head_lr_multiplier is None:
        if o.head_first and not o.train_head_only:
            choose("head_lr_multiplier", 1.0, "the head starts fitted, so it learns at the body's rate")
        else:
            choose("head_lr_multiplier", 10.0, "a random head needs larger steps than the pretrained body")
    if o.label_smoothing is None:
        # Off: 0.1 measured no better on TREC-6 (0.956 vs 0.950, 2,000 questions: one or two answers), and it
        # raises every fine-tuned model's validation loss, which decides ties with the head fitted first.
        choose("label_smoothing", 0.0, "measured no better; it would skew the choice of the saved model")
    if o.layer_decay is None:
        choose("layer_decay", LAYER_DECAY, "every block at the same rate" if LAYER_DECAY == 1 else "lower blocks slower")
    if ctx.task == TaskName.TEXT and o.pooling == "auto":
        from ftui.models.text_classifier import DEFAULT_POOLING  # torch at import: only when deciding a text run

        choose("pooling", DEFAULT_POOLING, "as sentence encoders are pretrained")
    if ctx.task == TaskName.IMAGE:
        _decide_image(o, ctx, choose)
    resolved = dataclasses.replace(o, **{c.name: c.value for c in choices})
    return resolved, choices


def _decide_image(o: TrainOptions, ctx: Context, choose) -> None:
    if o.image_size == 0:
        # The backbone's own size, also for smaller photos: upscaling 128-px photos to 224 px measurably
        # pays (ants/bees, EfficientNet-Lite0, head on frozen features: 0.92 vs 0.86 test accuracy with 244
        # photos, 0.90 vs 0.87 with 40), at three times the compute per picture.
        native, side = int(ctx.profile.get("native_size") or 224), ctx.profile.get("median_side")
        why = "the backbone's own size"
        if side and side < native and not ctx.profile.get("fixed_size"):
            why += f"; the photos' {side} px are upscaled, which scored higher than keeping them"
        choose("image_size", native, why)
    if o.freeze_batchnorm is None:
        batch = o.batch_size or CPU_BATCH
        freeze = batch < SMALL_BATCH_BN
        choose("freeze_batchnorm", freeze,
               f"batches of {batch} give noisy statistics" if freeze else "batches are large enough")
    if o.crop_scale is None:
        choose("crop_scale", 0.35, "random crops of at least 35% of the picture")


def summary(options: TrainOptions, choices: list[Choice], task: str, split_available: bool) -> str:
    """One short line for the Train tab: the recipe, then each setting that was decided (the reasons are
    in `choices`, which status.json and run_status carry)."""
    if options.train_head_only:
        return "head only, on frozen features" if split_available else "head only (body frozen)"
    recipe = "head first, then everything" if options.head_first and split_available else "everything from the start"
    words = {"batch_size": lambda v: f"batch {v}", "head_lr_multiplier": lambda v: f"head rate ×{v:g}",
             "label_smoothing": lambda v: f"label smoothing {v:g}" if v else None,
             "pooling": lambda v: f"{v} pooling", "image_size": lambda v: f"{v} px",
             "freeze_batchnorm": lambda v: "batch-norm statistics kept" if v else "batch-norm statistics updated",
             "crop_scale": lambda v: f"crops ≥ {v:.0%}", "compile": lambda v: "compiled"}
    parts = (words[c.name](c.value) for c in choices if c.name in words)
    return " · ".join([recipe, *(part for part in parts if part)])
