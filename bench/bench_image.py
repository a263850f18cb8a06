"""Epoch time of image training with and without the decode cache (same model, data, seed).

    .venv/bin/python bench/bench_image.py [--data ../shared/data/image/hymenoptera] [--epochs 2] [--lr 5e-4]

Runs the real ftui loop twice on the train/ split (val/ held out): once with ImageBatches' decode
cache (each image decoded + resized once per run) and once decoding every image on every pass.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from unittest import mock

from ftui.config import RunConfig
from ftui.data.images import load_image_examples
from ftui.engine.loop import TrainData, train
from ftui.engine.sinks import MemorySink
from ftui.models.catalog import resolve
from ftui.tasks import get_task
from ftui.tasks import image_batches


def run(data: TrainData, epochs: int, lr: float, cache: bool, options: dict, out: Path) -> dict:
    config = RunConfig.build("image", "efficientnet-lite0", "u-0000000000000000", lr, epochs, options)
    original = image_batches.ImageBatches.__init__

    def init(self, *args, **kwargs):
        kwargs["cache"] = cache
        original(self, *args, **kwargs)

    sink = MemorySink()
    with mock.patch.object(image_batches.ImageBatches, "__init__", init):
        start = time.perf_counter()
        result = train(config, get_task("image"), resolve("image", "efficientnet-lite0"), data, sink,
                       threading.Event(), out)
    wall = time.perf_counter() - start
    return {"cache": cache, "wall_s": round(wall, 1), "train_s": round(result.train_seconds, 1),
            "s_per_epoch": round(result.train_seconds / epochs, 1), "accuracy": result.last_accuracy}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/image/hymenoptera"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--out", default="/tmp/ftui-bench-image")
    args = parser.parse_args()
    examples = load_image_examples(Path(args.data))
    val = examples.validation
    data = TrainData(labels=sorted(set(examples.labels)), train_inputs=examples.inputs, train_labels=examples.labels,
                     val_inputs=val.inputs if val else [], val_labels=val.labels if val else [])
    options = {"batch_size": 16, "image_size": args.image_size}
    rows = [run(data, args.epochs, args.lr, cache, options, Path(args.out) / str(cache)) for cache in (True, False)]
    print(json.dumps(rows, indent=1))
    print(f"epoch time without cache / with cache: {rows[1]['s_per_epoch'] / rows[0]['s_per_epoch']:.2f}x")


if __name__ == "__main__":
    main()
