"""Image batches with a decode cache: each picture is decoded and resized once per run.

Decoding a JPEG costs ~3-10 ms of one CPU core, more than a small CNN's forward pass per image on a
GPU, so decoding on every epoch starves training. Instead every image is decoded once into a
uint8 tensor (shorter side resized to ~1.15 x image_size, centre square kept); each epoch then only
crops/flips those tensors (cheap tensor ops). `cache=False` decodes on every pass (the bench's
baseline, and the fallback when the cache would not fit in memory).
"""
from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms.v2 import functional as TF

from ftui.errors import FtuiError
from ftui.tasks.base import epoch_seed

MAX_CACHE_BYTES = 6 * 1024**3  # beyond this, decode per pass instead of risking the host's memory
CROP_SCALE = 0.35  # smallest crop area, of the cached square (already a centre crop): milder than ImageNet's 0.08
CROP_RATIO = (3 / 4, 4 / 3)


@dataclass
class ImagePreprocessing:
    """What a backbone expects; saved with the tuned model so prediction matches training.
    Pixels are scaled to [0, 1], then (x - mean) / std: EfficientNet-Lite's x/127.5 - 1 is mean=std=0.5."""

    image_size: int = 224
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    resize_ratio: float = 1.15  # resize the shorter side to image_size * this, then centre-crop image_size
    hf_processor: Any = field(default=None, repr=False, compare=False)  # transformers models: saved alongside

    @property
    def stored_size(self) -> int:
        return int(round(self.image_size * self.resize_ratio))

    def to_dict(self) -> dict:
        raw = asdict(self)
        raw.pop("hf_processor")
        return {**raw, "mean": list(self.mean), "std": list(self.std), "resize": self.stored_size,
                "pixel_scale": "x / 255, then (x - mean) / std"}

    @classmethod
    def from_dict(cls, raw: dict) -> ImagePreprocessing:
        return cls(image_size=int(raw["image_size"]), mean=tuple(raw["mean"]), std=tuple(raw["std"]),
                   resize_ratio=float(raw.get("resize_ratio", 1.15)))


def load_square(item: Any, side: int) -> torch.Tensor:
    """A path, PIL image or HxWx3 array -> (3, side, side) uint8: shorter side to `side`, centre kept."""
    from PIL import Image

    from ftui.data.images import ImageProblem, decode, to_rgb

    try:
        if isinstance(item, Image.Image):
            picture = to_rgb(item)
        elif hasattr(item, "__array_interface__"):  # numpy array, e.g. a webcam frame
            picture = to_rgb(Image.fromarray(item))
        else:
            picture = decode(Path(item).read_bytes(), draft=side)[0]
    except ImageProblem as problem:
        raise FtuiError("unreadable_image", name=_name(item), reason=problem.reason.replace("_", " ")) from None
    except (OSError, TypeError, ValueError) as exc:
        raise FtuiError("unreadable_image", name=_name(item), reason=str(exc)[:200]) from None
    width, height = picture.size
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    picture = picture.resize(size, Image.BILINEAR, reducing_gap=3.0)  # PIL's bilinear antialiases when shrinking
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    picture = picture.crop((left, top, left + side, top + side))
    return torch.frombuffer(bytearray(picture.tobytes()), dtype=torch.uint8).view(side, side, 3).permute(2, 0, 1)


def _name(item: Any) -> str:
    return Path(item).name if isinstance(item, (str, Path)) else type(item).__name__


