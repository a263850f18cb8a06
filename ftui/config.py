"""RunConfig: one typed config, built in one place.

The API and UI pass a flat `options` dict; `RunConfig.build` sorts its keys into the parts below and
rejects unknown ones, so a typo fails loudly instead of silently training with a default.
`config.json` in a run directory is `RunConfig.to_dict()`; `from_dict` reads it back (strictly).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields

from ftui.errors import FtuiError
from ftui.vocab import MAX_EPOCHS, TASKS

POOLINGS = ("auto", "mean", "cls")
MAX_GPUS = 64


@dataclass(frozen=True)
class DataOptions:
    text_column: str | None = None  # None: detect
    label_column: str | None = None  # None: detect
    val_fraction: float = 0.2  # stratified split, used when no validation file is given
    validation_upload: str | None = None  # upload id (from inspect_dataset) of a separate validation file
    max_examples: int | None = None  # use a stratified subset of this size (quick demos)


@dataclass(frozen=True)
class TrainOptions:
    """Every setting of the recipe. None (and 0 where noted) means "auto": engine/adapt.py decides from
    the data, the model and the machine, records the choice and why, and the run shows it in one line."""

    batch_size: int = 0  # 0: auto (16 on a CPU; on a GPU the largest that fits with a margin)
    max_length: int = 128  # tokens; longer texts are truncated
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # fraction of the fine-tuning steps with a linear warm-up
    seed: int = 42
    head_lr_multiplier: float | None = None  # the new head's rate / the body's; None: auto
    log_every_steps: int = 0  # 0: about 100 points over the run
    evals_per_epoch: int = 0  # 0: once per epoch, more on long epochs
    image_size: int = 0  # images: pixels per side fed to the model; 0: auto (from the photos and the backbone)
    augment: bool = True  # images: random resized crop + flip; sounds: SpecAugment masks on the features
    crop_scale: float | None = None  # images: smallest random-crop area share (0.08-1); None: auto
    train_head_only: bool = False  # only the head-first stage: a useful model in seconds, body frozen
    head_first: bool = True  # fit the new head on the frozen backbone's features, then fine-tune everything
    pooling: str = "auto"  # texts: "mean" or "cls" (first token); auto: how the encoder was pretrained
    label_smoothing: float | None = None  # 0-0.5; None: auto
    layer_decay: float | None = None  # each block deeper than the next learns this much slower (0.5-1); None: auto
    freeze_batchnorm: bool | None = None  # images: keep the pretrained batch-norm statistics; None: auto
    clip_seconds: float = 0  # audio: seconds fed to the model (longer clips cut, shorter padded); 0: the model's own
    early_stopping_patience: int = 0  # stop after this many evaluations without a better validation score; 0: off
    gpus: int = 1  # GPUs one run trains on (DistributedDataParallel through torchrun: engine/distributed.py)


@dataclass(frozen=True)
class RunConfig:
    task: str
    model: str  # catalog id, local folder, or hub id
    upload: str  # upload id of the training file
    learning_rate: float
    epochs: int
    data: DataOptions = field(default_factory=DataOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    name: str = ""

    # -- building ---------------------------------------------------------------------
    @classmethod
    def build(cls, task: str, model: str, upload: str, learning_rate, epochs, options: dict | None) -> RunConfig:
        """From the API's arguments. Unknown option keys raise `unknown_option`."""
        options = dict(options or {})
        data_keys = {f.name for f in fields(DataOptions)}
        train_keys = {f.name for f in fields(TrainOptions)}
        unknown = sorted(set(options) - data_keys - train_keys - {"name"})
        if unknown:
            raise FtuiError("unknown_option", names=", ".join(unknown),
                            known=", ".join(sorted(data_keys | train_keys | {"name"})))
        data = DataOptions(**{k: v for k, v in options.items() if k in data_keys})
        train = TrainOptions(**{k: v for k, v in options.items() if k in train_keys})
        config = cls(task=task, model=str(model or "").strip(), upload=upload,
                     learning_rate=learning_rate, epochs=epochs, data=data, train=train,
                     name=str(options.get("name") or ""))
        return config.validated()

    def validated(self) -> RunConfig:
        """Check types and ranges; return a copy with numbers coerced (e.g. "3" epochs -> 3)."""
        if self.task not in TASKS:
            raise FtuiError("unknown_task", task=self.task, tasks=", ".join(TASKS))
        lr = _number("learning_rate", self.learning_rate)
        if lr <= 0:
            raise FtuiError("bad_learning_rate", value=self.learning_rate)
        try:
            epochs = int(self.epochs)
        except (TypeError, ValueError):
            raise FtuiError("bad_epochs", value=self.epochs, maximum=MAX_EPOCHS) from None
        if epochs != self.epochs and float(self.epochs) != epochs or not 1 <= epochs <= MAX_EPOCHS:
            raise FtuiError("bad_epochs", value=self.epochs, maximum=MAX_EPOCHS)
        d, t = self.data, self.train
        val_fraction = _number("val_fraction", d.val_fraction)
        if not 0.05 <= val_fraction <= 0.5:
            raise FtuiError("bad_option", name="val_fraction", value=d.val_fraction, reason="use 0.05 to 0.5")
        max_examples = None if d.max_examples in (None, 0, "") else _int("max_examples", d.max_examples, 10)
        data = dataclasses.replace(d, val_fraction=val_fraction, max_examples=max_examples)
        train = dataclasses.replace(
            t,
            batch_size=0 if t.batch_size in (None, "", 0) else _int("batch_size", t.batch_size, 1, 1024),
            max_length=_int("max_length", t.max_length, 8, 4096),
            weight_decay=_ranged("weight_decay", t.weight_decay, 0, 1),
            warmup_ratio=_ranged("warmup_ratio", t.warmup_ratio, 0, 0.5),
            seed=_int("seed", t.seed, 0, 2**31 - 1),
            head_lr_multiplier=_auto(_ranged, "head_lr_multiplier", t.head_lr_multiplier, 1, 1000),
            log_every_steps=_int("log_every_steps", t.log_every_steps, 0),
            evals_per_epoch=_int("evals_per_epoch", t.evals_per_epoch, 0, 100),
            image_size=0 if t.image_size in (None, "", 0) else _int("image_size", t.image_size, 32, 1024),
            augment=_flag("augment", t.augment),
            crop_scale=_auto(_ranged, "crop_scale", t.crop_scale, 0.08, 1),
            train_head_only=_flag("train_head_only", t.train_head_only),
            head_first=_flag("head_first", t.head_first),
            pooling=_choice("pooling", t.pooling, POOLINGS),
            label_smoothing=_auto(_ranged, "label_smoothing", t.label_smoothing, 0, 0.5),
            layer_decay=_auto(_ranged, "layer_decay", t.layer_decay, 0.5, 1),
            freeze_batchnorm=None if t.freeze_batchnorm in (None, "", "auto") else _flag("freeze_batchnorm", t.freeze_batchnorm),
            clip_seconds=0.0 if t.clip_seconds in (None, "", 0) else _ranged("clip_seconds", t.clip_seconds, 0.5, 30),
            early_stopping_patience=_int("early_stopping_patience", t.early_stopping_patience, 0, 1000),
            gpus=1 if t.gpus in (None, "") else _int("gpus", t.gpus, 1, MAX_GPUS),
        )
        if not self.model:
            raise FtuiError("unknown_model", model="")
        return dataclasses.replace(self, learning_rate=lr, epochs=epochs, data=data, train=train)

    # -- (de)serialising --------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> RunConfig:
        """Inverse of to_dict; unknown keys at any level raise `unknown_option`."""
        raw = dict(raw)
        _reject_unknown(cls, raw)
        data, train = dict(raw.pop("data", {})), dict(raw.pop("train", {}))
        _reject_unknown(DataOptions, data)
        _reject_unknown(TrainOptions, train)
        return cls(data=DataOptions(**data), train=TrainOptions(**train), **raw).validated()

    def options(self) -> dict:
        """The flat options dict that `build` takes (used to clone a run's settings)."""
        flat = {**dataclasses.asdict(self.data), **dataclasses.asdict(self.train)}
        if self.name:
            flat["name"] = self.name
        return flat


