"""The demo bundle (export format "demo"): a ZIP with a Gradio app that runs without ftui.

Fast tests: the layout, the Space front matter, pinned requirements, no ftui import in app.py, and the
app's own preprocessing against ftui's prediction (app.py loaded in this process) for text, image and
audio. Integration tests (one per task): the unzipped app started as its own process in which ftui
cannot be imported (and, where the kernel allows, with no network at all), queried through
gradio_client, its probabilities compared with ftui's to 1e-5. Tiny models from configs, as in
test_export.py (whose fixtures these are)."""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from test_export import audio_run, image_run, picture, text_run, unzip  # noqa: F401 - fixtures

from ftui.data.split import read_split
from ftui.export_demo import TEMPLATE, export_demo
from ftui.predict import Predictor

TOLERANCE = 1e-5
HERE = Path(__file__).resolve().parent


def front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n", 2)[1])


def load_app(folder: Path):
    """The bundle's app.py as a module (its __main__ block, the server, does not run)."""
    spec = importlib.util.spec_from_file_location(f"demo_app_{abs(hash(folder))}", folder / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_same_probabilities(theirs: list[dict], run_dir: Path, inputs: list) -> None:
    predictor = Predictor.from_run(run_dir)
    for item, got in zip(inputs, theirs, strict=True):
        ours = predictor.probabilities([item])[0].tolist()
        assert list(got) == predictor.labels
        diff = max(abs(got[label] - p) for label, p in zip(predictor.labels, ours))
        assert diff <= TOLERANCE, (item, diff)


# -- the bundle --------------------------------------------------------------------------------
def test_text_bundle_layout_front_matter_and_pins(text_run, tmp_path):
    path = export_demo(text_run)
    assert path == text_run / "exports" / f"{text_run.name}-text-demo.zip"
    names = set(zipfile.ZipFile(path).namelist())
    assert {"app.py", "demo.json", "requirements.txt", "README.md", "MODEL_CARD.md", "metrics.json",
            "confusion_matrix.png", "model/config.json", "model/head.safetensors", "model/tokenizer.json",
            "model/ftui_text.json"} <= names
    folder = unzip(path, tmp_path / "demo")

    readme = (folder / "README.md").read_text(encoding="utf-8")
    meta = front_matter(readme)
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["title"] == f"ftui text classifier {text_run.name}"
    assert meta["sdk_version"] == metadata.version("gradio").split("+")[0]
    for command in ("pip install -r requirements.txt", "python app.py", f"unzip {path.name}"):
        assert command in readme, command
    assert "## Model card" in readme and "`neg`" in readme and "head.safetensors" in readme

    pins = [line for line in (folder / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert {p.split("==")[0] for p in pins} == {"gradio", "torch", "numpy", "safetensors", "transformers", "tokenizers"}
    for pin in pins:
        name, version = pin.split("==")
        assert version == metadata.version(name).split("+")[0], pin

    app = (folder / "app.py").read_text(encoding="utf-8")
    assert app == TEMPLATE.read_text(encoding="utf-8")
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(app)) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(app))
                  if isinstance(node, ast.ImportFrom) and node.module}
    assert "ftui" not in imported and {"gradio", "torch", "transformers"} <= imported

    settings = json.loads((folder / "demo.json").read_text())
    validation = [{"input": x, "label": y} for x, y in zip(*read_split(text_run / "data", "validation"))]
    assert settings["max_length"] == 16 and 2 <= len(settings["examples"]) <= 6
    assert {e["label"] for e in settings["examples"]} == {"neg", "pos"}
    assert all({"input": e["input"], "label": e["label"]} in validation for e in settings["examples"])
    metrics = json.loads((folder / "metrics.json").read_text())
    evaluation = json.loads((text_run / "eval" / "validation" / "evaluation.json").read_text())
    assert metrics["n"] == 12 and metrics["accuracy"] == evaluation["accuracy"] and metrics["labels"] == ["neg", "pos"]


def test_text_app_predicts_as_ftui(text_run, tmp_path):
    folder = unzip(export_demo(text_run), tmp_path / "demo")
    app = load_app(folder)
    model, box = app.load_model()
    assert type(box).__name__ == "Textbox" and model.max_length == 16
    texts = [e["input"] for e in json.loads((folder / "demo.json").read_text())["examples"]]
    texts += ["the story " * 40, "ünïcödé — great", "x"]  # truncated to max_length; odd characters; one token
    assert_same_probabilities([app.probabilities(model, t) for t in texts], text_run, texts)


