"""Audio batches with a feature cache: each clip is decoded, resampled and turned into features once.

Decoding + resampling + log-mel extraction costs more CPU per clip than the Whisper-tiny encoder's
forward pass on a GPU (~416 clips/s of features per process against ~2,900 clips/s of compute,
ENVIRONMENT.md), so it is done once per run and every epoch reads the cached tensors.

Every clip becomes exactly one window of the model's length: longer clips are cut (the FIRST
`clip_seconds` are used; the rest is never decoded), shorter ones are padded with silence.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ftui.errors import FtuiError
from ftui.tasks.base import epoch_seed
from ftui.vocab import DEFAULT_CLIP_SECONDS

SETTINGS_FILE = "ftui_audio.json"
FEATURE_CHUNK = 64  # clips per feature-extractor call: bounded memory on long lists
# SpecAugment on the cached log-mel features (Park et al. 2019, LibriSpeech "LB" policy scaled down to
# short clips): two frequency masks of up to 10% of the bins, two time masks of up to 10% of the frames.
FREQ_MASKS, TIME_MASKS, MASK_SHARE = 2, 2, 0.10


@dataclass
class AudioPreprocessing:
    """What a backbone expects; saved with the tuned model (ftui_audio.json) so prediction matches training."""

    sampling_rate: int = 16_000
    clip_seconds: float = DEFAULT_CLIP_SECONDS
    extractor: Any = field(default=None, repr=False, compare=False)  # a transformers feature extractor

    @property
    def window_samples(self) -> int:
        return int(round(self.clip_seconds * self.sampling_rate))

    def to_dict(self) -> dict:
        return {"sampling_rate": self.sampling_rate, "clip_seconds": self.clip_seconds,
                "window_samples": self.window_samples, "mono": True, "long_clips": "the first clip_seconds are used",
                "short_clips": "padded with silence"}

    def save(self, out_dir: Path) -> None:
        self.extractor.save_pretrained(out_dir)
        (Path(out_dir) / SETTINGS_FILE).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")


def load_waveform(item: Any, sampling_rate: int, seconds: float) -> np.ndarray:
    """A file path, bytes, or (rate, samples) pair -> mono float32 at `sampling_rate`, at most `seconds` long."""
    from ftui.data.audio import AudioProblem, read_clip

    try:
        if isinstance(item, tuple) and len(item) == 2:  # (rate, samples), e.g. a microphone recording
            rate, samples = int(item[0]), np.asarray(item[1])
            samples = _mono_float(samples)[: int(rate * seconds) + 1]
        else:
            samples, rate = read_clip(item if isinstance(item, bytes) else Path(item), seconds)
    except AudioProblem as problem:
        code = "unsupported_audio" if problem.reason == "unsupported_format" else "unreadable_audio"
        raise FtuiError(code, name=_name(item), reason=problem.reason.replace("_", " ")) from None
    if rate != sampling_rate and len(samples):
        import torchaudio.functional as AF

        samples = AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), rate, sampling_rate).numpy()
    return samples[: int(round(seconds * sampling_rate))]


def _mono_float(samples: np.ndarray) -> np.ndarray:
    if samples.dtype.kind == "i":  # int16 from a microphone: scale to [-1, 1]
        samples = samples.astype(np.float32) / np.iinfo(samples.dtype).max
    samples = samples.astype(np.float32, copy=False)
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def _name(item: Any) -> str:
    return Path(item).name if isinstance(item, (str, Path)) else type(item).__name__


def features(spec: AudioPreprocessing, waveforms: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """Waveforms -> the model's input tensors, every clip padded/cut to one window."""
    window = spec.window_samples
    fixed = [np.pad(w, (0, window - len(w))) if len(w) < window else w[:window] for w in waveforms]
    try:
        out = spec.extractor(fixed, sampling_rate=spec.sampling_rate, return_tensors="pt", padding="max_length",
                             max_length=window, truncation=True)
    except TypeError:  # extractors with a fixed frame count of their own (AST) take no length arguments
        out = spec.extractor(fixed, sampling_rate=spec.sampling_rate, return_tensors="pt")
    # Only model inputs (Whisper: input_features; wav2vec2: input_values [+ attention_mask]).
    return {k: v for k, v in out.items() if k in ("input_features", "input_values", "attention_mask")}


class AudioBatches:
    """`iter()` yields the cached features in (re)shuffled batches, plus "labels" when given."""

    def __init__(self, spec: AudioPreprocessing, inputs: Sequence, label_ids: Sequence[int] | None, *,
                 batch_size: int, shuffle: bool, seed: int = 0, augment: bool = False):
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment and shuffle  # masks only on training passes, never on evaluation
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)  # own RNG: shuffling never shifts dropout
        self.labels = None if label_ids is None else torch.as_tensor(list(label_ids), dtype=torch.long)
        self.n = len(inputs)
        self.columns = self._featurise(spec, list(inputs))

    @staticmethod
    def _featurise(spec: AudioPreprocessing, inputs: list) -> dict[str, torch.Tensor]:
        chunks: list[dict[str, torch.Tensor]] = []
        for start in range(0, len(inputs), FEATURE_CHUNK):
            waves = [load_waveform(x, spec.sampling_rate, spec.clip_seconds) for x in inputs[start:start + FEATURE_CHUNK]]
            chunks.append(features(spec, waves))
        if not chunks:
            return {}
        return {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(epoch_seed(self.seed, epoch))

    def __iter__(self) -> Iterator[dict]:
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            rows = order[start:start + self.batch_size]
            batch = {key: value[rows] for key, value in self.columns.items()}
            if self.augment and "input_features" in batch:
                batch["input_features"] = spec_augment(batch["input_features"], self.generator)
            if self.labels is not None:
                batch["labels"] = self.labels[rows]
            yield batch

    def feature_pass(self, batch_size: int) -> Iterator[tuple[list[int], dict]]:
        """Every clip's cached features once, in input order, unmasked."""
        for start in range(0, self.n, batch_size):
            rows = list(range(start, min(self.n, start + batch_size)))
            batch = {key: value[start:start + len(rows)] for key, value in self.columns.items()}
            if self.labels is not None:
                batch["labels"] = self.labels[rows]
            yield rows, batch

    def to(self, device) -> AudioBatches:
        """Keep the cached features on `device` (a GPU): batches are then sliced there, with no copies."""
        self.columns = {key: value.to(device) for key, value in self.columns.items()}
        return self


def spec_augment(features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, bins, frames) log-mel features with random frequency and time bands set to each clip's mean.
    The masks come from `generator` (the batches' own, reseeded per epoch), so a resumed run replays them."""
    out = features.clone()
    batch, bins, frames = out.shape
    fill = out.mean(dim=(1, 2))
    for count, size, axis in ((FREQ_MASKS, bins, 1), (TIME_MASKS, frames, 2)):
        widest = max(1, int(size * MASK_SHARE))
        for _ in range(count):
            widths = torch.randint(0, widest + 1, (batch,), generator=generator).tolist()
            starts = [int(torch.randint(0, max(1, size - w), (1,), generator=generator)) for w in widths]
            for i, (w, s0) in enumerate(zip(widths, starts)):
                if axis == 1:
                    out[i, s0:s0 + w, :] = fill[i]
                else:
                    out[i, :, s0:s0 + w] = fill[i]
    return out