def _reject_unknown(kind, raw: dict) -> None:
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise FtuiError("unknown_option", names=", ".join(unknown), known=", ".join(sorted(known)))


def _number(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        if name == "learning_rate":
            raise FtuiError("bad_learning_rate", value=value)
        raise FtuiError("bad_option", name=name, value=value, reason="not a finite number")
    return number


def _auto(check, name: str, value, *bounds):
    """None (or "" / "auto" from a form) stays None: the engine decides; anything else is checked."""
    return None if value in (None, "", "auto") else check(name, value, *bounds)


def _choice(name: str, value, choices: tuple[str, ...]) -> str:
    text = str(value or "auto").strip().lower()
    if text not in choices:
        raise FtuiError("bad_option", name=name, value=value, reason=f"use one of {', '.join(choices)}")
    return text


def _flag(name: str, value) -> bool:
    """A yes/no option; JSON clients may send true/false, 0/1 or "true"/"false"."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise FtuiError("bad_option", name=name, value=value, reason="use true or false")


def _ranged(name: str, value, low: float, high: float) -> float:
    number = _number(name, value)
    if not low <= number <= high:
        raise FtuiError("bad_option", name=name, value=value, reason=f"use {low} to {high}")
    return number


def _int(name: str, value, low: int, high: int = 10**9) -> int:
    number = _number(name, value)
    if number != int(number) or not low <= number <= high:
        raise FtuiError("bad_option", name=name, value=value, reason=f"use a whole number from {low} to {high}")
    return int(number)
