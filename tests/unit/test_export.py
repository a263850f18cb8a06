"""Export: the model ZIP loads without ftui exactly as its README says (the README's code block is
executed as written), and the ONNX file matches PyTorch on the run's own validation inputs. Text on
the tiny random BERT, images on EfficientNet-Lite0 at 64 px, audio on a tiny random Whisper."""
from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from ftui.engine import loop
from ftui.worker import read_train_data
from ftui.engine.sinks import FanOut, JsonlSink, StatusSink
from ftui.errors import FtuiError
from ftui.export import export_onnx, export_zip, model_card, write_onnx
from ftui.predict import Predictor
from ftui.runs.store import update_status
from ftui.tasks import get_task


def train_run(run_dir, config, source):
    """Train as the JobManager does, with the sinks that write metrics.jsonl and status.json."""
    sink = FanOut(JsonlSink(run_dir / "metrics.jsonl"), StatusSink(run_dir, min_interval_s=0))
    loop.train(config, get_task(config.task), source, read_train_data(run_dir), sink, threading.Event(),
               run_dir / "model")
    return run_dir


def unzip(path: Path, into: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        archive.extractall(into)
    return into


def run_readme_code(folder: Path, monkeypatch, **replace) -> dict:
    """Execute the README's python block from `folder`, as a reader would; returns its namespace."""
    readme = (folder / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    for old, new in replace.items():
        code = code.replace(old, new)
    monkeypatch.chdir(folder)
    namespace: dict = {}
    exec(compile(code, str(folder / "README.md"), "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace


def assert_same(theirs: list[dict], ours: torch.Tensor, labels: list[str]) -> None:
    plain = torch.tensor([[row[label] for label in labels] for row in theirs])
    assert torch.allclose(plain, ours, atol=1e-5), (plain - ours).abs().max()


# -- text --------------------------------------------------------------------------------
@pytest.fixture
def text_run(make_text_run):
    _, run_dir, config, source = make_text_run(n=48, epochs=1)
    update_status(run_dir, data_name="reviews.csv")
    return train_run(run_dir, config, source)


def test_text_zip_loads_with_plain_transformers_as_its_readme_says(text_run, tmp_path, monkeypatch):
    (text_run / "eval" / "validation").mkdir(parents=True)
    (text_run / "eval" / "validation" / "evaluation.json").write_text('{"accuracy": 0.75, "macro_f1": 0.7, "n": 12}')
    path = export_zip(text_run)
    assert path == text_run / "exports" / f"{text_run.name}-text-model.zip"
    names = zipfile.ZipFile(path).namelist()
    assert "README.md" in names and {"model/config.json", "model/model.safetensors", "model/head.safetensors",
                                     "model/ftui_text.json", "model/labels.json", "model/tokenizer.json"} <= set(names)
    folder = unzip(path, tmp_path / "unzipped")
    card = (folder / "README.md").read_text()
    for needle in ("`neg`", "`pos`", "reviews.csv", "36 training and 12 validation", "| neg | 18 | 6 |",
                   "Learning rate 0.001", "batch size 8", '"max_length": 16', "Saved model (the best of",
                   "Intended use and limitations", "AutoModel.from_pretrained", "head.safetensors",
                   "Evaluation `validation` (12 examples): accuracy 0.7500, macro-F1 0.7000"):
        assert needle in card, needle
    front = ModelCard(card).data.to_dict()  # a local base folder: no hub id, no known license
    assert front["pipeline_tag"] == "text-classification" and front["library_name"] == "transformers"
    assert "base_model" not in front and "license" not in front and front["tags"] == ["ftui"]

    namespace = run_readme_code(folder, monkeypatch)
    texts = ["a great fun movie", "an awful dull plot", "the story " * 40]
    predictor = Predictor.from_run(text_run)
    assert_same(namespace["classify"](texts), predictor.probabilities(texts), predictor.labels)


def test_text_onnx_matches_pytorch(text_run, tmp_path):
    import numpy as np
    import onnxruntime
    from transformers import AutoTokenizer

    result = export_onnx(text_run)
    assert result["parity_ok"] and result["max_abs_diff"] < 1e-4 and result["same_argmax_fraction"] == 1.0
    assert result["n_checked"] == 12 and result["opset"] >= 17 and result["issues"] == []
    assert result["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    onnx_path = Path(result["path"])
    assert onnx_path.name == f"{text_run.name}-text.onnx" and result["size_bytes"] == onnx_path.stat().st_size
    assert json.loads((text_run / "exports" / "onnx_parity.json").read_text())["max_abs_diff"] == result["max_abs_diff"]

    # The bundle alone is enough: tokenizer from its files, dynamic batch and sequence axes, padding honoured.
    folder = unzip(Path(result["zip"]), tmp_path / "onnx")
    assert "onnxruntime" in (folder / "README.md").read_text()
    session = onnxruntime.InferenceSession(str(folder / onnx_path.name))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = ["great", "the movie was really a dull story with bad acting", "love it"]
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=16, return_tensors="np")
    logits = session.run(["logits"], {k: encoded[k].astype(np.int64) for k in result["inputs"]})[0]
    ours = Predictor.from_run(text_run).probabilities(texts)
    assert torch.allclose(torch.from_numpy(logits).softmax(-1), ours, atol=1e-5)
    assert json.loads((folder / "labels.json").read_text()) == ["neg", "pos"]


def test_a_run_without_a_model_cannot_be_exported(make_text_run):
    _, run_dir, _, _ = make_text_run(n=16, epochs=1)
    with pytest.raises(FtuiError) as err:
        export_zip(run_dir)
    assert err.value.code == "export_not_ready" and err.value.detail["state"] == "queued"
    update_status(run_dir, state="failed", error={"code": "training_failed", "message": "boom"})
    for export in (export_zip, export_onnx):
        with pytest.raises(FtuiError) as err:
            export(run_dir)
        assert err.value.code == "export_run_failed"
        assert err.value.to_dict()["message"] == f"Run '{run_dir.name}' failed, so there is no model to export."
    assert not (run_dir / "exports").exists()


# -- image -------------------------------------------------------------------------------
def picture(label: str, i: int, path: Path) -> Path:
    from PIL import Image

    base = (200, 40, 40) if label == "red" else (40, 40, 200)
    image = Image.new("RGB", (90 + 3 * i, 70 + i), base)  # bigger than 64 px and not square: crops count
    for x in range(0, 90, 7):
        image.putpixel((x, (i * 5) % 70), (i * 9 % 255, 255, 0))
    image.save(path)
    return path


@pytest.fixture
def image_run(tmp_path):
    from ftui.config import RunConfig
    from ftui.data.split import write_split
    from ftui.models.catalog import resolve
    from ftui.runs.store import RunStore, write_json_atomic

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    inputs, labels = [], []
    for i in range(10):
        for label in ("blue", "red"):
            inputs.append(str(picture(label, i, pictures / f"{label}{i}.png")))
            labels.append(label)
    config = RunConfig.build("image", "efficientnet-lite0", "u-0000000000000000", 5e-4, 1,
                             {"batch_size": 8, "image_size": 64})
    _, run_dir = RunStore(tmp_path / "runs").create(None, config)
    write_json_atomic(run_dir / "labels.json", ["blue", "red"])
    write_split(run_dir / "data", inputs, labels, list(range(12)), list(range(12, 20)))
    return train_run(run_dir, config, resolve("image", "efficientnet-lite0"))


def test_image_zip_and_onnx(image_run, tmp_path, monkeypatch):
    folder = unzip(export_zip(image_run), tmp_path / "unzipped")
    card = (folder / "README.md").read_text()
    assert "`blue`" in card and "12 training and 8 validation" in card and "efficientnet-lite0" in card
    assert (folder / "model" / "model.safetensors").is_file()

    photos = [str(picture("red", 3, tmp_path / "q1.png")), str(picture("blue", 7, tmp_path / "q2.jpg"))]
    namespace = run_readme_code(folder, monkeypatch, **{'print(classify(["photo.jpg"]))': ""})
    predictor = Predictor.from_run(image_run)
    assert_same(namespace["classify"](photos), predictor.probabilities(photos), predictor.labels)

    result = export_onnx(image_run)
    assert result["parity_ok"] and result["max_abs_diff"] < 1e-4 and result["inputs"] == ["pixel_values"]
    assert result["n_checked"] == 8 and result["same_argmax_fraction"] == 1.0


# -- audio: a transformers model whose input is `input_features` ---------------------------
@pytest.fixture
def audio_run(tmp_path):
    """A fake finished audio run: tiny random Whisper classifier + its feature extractor (3 s clips)."""
    import numpy as np
    import soundfile as sf
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    from ftui.config import RunConfig
    from ftui.data.split import write_split
    from ftui.runs.store import RunStore, write_json_atomic

    torch.manual_seed(0)
    labels = ["one", "three", "two"]
    config = WhisperConfig(d_model=64, encoder_layers=2, encoder_attention_heads=2, decoder_layers=1,
                           decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
                           max_source_positions=150, num_labels=3, id2label=dict(enumerate(labels)),
                           label2id={name: i for i, name in enumerate(labels)})
    run_config = RunConfig.build("audio", "whisper-tiny-3s", "u-0000000000000000", 1e-4, 1,
                                 {"batch_size": 4, "clip_seconds": 3})
    _, run_dir = RunStore(tmp_path / "runs").create(None, run_config)
    WhisperForAudioClassification(config).save_pretrained(run_dir / "model")
    WhisperFeatureExtractor(feature_size=80, chunk_length=3).save_pretrained(run_dir / "model")
    write_json_atomic(run_dir / "model" / "labels.json", labels)
    write_json_atomic(run_dir / "labels.json", labels)
    write_json_atomic(run_dir / "model" / "ftui_audio.json",  # as AudioPreprocessing.save writes it
                      {"sampling_rate": 16000, "clip_seconds": 3.0, "window_samples": 48000})
    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        path = clips / f"c{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(8000 + 1000 * i)).astype("float32"), 8000)  # 8 kHz: resampled
        paths.append(str(path))
    write_split(run_dir / "data", paths, [labels[i % 3] for i in range(6)], [0, 1, 2], [3, 4, 5])
    update_status(run_dir, state="finished", data_name="digits.zip")
    return run_dir


def test_audio_card_loads_with_plain_transformers(audio_run, tmp_path, monkeypatch):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
    import soundfile as sf
    import torchaudio

    card = model_card(audio_run)
    assert "`one`" in card and "digits.zip" in card and "3 training and 3 validation" in card
    folder = unzip(export_zip(audio_run), tmp_path / "unzipped")
    clips = [str(p) for p in sorted((tmp_path / "clips").glob("*.wav"))[:2]]
    namespace = run_readme_code(folder, monkeypatch, **{'print(classify(["clip.wav"]))': ""})
    extractor = AutoFeatureExtractor.from_pretrained(audio_run / "model")
    model = AutoModelForAudioClassification.from_pretrained(audio_run / "model").eval()
    waves = [torchaudio.functional.resample(torch.from_numpy(sf.read(p, dtype="float32")[0]), 8000, 16000).numpy()
             for p in clips]
    with torch.no_grad():
        expected = model(**extractor(waves, sampling_rate=16000, return_tensors="pt")).logits.softmax(-1)
    assert_same(namespace["classify"](clips), expected, ["one", "three", "two"])
    predictor = Predictor.from_run(audio_run)  # the audio task's own preprocessing agrees
    assert_same(namespace["classify"](clips), predictor.probabilities(clips), predictor.labels)


def test_card_front_matter_is_hub_metadata(audio_run, tmp_path):
    """README.md opens with YAML that huggingface_hub reads back: base model, license, task, library,
    tags and the saved model's validation accuracy; the text for people follows it unchanged."""
    from ftui.runs.store import read_json, write_json_atomic

    config = read_json(audio_run / "config.json")
    write_json_atomic(audio_run / "config.json", {**config, "model": "whisper-tiny.en"})  # the catalog's default
    evals = [{"event": "EvalLogged", "step": 2, "epoch": 0.5, "loss": 1.0, "accuracy": 0.6667, "is_best": True},
             {"event": "EvalLogged", "step": 4, "epoch": 1.0, "loss": 0.9, "accuracy": 0.3333, "is_best": False}]
    (audio_run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals), encoding="utf-8")
    text = (unzip(export_zip(audio_run), tmp_path / "unzipped") / "README.md").read_text(encoding="utf-8")

    assert text.startswith("---\n")
    card = ModelCard(text)
    assert card.data.pipeline_tag == "audio-classification" and card.data.library_name == "transformers"
    assert card.data.base_model == "openai/whisper-tiny.en" and card.data.license == "mit"
    assert card.data.tags == ["ftui"] and card.data.metrics == ["accuracy"]
    [result] = card.data.eval_results  # the saved (best) evaluation, not the last one
    assert (result.metric_type, result.metric_value, result.dataset_split) == ("accuracy", 0.6667, "validation")
    assert result.task_type == "audio-classification" and result.dataset_name == "digits.zip"
    assert card.text.lstrip().startswith(f"# ftui audio classifier {audio_run.name}")
    assert "Saved model (the best of 2 evaluations): accuracy **0.6667**" in card.text
    assert "## How to load it (without ftui)" in card.text


def test_audio_run_onnx_matches_pytorch(audio_run):
    result = export_onnx(audio_run)
    assert result["parity_ok"] and result["max_abs_diff"] < 1e-4 and result["inputs"] == ["input_features"]
    assert result["n_checked"] == 3 and Path(result["zip"]).is_file()


def test_onnx_of_an_input_features_model(audio_run, tmp_path):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    extractor = AutoFeatureExtractor.from_pretrained(audio_run / "model")
    model = AutoModelForAudioClassification.from_pretrained(audio_run / "model")
    noise = torch.Generator().manual_seed(1)
    waves = [0.1 * torch.randn(16000 * s // 2, generator=noise).numpy() for s in (1, 3, 5, 6, 2)]
    batches = [dict(extractor(waves[:3], sampling_rate=16000, return_tensors="pt")),
               dict(extractor(waves[3:], sampling_rate=16000, return_tensors="pt"))]  # batch 3, then batch 2
    result = write_onnx(model, batches, tmp_path / "audio.onnx")
    assert result["parity_ok"] and result["max_abs_diff"] < 1e-4 and result["inputs"] == ["input_features"]
    assert result["n_checked"] == 5 and result["size_bytes"] > 0


def test_a_bad_trace_is_reported_not_hidden(tmp_path):
    """A model whose traced graph cannot follow a data-dependent branch: parity says so."""

    class Branchy(torch.nn.Module):
        def forward(self, pixel_values):
            logits = pixel_values.flatten(1)[:, :2]
            return logits * 10 if bool(pixel_values.mean() > 0) else logits  # baked in at trace time

    batches = [{"pixel_values": torch.ones(2, 1, 2, 2)}, {"pixel_values": -torch.ones(2, 1, 2, 2)}]
    result = write_onnx(Branchy(), batches, tmp_path / "branchy.onnx")
    assert not result["parity_ok"] and result["max_abs_diff"] == pytest.approx(9.0)