class ImageBatches:
    """`iter()` yields {"pixel_values": float (B, 3, S, S), "labels"?}; reshuffled and re-augmented each pass."""

    def __init__(self, spec: ImagePreprocessing, inputs: Sequence, label_ids: Sequence[int] | None, *,
                 batch_size: int, shuffle: bool, augment: bool, seed: int = 0, cache: bool = True,
                 workers: int | None = None, crop_scale: float | None = None):
        self.spec = spec
        self.inputs = list(inputs)
        self.n = len(self.inputs)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.crop_scale = (crop_scale or CROP_SCALE, 1.0)
        self.seed = seed
        self.rng = random.Random(seed)  # own RNG: crops and order never shift the model's dropout stream
        self.generator = torch.Generator().manual_seed(seed)
        self.labels = None if label_ids is None else torch.as_tensor(list(label_ids), dtype=torch.long)
        self.workers = workers or min(8, os.cpu_count() or 2)
        self.mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(spec.std).view(1, 3, 1, 1)
        side = spec.stored_size
        fits = self.n * 3 * side * side <= MAX_CACHE_BYTES
        self.cache = self._decode(range(self.n)) if cache and fits and self.n else None

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.rng.seed(epoch_seed(self.seed, epoch))
        self.generator.manual_seed(epoch_seed(self.seed, epoch))

    def __iter__(self) -> Iterator[dict]:
        order = torch.randperm(self.n, generator=self.generator).tolist() if self.shuffle else list(range(self.n))
        for start in range(0, self.n, self.batch_size):
            rows = order[start:start + self.batch_size]
            squares = self.cache[rows] if self.cache is not None else self._decode(rows)
            batch = {"pixel_values": self._finish(squares)}
            if self.labels is not None:
                batch["labels"] = self.labels[rows]
            yield batch

    def to(self, device) -> ImageBatches:
        """Keep the decoded pictures (and the crop/flip work) on `device`: on a GPU one CPU core decodes
        ~336 JPEGs/s while the GPU trains ~4,000/s, so a cache on the device keeps the input from being
        the bottleneck (ENVIRONMENT.md). Batches then come out already on the device."""
        if self.cache is not None:
            self.cache = self.cache.to(device)
            self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    def feature_pass(self, batch_size: int) -> Iterator[tuple[list[int], dict]]:
        """Every picture once, in input order, centre-cropped (never augmented)."""
        for start in range(0, self.n, batch_size):
            rows = list(range(start, min(self.n, start + batch_size)))
            squares = self.cache[rows] if self.cache is not None else self._decode(rows)
            batch = {"pixel_values": self._finish(squares, augment=False)}
            if self.labels is not None:
                batch["labels"] = self.labels[rows]
            yield rows, batch

    def _decode(self, rows) -> torch.Tensor:
        """(len(rows), 3, side, side) uint8, decoded in threads (PIL releases the GIL while decoding)."""
        rows = list(rows)
        side = self.spec.stored_size

        def load(k: int) -> torch.Tensor:
            return load_square(self.inputs[rows[k]], side)

        if len(rows) <= 1:
            squares = [load(k) for k in range(len(rows))]
        else:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                squares = list(pool.map(load, range(len(rows))))  # list(): re-raises a worker's exception here
        # stacked in the calling thread: under inference_mode (evaluation) the result must be made there
        return torch.stack(squares) if squares else torch.empty((0, 3, side, side), dtype=torch.uint8)

    def _finish(self, squares: torch.Tensor, augment: bool = True) -> torch.Tensor:
        """Crop (random resized + flip when augmenting, else centre) and normalise."""
        size = self.spec.image_size
        if augment and self.augment and self.shuffle:
            crops = [self._random_crop(square, size) for square in squares]
            pixels = torch.stack(crops)
        else:
            pixels = TF.center_crop(squares, [size, size])
        pixels = pixels.float().div_(255.0)
        return (pixels - self.mean) / self.std

    def _random_crop(self, square: torch.Tensor, size: int) -> torch.Tensor:
        side = square.shape[-1]
        area = side * side
        for _ in range(10):  # torchvision's RandomResizedCrop rule, with our own RNG
            target = area * self.rng.uniform(*self.crop_scale)
            ratio = math.exp(self.rng.uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
            w, h = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
            if 0 < w <= side and 0 < h <= side:
                top, left = self.rng.randint(0, side - h), self.rng.randint(0, side - w)
                break
        else:
            top = left = 0
            h = w = side
        crop = TF.resized_crop(square, top, left, h, w, [size, size], antialias=True)
        return crop.flip(-1) if self.rng.random() < 0.5 else crop

