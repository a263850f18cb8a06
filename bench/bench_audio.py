"""ftui's engine vs the Hugging Face Trainer on the same audio job (not a test).

    .venv/bin/python bench/bench_audio.py                     # FSDD subset, both, side by side
    .venv/bin/python bench/bench_audio.py --n 300 --epochs 2 --clip-seconds 2

Same backbone (the offline Whisper tiny.en encoder: whisper.classifier after the same seed), the
same stratified FSDD training subset (clips with index >= 5), the usual held-out split (index 0-4,
200 clips), the same features, computed once before training (soundfile, torchaudio resample to
16 kHz, cut/pad to the window, the same extractor call), batch size, epochs, warm-up, weight decay,
linear schedule and fused AdamW. One difference is deliberate: ftui gives the new head 10x the
body's rate (head_lr_multiplier); the Trainer uses one rate for all, the usual alternative as people
run it. Each side runs in its own subprocess, so peak RSS is its own. Reported:
  train samples/s  training samples / time in the training loop (no model load, features or evaluation)
  wall s           the whole job: load, featurise, train, evaluate, save
  peak RSS MB      the subprocess's maximum resident memory
  val accuracy     on the 200 held-out clips (context, not the point)
Needs `accelerate` for the Trainer (pip install 'accelerate>=1.1').
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from sidebyside import compare, peak_rss_mb  # bench/ is the script's folder, so on sys.path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "audio" / "fsdd"
MODEL = "whisper-tiny.en"


def the_job(args) -> dict:
    """FSDD names are {digit}_{speaker}_{index}.wav: index 0-4 is the held-out split."""
    from ftui.data.split import label_names, split_examples

    files = sorted(Path(args.data).glob("*.wav"))
    rest, val = [[f for f in files if (int(f.stem.split("_")[-1]) >= 5) == keep] for keep in (True, False)]
    digit = lambda f: f.name.split("_", 1)[0]  # noqa: E731
    train = [rest[i] for i in split_examples([digit(f) for f in rest], 0, args.seed, args.n)[0]]
    pairs = lambda fs: ([str(f) for f in fs], [digit(f) for f in fs])  # noqa: E731
    return {"train": pairs(train), "val": pairs(val), "labels": label_names([digit(f) for f in train])}

# -- the two workers ------------------------------------------------------------------------
def run_ftui(args) -> dict:
    from ftui.config import RunConfig
    from ftui.engine.loop import TrainData, train
    from ftui.engine.sinks import MemorySink
    from ftui.models.catalog import resolve
    from ftui.tasks import get_task

    job = the_job(args)
    config = RunConfig.build("audio", MODEL, "u-0000000000000000", args.lr, args.epochs,
                             {"batch_size": args.batch_size, "clip_seconds": args.clip_seconds, "seed": args.seed,
                              "warmup_ratio": 0.1, "weight_decay": 0.01})
    data = TrainData(job["labels"], *job["train"], *job["val"])
    memory = MemorySink()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = train(config, get_task("audio"), resolve("audio", config.model), data, memory, threading.Event(),
                       Path(out) / "model")
    wall = time.perf_counter() - started
    evals = [r for r in memory.records() if r["event"] == "EvalLogged"]
    return {"who": "ftui", "train_samples_per_s": result.samples / result.train_seconds, "wall_s": wall,
            "peak_rss_mb": peak_rss_mb(), "val_accuracy": evals[-1]["accuracy"] if evals else None,
            "n_train": len(data.train_inputs)}


def run_trainer(args) -> dict:
    import numpy as np
    import soundfile
    import torch
    import torchaudio.functional as AF
    from transformers import Trainer, TrainingArguments

    from ftui.engine.recipe import seed_everything
    from ftui.models import whisper
    from ftui.models.catalog import resolve

    job = the_job(args)
    label_id = {name: i for i, name in enumerate(job["labels"])}
    started = time.perf_counter()
    seed_everything(args.seed)  # as ftui's loop does, before build: the head's init is the same
    folder = whisper.converted_folder(Path(resolve("audio", MODEL).location))  # as AudioTask.build does
    model, _head, extractor = whisper.classifier(folder, job["labels"], round(args.clip_seconds * 50) / 50)
    window = whisper.window_samples(model.config)

    def featurise(paths):
        waves = []
        for path in paths:
            samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
            wave = AF.resample(torch.from_numpy(samples.mean(axis=1)), rate, whisper.SAMPLE_RATE).numpy()[:window]
            waves.append(np.pad(wave, (0, window - len(wave))))
        return extractor(waves, sampling_rate=whisper.SAMPLE_RATE, return_tensors="pt", padding="max_length",
                         max_length=window, truncation=True)["input_features"]

    class Clips(torch.utils.data.Dataset):
        def __init__(self, paths, labels):
            self.features, self.labels = featurise(paths), [label_id[y] for y in labels]

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return {"input_features": self.features[i], "labels": self.labels[i]}

    train_set, val_set = Clips(*job["train"]), Clips(*job["val"])
    with tempfile.TemporaryDirectory() as out:
        # transformers 5 has no warmup_ratio: a float warmup_steps below 1 is the ratio
        training_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
            num_train_epochs=args.epochs, learning_rate=args.lr, warmup_steps=0.1, weight_decay=0.01,
            lr_scheduler_type="linear", optim="adamw_torch_fused", seed=args.seed, save_strategy="no",
            eval_strategy="no", logging_steps=10, report_to=[], disable_tqdm=True)
        trainer = Trainer(model=model, args=training_args, train_dataset=train_set)
        metrics = trainer.train().metrics
        predictions = trainer.predict(val_set)
        trainer.save_model(Path(out) / "model")
    wall = time.perf_counter() - started
    accuracy = float((np.argmax(predictions.predictions, -1) == predictions.label_ids).mean())
    return {"who": "hf-trainer", "train_samples_per_s": len(train_set) * args.epochs / metrics["train_runtime"],
            "wall_s": wall,
            "peak_rss_mb": peak_rss_mb(), "val_accuracy": accuracy, "n_train": len(train_set)}


# -- the side-by-side ------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--n", type=int, default=600, help="stratified training subset (clips with index >= 5)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--clip-seconds", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["ftui", "trainer"], help="run one side only")
    parser.add_argument("--worker", choices=["ftui", "trainer"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # inside a subprocess: run one side, print one JSON line
        # Import the heavy modules before either side starts its clock, so wall time is the job's.
        import soundfile, torchaudio.functional, transformers.models.whisper.modeling_whisper  # noqa: F401, E401
        result = run_ftui(args) if args.worker == "ftui" else run_trainer(args)
        print("RESULT " + json.dumps(result))
        return 0

    if not Path(args.data).is_dir():
        print(f"data not found: {args.data}", file=sys.stderr)
        return 2
    passthrough = [x for key in ("data", "n", "epochs", "batch_size", "clip_seconds", "lr", "seed")
                   for x in ("--" + key.replace("_", "-"), str(getattr(args, key)))]
    sides = [args.only] if args.only else ["ftui", "trainer"]
    return compare(__file__, passthrough, sides, lambda r: (f"job: Whisper tiny.en, FSDD {r['n_train']} train / 200 val clips, "
                                     f"{args.epochs} epoch(s), batch {args.batch_size}, clip {args.clip_seconds} s, "
                                     f"lr {args.lr} (ftui head x10)"))


if __name__ == "__main__":
    sys.exit(main())
