"""Image backbones with a fresh head: EfficientNet-Lite0 (packaged), torchvision, transformers.

Imported only by the image task's build/save/load (it imports torch). Safety: the packaged .pth
is read with torch.load(weights_only=True), tuned weights are safetensors, and transformers models
never run remote code.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn

from ftui.errors import FtuiError
from ftui.models.catalog import ModelSource


class PixelModel(nn.Module):
    """forward(pixel_values) -> logits, the keyword transformers image models use, so one batch format
    serves every backbone. With `frozen_norms`, batch-norm layers stay in eval mode while training:
    a frozen body must not drift its pretrained statistics (head-only training)."""

    def __init__(self, net: nn.Module, architecture: str):
        super().__init__()
        self.net = net
        self.architecture = architecture
        self.frozen_norms = False

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.frozen_norms:
            for module in self.net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


def efficientnet(num_classes: int, image_size: int, weights: str | None) -> nn.Module:
    """EfficientNet-Lite0 for `image_size` (its 'same' padding is computed for a fixed size)."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes, image_size=image_size)
    if weights:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        for key in ("_fc.weight", "_fc.bias"):  # ImageNet's 1000-class head; ours is new
            state.pop(key, None)
        result = net.load_state_dict(state, strict=False)
        if set(result.missing_keys) != {"_fc.weight", "_fc.bias"} or result.unexpected_keys:
            raise FtuiError("model_load_failed", model="efficientnet-lite0",
                            reason=f"weights do not fit: {result.missing_keys[:3]} {result.unexpected_keys[:3]}")
    return net


def torchvision_model(name: str, num_classes: int, pretrained: bool) -> tuple[nn.Module, str]:
    """(model, dotted name of its new last Linear). Pretrained: ImageNet weights, then the last Linear
    is replaced; not pretrained: torchvision builds the same shape with num_classes directly, which
    is how a saved model is re-created without ftui."""
    import torchvision

    if not pretrained:
        net = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
        return net, _last_linear(net)[0]
    try:
        net = torchvision.models.get_model(name, weights="DEFAULT")
    except (OSError, RuntimeError, ValueError) as exc:  # download failed or a broken cache file
        raise FtuiError("model_load_failed", model=name, reason=str(exc)[:300]) from exc
    head_name, old = _last_linear(net)
    parent = net.get_submodule(head_name.rsplit(".", 1)[0]) if "." in head_name else net
    setattr(parent, head_name.rsplit(".", 1)[-1], nn.Linear(old.in_features, num_classes))
    return net, head_name


def _last_linear(net: nn.Module) -> tuple[str, nn.Linear]:
    linears = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise FtuiError("model_load_failed", model=type(net).__name__, reason="no final linear layer")
    return linears[-1]


def transformers_model(source: ModelSource, labels: list[str], image_size: int):
    """(model, new parameter names, preprocessing) for a transformers image classifier."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from ftui.models.build import build_classifier, load_processor

    processor = load_processor(AutoImageProcessor, source)
    model, head = build_classifier(AutoModelForImageClassification, source, labels)
    fixed = getattr(model.config, "image_size", None)
    if isinstance(fixed, int) and fixed > 0:
        image_size = fixed  # ViT-like models have position embeddings for exactly this size
    return model, head, preprocessing_of(processor, image_size)


def load_transformers(model_dir: Path):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from ftui.models.build import load_processor, load_tuned
    from ftui.tasks.image_batches import ImagePreprocessing

    model, labels = load_tuned(AutoModelForImageClassification, model_dir)
    processor = load_processor(AutoImageProcessor, model_dir)
    saved = Path(model_dir) / "ftui_preprocessing.json"
    if saved.is_file():
        spec = ImagePreprocessing.from_dict(json.loads(saved.read_text(encoding="utf-8")))
        spec.hf_processor = processor
    else:
        spec = preprocessing_of(processor, 0)
    return model, spec, labels


def preprocessing_of(processor, image_size: int):
    """The transformers image processor's size and mean/std as our ImagePreprocessing."""
    from ftui.tasks.image_batches import ImagePreprocessing

    # crop_size only counts when the processor crops (transformers gives every processor a default one)
    cropped = getattr(processor, "do_center_crop", False) and getattr(processor, "crop_size", None)
    size = cropped or getattr(processor, "size", None) or {}
    native = size.get("height") or size.get("shortest_edge") or 224 if isinstance(size, dict) else 224
    normalize = getattr(processor, "do_normalize", True)
    mean = tuple(processor.image_mean) if normalize else (0.0, 0.0, 0.0)
    std = tuple(processor.image_std) if normalize else (1.0, 1.0, 1.0)
    return ImagePreprocessing(image_size=image_size or int(native), mean=mean, std=std, hf_processor=processor)


def readme(architecture: str) -> str:
    """How to use the saved model with plain torch (no ftui)."""
    if architecture == "efficientnet-lite0":
        build = ("from efficientnet_lite_pytorch import EfficientNet  # pip install efficientnet-lite-pytorch\n"
                 "net = EfficientNet.from_name(\"efficientnet-lite0\", num_classes=cfg[\"num_classes\"],\n"
                 "                             image_size=cfg[\"image_size\"])")
    else:
        name = architecture.split(":", 1)[1]
        build = f"net = torchvision.models.get_model(\"{name}\", weights=None, num_classes=cfg[\"num_classes\"])"
    return f"""# Tuned image classifier ({architecture})

Load and predict with plain PyTorch (run from the folder above `model/`):

```python
import json, torch, torchvision
from PIL import Image
from safetensors.torch import load_file
import torchvision.transforms as T
cfg = json.load(open("model/config.json")); p = cfg["preprocessing"]
{build}
net.load_state_dict(load_file("model/model.safetensors")); net.eval()
prep = T.Compose([T.Resize(p["resize"]), T.CenterCrop(p["image_size"]), T.ToTensor(), T.Normalize(p["mean"], p["std"])])
x = prep(Image.open("photo.jpg").convert("RGB")).unsqueeze(0)
with torch.no_grad():
    probs = net(x).softmax(-1)[0]
print({{cfg["id2label"][str(i)]: round(float(v), 3) for i, v in enumerate(probs)}})
```

`preprocessing` in config.json is what training used: shorter side resized to `resize`, centre crop of
`image_size`, pixels scaled to [0, 1], then `(x - mean) / std`.
"""
