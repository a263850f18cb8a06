"""A text classifier that pools the way its encoder was pretrained: encoder -> pooling -> dropout -> Linear.

Why not transformers' `AutoModelForSequenceClassification`: that head reads the first token ([CLS])
through BERT's pooler, and sentence encoders such as all-MiniLM-L6-v2 were trained with *mean*
pooling. Measured here with a logistic regression on the frozen encoder's features (1,000 training
texts each): TREC-6 0.85 with mean pooling against 0.61 ([CLS]) and 0.56 (pooler); SMS spam 0.98 vs
0.97 / 0.97. The head-first stage (engine/head.py) fits on exactly these features, so the pooling
decides how good the instant result is.

Saved format (model/), loadable with plain transformers, no ftui (see model_card.py):
  the encoder's own `save_pretrained` files (config.json with id2label, model.safetensors, tokenizer)
  + head.safetensors {weight, bias} + ftui_text.json {format, pooling, labels}.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn

FORMAT = "ftui-text-classifier"
SETTINGS_FILE = "ftui_text.json"
HEAD_FILE = "head.safetensors"
POOLINGS = ("mean", "cls")
DEFAULT_POOLING = "mean"  # what "auto" means (engine/adapt.py says why in the run's recipe line)


class PooledTextClassifier(nn.Module):
    """forward(input_ids, attention_mask, token_type_ids) -> logits (B, K)."""

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str = DEFAULT_POOLING):
        super().__init__()
        pooling = DEFAULT_POOLING if pooling == "auto" else pooling
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        config = encoder.config
        self.config = config  # id2label / label2id live here, as on any transformers model
        rate = getattr(config, "classifier_dropout", None)
        self.dropout = nn.Dropout(rate if rate is not None else getattr(config, "hidden_dropout_prob", 0.1))
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        # transformers' own init for a new classification layer
        self.classifier.weight.data.normal_(0.0, getattr(config, "initializer_range", 0.02))
        self.classifier.bias.data.zero_()

    def features(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """The pooled sentence vector the head reads (B, hidden)."""
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(input_ids=input_ids, **kwargs).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        if attention_mask is None:
            return hidden.mean(dim=1)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(input_ids, attention_mask, token_type_ids)))

    # -- files ------------------------------------------------------------------------------
    def save(self, out_dir: Path, labels: list[str]) -> None:
        from safetensors.torch import save_file

        from ftui.models.build import readable_config

        out_dir = Path(out_dir)
        self.config.id2label = {i: name for i, name in enumerate(labels)}
        self.config.label2id = {name: i for i, name in enumerate(labels)}
        self.encoder.save_pretrained(out_dir)  # safetensors by default
        readable_config(out_dir)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.classifier.state_dict().items()},
                  str(out_dir / HEAD_FILE))
        settings = {"format": FORMAT, "pooling": self.pooling, "labels": list(labels)}
        (out_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=2, ensure_ascii=False), encoding="utf-8")


def is_saved_classifier(folder: Path) -> bool:
    return (Path(folder) / SETTINGS_FILE).is_file()


def saved_labels(location: str | Path) -> list[str] | None:
    """The labels of an ftui text model folder (None for anything else: a hub id, a plain encoder)."""
    try:
        settings = json.loads((Path(location) / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [str(name) for name in settings.get("labels", [])]


def load_head(model: PooledTextClassifier, folder: str | Path) -> None:
    from safetensors.torch import load_file

    model.classifier.load_state_dict(load_file(str(Path(folder) / HEAD_FILE)))


def load(folder: Path) -> tuple[PooledTextClassifier, list[str]]:
    """(model in eval mode, labels) of a folder written by PooledTextClassifier.save."""
    folder = Path(folder)
    settings = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
    labels = [str(name) for name in settings["labels"]]
    model = PooledTextClassifier(load_encoder(str(folder)), len(labels), pooling=settings.get("pooling", "mean"))
    load_head(model, folder)
    return model.eval(), labels


def load_encoder(location: str):
    """The bare encoder (AutoModel) of a folder or hub id, without BERT's unused pooler where it has one
    (an unused layer still costs a matmul per step). Never runs remote code."""
    from transformers import AutoModel

    from ftui.models.build import safetensors_kwargs

    kwargs = {"trust_remote_code": False, **safetensors_kwargs(location)}
    try:
        return AutoModel.from_pretrained(location, add_pooling_layer=False, **kwargs)
    except TypeError:  # encoders without a pooler (DistilBERT, ...) take no such argument
        return AutoModel.from_pretrained(location, **kwargs)