def test_image_app_predicts_as_ftui(image_run, tmp_path):
    from PIL import Image

    path = export_demo(image_run)
    folder = unzip(path, tmp_path / "demo")
    pins = (folder / "requirements.txt").read_text()
    assert "efficientnet-lite-pytorch==0.1.0" in pins and "torchvision==" in pins and "transformers" not in pins
    examples = json.loads((folder / "demo.json").read_text())["examples"]
    assert [e["label"] for e in examples] == ["blue", "red"] * 3  # 8 validation pictures: 6 at most, labels in turn
    assert all((folder / e["file"]).is_file() for e in examples)
    app = load_app(folder)
    model, box = app.load_model()
    assert type(box).__name__ == "Image"
    photo = picture("red", 4, tmp_path / "big.png")
    Image.open(photo).resize((400, 300)).save(tmp_path / "big.jpg", quality=90)  # JPEG draft decoding
    Image.new("RGBA", (80, 120), (10, 200, 30, 90)).save(tmp_path / "clear.png")  # transparency on white
    inputs = [str(folder / e["file"]) for e in examples] + [str(tmp_path / "big.jpg"), str(tmp_path / "clear.png")]
    assert_same_probabilities([app.probabilities(model, p) for p in inputs], image_run, inputs)


def test_audio_app_predicts_as_ftui(audio_run, tmp_path):
    import numpy as np
    import soundfile as sf

    folder = unzip(export_demo(audio_run), tmp_path / "demo")
    pins = (folder / "requirements.txt").read_text()
    assert "torchaudio==" in pins and "soundfile==" in pins and "transformers==" in pins
    assert json.loads((folder / "metrics.json").read_text())["n"] == 3  # evaluated at export: none existed
    app = load_app(folder)
    model, box = app.load_model()
    assert type(box).__name__ == "Audio"
    rng = np.random.default_rng(1)
    sf.write(tmp_path / "stereo.flac", (0.2 * rng.standard_normal((44100 * 5, 2))).astype("float32"), 44100)
    sf.write(tmp_path / "short.wav", (0.3 * rng.standard_normal(4000)).astype("float32"), 16000)
    examples = json.loads((folder / "demo.json").read_text())["examples"]
    inputs = [str(folder / e["file"]) for e in examples] + [str(tmp_path / "stereo.flac"), str(tmp_path / "short.wav")]
    assert_same_probabilities([app.probabilities(model, p) for p in inputs], audio_run, inputs)


def test_only_a_run_with_a_model_gets_a_demo(make_text_run, tmp_path):
    from ftui.errors import FtuiError
    from ftui.messages import describe

    assert "'demo'" in describe("bad_export_format", {"format": "pdf"})
    with pytest.raises(FtuiError) as err:
        export_demo(tmp_path / "no-such-run")
    assert err.value.code == "unknown_run"
    _, run_dir, _, _ = make_text_run(n=16, epochs=1)  # queued, never trained
    with pytest.raises(FtuiError) as err:
        export_demo(run_dir)
    assert err.value.code == "export_not_ready" and not (run_dir / "exports").exists()


# -- the app served on its own, without ftui ---------------------------------------------------------
def served_probabilities(folder: Path, inputs: list, files: bool, tmp_path: Path) -> dict:
    """Start the unzipped app in a process that cannot import ftui (and in a network namespace with only
    loopback when unshare allows it), ask it through gradio_client, return what the driver saw."""
    command = [sys.executable, str(HERE / "demo_driver.py"), str(folder), json.dumps({"inputs": inputs, "files": files})]
    isolated = bool(shutil.which("unshare")) and subprocess.run(
        ["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True).returncode == 0
    if isolated:
        command = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *command]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ftui_importable"] is False  # the app ran where `import ftui` fails
    if isolated:
        assert report["network"] is False
    return report


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["text", "image", "audio"])
def test_unzipped_app_serves_ftuis_predictions_without_ftui(kind, request, tmp_path):
    run_dir = request.getfixturevalue(f"{kind}_run")
    folder = unzip(export_demo(run_dir), tmp_path / "demo")
    examples = json.loads((folder / "demo.json").read_text())["examples"]
    files = kind != "text"
    inputs = [str(folder / e["file"]) for e in examples[:3]] if files else [e["input"] for e in examples[:3]]
    report = served_probabilities(folder, inputs, files, tmp_path)
    assert_same_probabilities(report["probabilities"], run_dir, inputs)
    for label, full in zip(report["labels"], report["probabilities"]):  # the page's Label box says the same
        assert label["label"] == max(full, key=full.get)
        assert all(abs(c["confidence"] - full[c["label"]]) <= TOLERANCE for c in label["confidences"])
