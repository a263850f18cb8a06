"""Image classification: a pretrained CNN/ViT + a fresh head, behind the same Task protocol as text.

Backbones (ftui/models/catalog.py): EfficientNet-Lite0 from its PyPI packages (offline default),
torchvision ImageNet models, and transformers image-classification models. Each comes with its own
preprocessing (ImagePreprocessing: size, mean/std), which is saved with the tuned model.

Saved format (model/), loadable without ftui — see the README.md written next to the weights:
  EfficientNet / torchvision: model.safetensors + config.json (architecture, num_classes, id2label,
  preprocessing) + README.md;  transformers: save_pretrained + image processor + ftui_preprocessing.json.

The image size, batch-norm handling and augmentation are data-aware defaults (engine/adapt.py reads
`profile`: the photos' own pixel sizes, from their headers only).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ftui.config import DataOptions, TrainOptions
from ftui.errors import FtuiError
from ftui.models.build import readable_config
from ftui.models.catalog import ModelSource
from ftui.tasks.base import Built
from ftui.vocab import TaskName

PROFILE_MAX = 2000  # photos whose headers are read for the size profile (an even sample beyond that)

FORMAT = "ftui-image-classifier"
EFFICIENTNET = "efficientnet-lite0"
DEFAULT_SIZE = 224
IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
LITE = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}  # x/127.5 - 1: how EfficientNet-Lite was trained


class ImageTask:
    name = TaskName.IMAGE

    def read(self, path: Path, options: DataOptions):
        from ftui.data.images import load_image_examples  # PIL only; no torch

        return load_image_examples(path, options)

    def profile(self, inputs: Sequence, source: ModelSource) -> dict:
        """The photos' median shorter side (pixels, read from the file headers: PIL opens lazily) and the
        backbone's own input size (transformers image models accept only theirs)."""
        from PIL import Image

        step = max(1, len(inputs) // PROFILE_MAX)
        sides = []
        for item in list(inputs)[::step]:
            try:
                with Image.open(item) as picture:
                    sides.append(min(picture.size))
            except (OSError, ValueError):  # checked at upload; a file gone since is the batches' problem
                continue
        sides.sort()
        return {"n": len(inputs), "median_side": sides[len(sides) // 2] if sides else None,
                "native_size": DEFAULT_SIZE, "fixed_size": source.kind not in ("package", "torchvision")}

    def build(self, source: ModelSource, labels: list[str], options: TrainOptions) -> Built:
        from ftui.models.heads import split_at
        from ftui.models.vision import PixelModel, efficientnet, torchvision_model, transformers_model
        from ftui.tasks.image_batches import ImagePreprocessing

        size = options.image_size or DEFAULT_SIZE
        if source.kind == "package":
            net = efficientnet(len(labels), size, weights=source.location)
            model, head = PixelModel(net, EFFICIENTNET), frozenset({"net._fc.weight", "net._fc.bias"})
            spec = ImagePreprocessing(image_size=size, **LITE)
        elif source.kind == "torchvision":
            net, head_name = torchvision_model(source.location, len(labels), pretrained=True)
            model = PixelModel(net, f"torchvision:{source.location}")
            head = frozenset(f"net.{head_name}.{p}" for p in ("weight", "bias"))
            spec = ImagePreprocessing(image_size=size, **IMAGENET)
        else:  # a transformers model: hub id, cached snapshot or local folder
            model, head, spec = transformers_model(source, labels, options.image_size)
        if isinstance(model, PixelModel):
            # Small batches give noisy batch-norm statistics: keep the pretrained ones (engine/adapt.py).
            model.frozen_norms = bool(options.freeze_batchnorm)
        return Built(model=model, processor=spec, head=head, split=split_at(model, head))

    def batches(self, processor: Any, inputs: Sequence, label_ids: Sequence[int] | None,
                options: TrainOptions, *, batch_size: int, shuffle: bool, seed: int = 0):
        from ftui.tasks.image_batches import ImageBatches

        return ImageBatches(processor, inputs, label_ids, batch_size=batch_size, shuffle=shuffle,
                            augment=options.augment, seed=seed, crop_scale=options.crop_scale)

    def save(self, model: Any, processor: Any, labels: list[str], out_dir: Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        id2label = {str(i): name for i, name in enumerate(labels)}
        preprocessing = processor.to_dict()
        (out_dir / "labels.json").write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
        from ftui.models.vision import PixelModel, readme

        if isinstance(model, PixelModel):
            from safetensors.torch import save_file

            state = {k: v.detach().contiguous() for k, v in model.net.state_dict().items()}
            save_file(state, out_dir / "model.safetensors")
            config = {"format": FORMAT, "architecture": model.architecture, "num_classes": len(labels),
                      "image_size": processor.image_size, "id2label": id2label,
                      "label2id": {name: i for i, name in enumerate(labels)}, "preprocessing": preprocessing}
            (out_dir / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
            (out_dir / "README.md").write_text(readme(model.architecture), encoding="utf-8")
            return
        model.config.id2label = {i: name for i, name in enumerate(labels)}
        model.config.label2id = {name: i for i, name in enumerate(labels)}
        model.save_pretrained(out_dir)
        readable_config(out_dir)  # label names as written, not \u escapes
        if processor.hf_processor is not None:
            processor.hf_processor.save_pretrained(out_dir)
        (out_dir / "ftui_preprocessing.json").write_text(json.dumps(preprocessing, indent=2), encoding="utf-8")

    def load(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        from ftui.models.vision import PixelModel, efficientnet, load_transformers, torchvision_model
        from ftui.tasks.image_batches import ImagePreprocessing

        model_dir = Path(model_dir)
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("format") != FORMAT:
            return load_transformers(model_dir)
        from safetensors.torch import load_file

        labels = [config["id2label"][str(i)] for i in range(int(config["num_classes"]))]
        arch = str(config["architecture"])
        spec = ImagePreprocessing.from_dict(config["preprocessing"])
        if arch == EFFICIENTNET:
            net = efficientnet(len(labels), spec.image_size, weights=None)
        elif arch.startswith("torchvision:"):
            net = torchvision_model(arch.split(":", 1)[1], len(labels), pretrained=False)[0]
        else:
            raise FtuiError("model_load_failed", model=model_dir.name, reason=f"unknown architecture {arch!r}")
        try:
            net.load_state_dict(load_file(model_dir / "model.safetensors"))  # safetensors: no pickle
        except (OSError, RuntimeError) as exc:
            raise FtuiError("model_load_failed", model=model_dir.name, reason=str(exc)[:300]) from exc
        return PixelModel(net, arch).eval(), spec, labels
