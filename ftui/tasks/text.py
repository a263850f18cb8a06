"""Text classification: a transformers encoder + sequence-classification head.

Texts are tokenized once up front (fast tokenizer, truncated to max_length, no padding); each
batch is padded only to its own longest text, which on short texts (SMS: ~25 tokens) is several
times cheaper than padding everything to 128.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ftui.config import DataOptions, TrainOptions
from ftui.errors import FtuiError
from ftui.models.catalog import ModelSource
from ftui.tasks.base import Built, epoch_seed



class TextTask:
    name = "text"

    def read(self, path: Path, options: DataOptions):
        from ftui.data.tabular import load_text_examples  # the data layer; no torch

        return load_text_examples(path, options)

    def build(self, source: ModelSource, labels: list[str], options: TrainOptions) -> Built:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ftui.models.build import build_classifier, load_processor

        tokenizer = load_processor(AutoTokenizer, source)
        if not getattr(tokenizer, "is_fast", False):
            # Slow (pure Python) tokenizers are 10-100x slower on a whole dataset; say so, not hang.
            raise FtuiError("model_load_failed", model=source.id, reason="no fast tokenizer (tokenizer.json) found")
        model, head = build_classifier(AutoModelForSequenceClassification, source, labels)
        positions = getattr(model.config, "max_position_embeddings", None)
        limit = _model_limit(tokenizer)
        if isinstance(positions, int) and positions > 0 and (limit is None or limit > positions):
            # A tokenizer copied from a bigger sibling (e.g. 512) must not outrun the position table.
            tokenizer.model_max_length = positions
        return Built(model=model, processor=tokenizer, head=head)

    def batches(self, processor: Any, inputs: Sequence, label_ids: Sequence[int] | None,
                options: TrainOptions, *, batch_size: int, shuffle: bool, seed: int = 0) -> TextBatches:
        return TextBatches(processor, [str(t) for t in inputs], label_ids, max_length=options.max_length,
                           batch_size=batch_size, shuffle=shuffle, seed=seed)

    def save(self, model: Any, processor: Any, labels: list[str], out_dir: Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.config.id2label = {i: name for i, name in enumerate(labels)}
        model.config.label2id = {name: i for i, name in enumerate(labels)}
        model.save_pretrained(out_dir)  # safetensors by default
        processor.save_pretrained(out_dir)
        # Handy for non-transformers readers; config.json's id2label stays the source of truth.
        (out_dir / "labels.json").write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")

    def load(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ftui.models.build import load_processor, load_tuned

        model, labels = load_tuned(AutoModelForSequenceClassification, model_dir)
        return model, load_processor(AutoTokenizer, model_dir), labels


class TextBatches:
    """Tokenized once; `iter()` yields dynamically padded batches (one reshuffle per pass)."""

    def __init__(self, tokenizer: Any, texts: list[str], label_ids: Sequence[int] | None, *, max_length: int,
                 batch_size: int, shuffle: bool, seed: int):
        import torch

        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)  # own RNG: shuffling never shifts dropout
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        limit = _model_limit(tokenizer)
        self.max_length = min(max_length, limit) if limit else max_length
        encoded = tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        # Keep only what the model takes; overflow/offset extras are not inputs.
        self.columns = {key: encoded[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded}
        self.labels = None if label_ids is None else torch.as_tensor(list(label_ids), dtype=torch.long)
        self.n = len(texts)

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(epoch_seed(self.seed, epoch))

    def __iter__(self) -> Iterator[dict]:
        import torch

        order = torch.randperm(self.n, generator=self.generator).tolist() if self.shuffle else range(self.n)
        order = list(order)
        for start in range(0, self.n, self.batch_size):
            yield self._collate(order[start:start + self.batch_size])

    def _collate(self, rows: list[int]) -> dict:
        import torch

        ids = self.columns["input_ids"]
        width = max(len(ids[r]) for r in rows)
        batch = {}
        for key, values in self.columns.items():
            pad = self.pad_id if key == "input_ids" else 0
            tensor = torch.full((len(rows), width), pad, dtype=torch.long)
            for i, r in enumerate(rows):
                tensor[i, : len(values[r])] = torch.as_tensor(values[r], dtype=torch.long)
            batch[key] = tensor
        if self.labels is not None:
            batch["labels"] = self.labels[rows]
        return batch


def _model_limit(tokenizer: Any) -> int | None:
    """The tokenizer's own maximum (e.g. 512 for BERT); transformers uses a huge sentinel for 'none'."""
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 100_000 else None
