"""The Task protocol: what the engine and the predictor need from a kind of data.

Text, image and audio implement the same five methods side by side, so the engine never knows
what an input is. A task module must be importable without torch (the web app imports it at
start-up to read uploads); heavy imports go inside the methods.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from ftui.config import DataOptions, TrainOptions
    from ftui.data.examples import Examples
    from ftui.models.catalog import ModelSource


@dataclass
class HeadSplit:
    """The model cut where the new head begins, so the head can be fitted on cached features
    (engine/head.py): in eval mode `head(features(batch))` equals the model's logits for `batch`."""

    features: Any  # callable: a batch's model inputs (no "labels") -> (B, ...) features, no grad needed
    head: Any  # torch.nn.Module holding exactly the new parameters; head(features) -> logits
    model: Any = None  # the whole model, when its memory layout may be changed for the feature pass


@dataclass
class Built:
    """A model ready to train. `head` names the parameters that are new (randomly initialised),
    which train at a higher learning rate than the pretrained body. `split`: where the head begins,
    for the head-first stage; None when the model cannot be cut exactly (then training is one stage)."""

    model: Any  # torch.nn.Module whose forward(**batch) returns logits (or an output with .logits)
    processor: Any  # tokenizer / image processor / feature extractor
    head: frozenset[str]
    split: HeadSplit | None = None


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's shuffle (and augmentation): a function of (run seed, epoch) only."""
    return int(seed) * 1_000_003 + int(epoch)


class Batches(Protocol):
    """A re-iterable sequence of batches: each `iter()` is one pass (reshuffled if shuffling).

    A batch is a dict of tensors that the model takes as keyword arguments, plus "labels"
    (class ids; -100 = not a known class) when labels were given."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]: ...

    def set_epoch(self, epoch: int) -> None:
        """Make the next `iter()` the pass of `epoch` (0-based): its order and any random augmentation
        come only from `epoch_seed(seed, epoch)` (reseed the batches' own generators with it), never
        from earlier passes. The engine calls it before every training epoch, so a run resumed
        mid-epoch replays exactly the same batches. Without shuffling it may do nothing."""
        ...

    def feature_pass(self, batch_size: int) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        """One pass over every example WITHOUT augmentation, for features of the frozen backbone: yields
        (row indices, batch); the order is the batches' choice (texts go by length: less padding)."""
        ...


class Task(Protocol):
    name: str

    def read(self, path: Path, options: DataOptions) -> Examples:
        """Rows of an upload -> inputs, labels, summary, issues (no torch needed)."""
        ...

    def profile(self, inputs: Sequence, source: ModelSource) -> dict:
        """Cheap facts about the training inputs (and the backbone) that data-aware defaults read
        (engine/adapt.py): texts: lengths; images: pixel sizes (headers only); sounds: durations."""
        ...

    def build(self, source: ModelSource, labels: list[str], options: TrainOptions) -> Built:
        """Pretrained backbone + a fresh head with len(labels) outputs (options already resolved)."""
        ...

    def batches(self, processor: Any, inputs: Sequence, label_ids: Sequence[int] | None,
                options: TrainOptions, *, batch_size: int, shuffle: bool, seed: int = 0) -> Batches:
        """Preprocess once, then batch. Without shuffling, batches keep the input order
        (prediction relies on it)."""
        ...

    def save(self, model: Any, processor: Any, labels: list[str], out_dir: Path) -> None:
        """Write the ecosystem's own format (loadable without ftui), with the label names."""
        ...

    def load(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        """Inverse of save: (model in eval mode, processor, labels)."""
        ...
