"""The audio task end to end through Services, on generated tones and a tiny Whisper built from a
config: inspect a ZIP, train, save, predict (file, microphone pair, bad files), and load the saved
model with plain transformers (no ftui) to the same probabilities."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from ftui.errors import FtuiError
from ftui.runs.store import read_jsonl, read_status
from ftui.services import Services


def tone(label: str, i: int, rate: int = 8000, channels: int = 1, fmt: str = "WAV") -> bytes:
    """Low (300 Hz) vs high (2 kHz) tones with noise, varied length and phase: learnable in a few steps."""
    rng = np.random.default_rng(i)
    seconds = 0.3 + (i % 5) * 0.3
    t = np.arange(int(rate * seconds)) / rate
    freq = 300 if label == "low" else 2000
    wave = 0.5 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6)) + 0.05 * rng.standard_normal(len(t))
    data = np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave
    buf = io.BytesIO()
    sf.write(buf, data.astype(np.float32), rate, format=fmt, subtype="PCM_16" if fmt == "WAV" else None)
    return buf.getvalue()


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A 2-layer random Whisper audio classifier folder (16 mel bins, 1 s window) + its feature extractor."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    folder = tmp_path_factory.mktemp("tiny-whisper")
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           decoder_layers=1, decoder_attention_heads=2, num_mel_bins=16, max_source_positions=50)
    torch.manual_seed(0)
    WhisperForAudioClassification(config).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=16, chunk_length=1).save_pretrained(folder)
    return folder


@pytest.fixture
def tones_zip(tmp_path):
    path = tmp_path / "tones.zip"
    with zipfile.ZipFile(path, "w") as z:
        for label in ("low", "high"):
            for i in range(16):
                rate, channels = (44100, 2) if i % 4 == 0 else (8000, 1)  # mixed rates and channel counts
                z.writestr(f"tones/{label}/{label}{i}.wav", tone(label, i, rate, channels))
            z.writestr(f"tones/{label}/{label}-flac.flac", tone(label, 99, 16000, 1, "FLAC"))
        z.writestr("tones/low/broken.wav", tone("low", 1)[:200])  # truncated: skipped, the rest trains
    return path


def test_train_save_predict_and_load_without_ftui(tmp_path, tones_zip, tiny_whisper):
    services = Services(tmp_path / "runs")
    try:
        summary = services.inspect_dataset(None, "audio", tones_zip)
        assert summary["ok"] and summary["kind"] == "audio"
        assert summary["class_counts"] == {"high": 17, "low": 17}
        assert summary["sample_rates"] == {"8000": 24, "44100": 8, "16000": 2}
        assert [s["reason"] for s in summary["skipped"]] == ["truncated"]
        run_id = services.start_run(None, "audio", str(tiny_whisper), None, 3e-3, 8, {"batch_size": 4},
                                    upload_id=summary["upload_id"])
        run_dir = services.store.run_dir(None, run_id)
        assert services.jobs.wait(run_dir, timeout=300) == "finished", read_status(run_dir)
        rows = read_jsonl(run_dir / "metrics.jsonl")
        evals = [r for r in rows if r["event"] == "EvalLogged"]
        assert evals and evals[-1]["accuracy"] >= 0.85, evals  # tones are easy: the model really learned

        model_dir = run_dir / "model"
        settings = json.loads((model_dir / "ftui_audio.json").read_text())
        assert settings["sampling_rate"] == 16000 and settings["clip_seconds"] == 1.0  # the model's own window

        query = tmp_path / "query.ogg"
        query.write_bytes(tone("high", 7, 22050, 2, "OGG"))
        result = services.predict(None, run_id, str(query))
        assert set(result) == {"low", "high"} and abs(sum(result.values()) - 1) < 1e-4
        assert max(result, key=result.get) == "high"
        # A microphone recording arrives as (rate, int16 samples)
        samples, rate = sf.read(io.BytesIO(tone("low", 3, 48000)), dtype="int16")
        mic = services.predict(None, run_id, (rate, samples))
        assert max(mic, key=mic.get) == "low"

        # The saved model, loaded the plain-transformers way: no ftui import involved.
        import torchaudio.functional as AF
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        model = AutoModelForAudioClassification.from_pretrained(model_dir).eval()
        extractor = AutoFeatureExtractor.from_pretrained(model_dir)
        wave, sr = sf.read(query, dtype="float32")
        wave = AF.resample(torch.from_numpy(wave.mean(axis=1)), sr, 16000).numpy()
        inputs = extractor([wave], sampling_rate=16000, max_length=settings["window_samples"],
                           padding="max_length", truncation=True, return_tensors="pt")
        with torch.no_grad():
            probs = model(input_features=inputs["input_features"]).logits.softmax(-1)[0]
        plain = {model.config.id2label[i]: float(p) for i, p in enumerate(probs)}
        for label, value in result.items():
            assert abs(plain[label] - value) < 1e-4
    finally:
        services.close()


def test_bad_prediction_inputs_get_sentences(tmp_path, tones_zip, tiny_whisper):
    services = Services(tmp_path / "runs")
    try:
        run_id = services.start_run(None, "audio", str(tiny_whisper), tones_zip, 1e-3, 1, {"batch_size": 16})
        assert services.jobs.wait(services.store.run_dir(None, run_id), timeout=300) == "finished"
        m4a = tmp_path / "voice.m4a"
        m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + b"\x00" * 200)
        with pytest.raises(FtuiError) as info:
            services.predict(None, run_id, str(m4a))
        assert info.value.code == "unsupported_audio"
        assert "convert" in info.value.to_dict()["message"].lower()
        empty = tmp_path / "empty.wav"
        empty.write_bytes(b"")
        with pytest.raises(FtuiError) as info:
            services.predict(None, run_id, str(empty))
        assert info.value.code == "unreadable_audio"
        with pytest.raises(FtuiError) as info:
            services.predict(None, run_id, "hello there")
        assert info.value.code == "wrong_input_kind"
        # A 10-minute clip is cut to the window, not decoded whole.
        long = tmp_path / "long.flac"
        sf.write(long, np.zeros(16000 * 600, np.float32), 16000)
        assert set(services.predict(None, run_id, str(long))) == {"low", "high"}
    finally:
        services.close()


def test_clip_length_option_sets_the_window(tmp_path, tones_zip):
    """The packaged Whisper takes clip_seconds as its window (50 encoder positions per second)."""
    from ftui.config import TrainOptions
    from ftui.models import catalog
    from ftui.tasks import get_task

    built = get_task("audio").build(catalog.resolve("audio", "whisper-tiny.en"), ["a", "b"], TrainOptions(clip_seconds=1.5))
    assert built.model.config.max_source_positions == 75
    assert built.processor.clip_seconds == 1.5 and built.processor.window_samples == 24000
    assert built.head == {"projector.weight", "projector.bias", "classifier.weight", "classifier.bias"}


def test_a_local_wav2vec2_folder_takes_raw_waveforms(tmp_path):
    """Other transformers audio classifiers work from a local folder too: wav2vec2 takes the raw 16 kHz
    waveform (input_values), and any clip length (no fixed window as Whisper has)."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    from ftui.config import TrainOptions
    from ftui.models.catalog import ModelSource
    from ftui.tasks import get_task

    folder = tmp_path / "tiny-wav2vec2"
    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                            conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 4), num_feat_extract_layers=2,
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True).save_pretrained(folder)
    task = get_task("audio")
    source = ModelSource(id=str(folder), location=str(folder), kind="local")
    built = task.build(source, ["low", "high"], TrainOptions(clip_seconds=0.5))
    assert built.processor.window_samples == 8000 and built.processor.sampling_rate == 16000
    clips = []
    for i, label in enumerate(["low", "high", "low"]):
        path = tmp_path / f"{i}.wav"
        path.write_bytes(tone(label, i, 8000))
        clips.append(str(path))
    batch = next(iter(task.batches(built.processor, clips, [0, 1, 0], TrainOptions(), batch_size=3, shuffle=False)))
    assert batch["input_values"].shape == (3, 8000) and batch["labels"].tolist() == [0, 1, 0]
    with torch.no_grad():
        logits = built.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    assert logits.shape == (3, 2)
