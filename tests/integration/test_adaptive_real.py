"""The adaptive recipe on the real offline backbones and real data (../shared/data): the head-only
result on ants/bees, and head-first-then-everything against one stage on a few-shot, low-resolution
variant. Accuracy floors only; speed belongs in bench/quality.py."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ftui.config import RunConfig
from ftui.data.split import label_names
from ftui.engine.loop import TrainData, train
from ftui.engine.sinks import MemorySink
from ftui.models.catalog import resolve
from ftui.predict import Predictor
from ftui.tasks import get_task

pytestmark = pytest.mark.integration
PHOTOS = (".jpg", ".jpeg", ".png")


def photos(folder: Path) -> tuple[list[str], list[str]]:
    pairs = [(str(f), f.parent.name) for f in sorted(folder.glob("*/*")) if f.suffix.lower() in PHOTOS]
    return [p for p, _ in pairs], [label for _, label in pairs]


def downscaled(paths: list[str], out: Path, side: int = 128) -> list[str]:
    from PIL import Image

    made = []
    for i, path in enumerate(paths):
        picture = Image.open(path).convert("RGB")
        scale = side / min(picture.size)
        target = out / f"{i:04d}.jpg"
        picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.BICUBIC).save(target, quality=90)
        made.append(str(target))
    return made


def fit(tmp_path: Path, name: str, train_x, train_y, val_x, val_y, test_x, test_y, epochs: int, **options) -> dict:
    config = RunConfig.build("image", "efficientnet-lite0", "u-0000000000000000", 5e-4, epochs, options)
    data = TrainData(label_names(train_y), train_x, train_y, val_x, val_y)
    out = tmp_path / name / "model"
    started = time.perf_counter()
    result = train(config, get_task("image"), resolve("image", "efficientnet-lite0"), data, MemorySink(),
                   threading.Event(), out)
    seconds = time.perf_counter() - started
    predictor = Predictor.from_model_dir(out, task="image", options=config.train)
    predicted = predictor.probabilities(test_x).argmax(-1).tolist()
    accuracy = sum(predictor.labels[p] == y for p, y in zip(predicted, test_y)) / len(test_y)
    print(f"\n{name}: test accuracy {accuracy:.3f}, {seconds:.0f} s, best {result.best}")
    return {"accuracy": accuracy, "seconds": seconds, "result": result}


@pytest.fixture(scope="module")
def hymenoptera(shared_data) -> Path:
    folder = shared_data / "image" / "hymenoptera"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


def test_head_only_on_ants_and_bees(tmp_path, hymenoptera):
    """The Teachable Machine experience: frozen features + a fitted head, on 245 photos, in seconds."""
    train_x, train_y = photos(hymenoptera / "train")
    test_x, test_y = photos(hymenoptera / "val")
    # the studio's own split of the uploaded train/ folder: a fifth held out to evaluate the head on
    val_x, val_y = train_x[::5], train_y[::5]
    keep = [i for i in range(len(train_x)) if i % 5]
    outcome = fit(tmp_path, "head-only", [train_x[i] for i in keep], [train_y[i] for i in keep], val_x, val_y,
                  test_x, test_y, epochs=1, train_head_only=True)
    assert outcome["result"].step == 0 and outcome["result"].best["step"] == 0
    assert outcome["accuracy"] >= 0.85
    assert outcome["seconds"] < 180  # a loose ceiling (about a minute on 2 idle cores): features once, no steps


def test_head_first_beats_one_stage_on_few_low_resolution_photos(tmp_path, hymenoptera):
    """20 photos a class, downscaled to 128 px: fine-tuning from a fitted head does at least as well as
    fine-tuning from a random one (the recipe's claim on exactly the data where it matters most)."""
    all_x, all_y = photos(hymenoptera / "train")
    chosen = [i for label in ("ants", "bees") for i in [j for j, y in enumerate(all_y) if y == label][:24]]
    small = downscaled([all_x[i] for i in chosen], tmp_path)
    labels = [all_y[i] for i in chosen]
    train_x = [x for k, x in enumerate(small) if k % 24 < 20]
    train_y = [y for k, y in enumerate(labels) if k % 24 < 20]
    val_x = [x for k, x in enumerate(small) if k % 24 >= 20]
    val_y = [y for k, y in enumerate(labels) if k % 24 >= 20]
    test_x, test_y = photos(hymenoptera / "val")
    (tmp_path / "test").mkdir()
    test_x = downscaled(test_x, tmp_path / "test")
    two = fit(tmp_path, "head-first", train_x, train_y, val_x, val_y, test_x, test_y, epochs=5)
    one = fit(tmp_path, "one-stage", train_x, train_y, val_x, val_y, test_x, test_y, epochs=5, head_first=False)
    assert two["accuracy"] >= one["accuracy"]
    assert two["accuracy"] >= 0.85
