"""Getting a run ready to train: the recipe decided (engine/adapt.py), the model built on its device,
the batches made. Shared by the loop (engine/loop.py) and the LR range test (engine/lr_range.py)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ftui.config import RunConfig, TrainOptions
from ftui.engine import adapt, checkpoint, preflight
from ftui.engine.recipe import autocast_context, freeze_body, seed_everything
from ftui.engine.steps import EVAL_BATCH, UNKNOWN, logits_of
from ftui.models.catalog import ModelSource
from ftui.tasks.base import Batches, Built, HeadSplit, Task

if TYPE_CHECKING:
    from ftui.engine.loop import TrainData


def decide_recipe(config: RunConfig, task: Task, source: ModelSource, data: TrainData, device: torch.device,
                  ckpt: checkpoint.Checkpoint | None) -> tuple[TrainOptions, list[adapt.Choice]]:
    """The options with every auto value decided; a resumed run keeps the ones it started with."""
    if ckpt is not None and isinstance(ckpt.state.get("recipe"), dict):
        return dataclasses.replace(config.train, **ckpt.state["recipe"]), []
    ctx = adapt.Context(task=config.task, n_train=len(data.train_inputs), n_classes=len(data.labels),
                        device=device.type, profile=task.profile(data.train_inputs, source))
    return adapt.decide(config.train, ctx)


@dataclass
class Prepared:
    """A run ready to train: the decided options, the model on its device and the batches."""

    options: TrainOptions
    choices: list[adapt.Choice]
    built: Built
    split: HeadSplit | None  # where the head-first stage cuts the model; None: one stage
    head_only: bool  # the head-first stage is the whole run
    train_batches: Batches
    val_batches: Batches | list


def prepare(config: RunConfig, task: Task, source: ModelSource, data: TrainData, device: torch.device,
            ckpt: checkpoint.Checkpoint | None = None, ranks=None) -> Prepared:
    """Decide the recipe, build the model (on `device`) and the batches. Also what the LR range test uses.
    ranks (engine/distributed.py): an auto batch size is the global one, each GPU taking what the smallest fits."""
    opts, choices = decide_recipe(config, task, source, data, device, ckpt)
    seed_everything(opts.seed)  # before build: the new head's random init is part of the run
    built = task.build(source, data.labels, opts)
    built.model.to(device)
    split = built.split if (opts.head_first or opts.train_head_only) else None
    if opts.train_head_only and split is None:
        freeze_body(built.model, built.head)  # no exact cut: the head trains by steps on the frozen body
    label_id = {name: i for i, name in enumerate(data.labels)}
    train_ids = [label_id[y] for y in data.train_labels]
    if opts.batch_size == 0:  # auto on a GPU: the largest batch that fits with a margin
        found = _search_batch_size(task, built, data, train_ids, opts, device)
        if ranks is not None and ranks.active:
            found = ranks.smallest(found) * ranks.world
        opts = dataclasses.replace(opts, batch_size=found)
        choices.append(adapt.Choice("batch_size", opts.batch_size, "the largest that fits this GPU with a margin"))
    train_batches = task.batches(built.processor, data.train_inputs, train_ids, opts, batch_size=opts.batch_size,
                                 shuffle=True, seed=opts.seed)
    val_batches = task.batches(built.processor, data.val_inputs, [label_id.get(y, UNKNOWN) for y in data.val_labels],
                               opts, batch_size=max(EVAL_BATCH, opts.batch_size), shuffle=False) if data.val_inputs else []
    if device.type == "cuda" and hasattr(train_batches, "to"):  # decoded pictures / sound features stay on the GPU
        train_batches = train_batches.to(device)
    return Prepared(options=opts, choices=choices, built=built, split=split, train_batches=train_batches,
                    val_batches=val_batches, head_only=opts.train_head_only and split is not None)


def recipe_state(opts: TrainOptions) -> dict:
    """The decided options a resume must keep (the same batch size keeps the same steps per epoch)."""
    return {key: getattr(opts, key) for key in ("batch_size", "head_lr_multiplier", "label_smoothing", "pooling",
                                                "image_size", "freeze_batchnorm", "crop_scale", "layer_decay")}


def _search_batch_size(task: Task, built, data: TrainData, train_ids: list[int], opts: TrainOptions,
                       device: torch.device) -> int:
    """GPU, batch size on auto: one forward + backward on the b longest examples, halving on OOM."""
    model = built.model
    order = sorted(range(len(data.train_inputs)), key=lambda r: -len(str(data.train_inputs[r])))

    def try_batch(b: int) -> float | None:
        rows = order[:b]
        batches = task.batches(built.processor, [data.train_inputs[r] for r in rows], [train_ids[r] for r in rows],
                               opts, batch_size=b, shuffle=False)
        batch = {k: v.to(device) for k, v in next(iter(batches)).items()}
        targets = batch.pop("labels")
        torch.cuda.reset_peak_memory_stats(device)
        try:
            with autocast_context(device):
                loss = F.cross_entropy(logits_of(model(**batch)).float(), targets)
            loss.backward()
            return float(torch.cuda.max_memory_allocated(device))
        finally:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()

    total = torch.cuda.get_device_properties(device).total_memory
    return preflight.find_batch_size(try_batch, len(data.train_inputs), memory_total=total)
