"""ftui's engine vs the Hugging Face Trainer on the same text job (not a test).

    .venv/bin/python bench/bench_text.py                      # SMS subset, both, side by side
    .venv/bin/python bench/bench_text.py --n 2000 --epochs 2 --max-length 128

Same backbone (the offline MiniLM), same stratified subset and split, batch size, epochs,
max_length, learning rate, warm-up and weight decay; both pad each batch dynamically and use
fused AdamW. Each side runs in its own subprocess, so peak RSS is its own. Reported:
  train samples/s  training samples / time in the training loop (no model load, no evaluation)
  wall s           the whole job: load, tokenize, train, evaluate, save
  peak RSS MB      the subprocess's maximum resident memory
  val accuracy     on the same validation split (context, not the point)
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
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "text" / "sms_spam.tsv"


def read_tsv(path: Path) -> tuple[list[str], list[str]]:
    """SMS layout: header, then label<TAB>text."""
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    pairs = [line.split("\t", 1) for line in lines if "\t" in line]
    return [text for _, text in pairs], [label for label, _ in pairs]


def the_job(args) -> dict:
    from ftui.data.split import label_names, split_examples

    texts, labels = read_tsv(Path(args.data))
    train_idx, val_idx = split_examples(labels, 0.25, args.seed, args.n, texts)
    return {"train": ([texts[i] for i in train_idx], [labels[i] for i in train_idx]),
            "val": ([texts[i] for i in val_idx], [labels[i] for i in val_idx]),
            "labels": label_names([labels[i] for i in train_idx])}

# -- the two workers ------------------------------------------------------------------------
def run_ftui(args) -> dict:
    from ftui.config import RunConfig
    from ftui.engine.loop import TrainData, train
    from ftui.engine.sinks import MemorySink
    from ftui.models.catalog import resolve
    from ftui.tasks import get_task

    job = the_job(args)
    config = RunConfig.build("text", "all-MiniLM-L6-v2", "u-0000000000000000", args.lr, args.epochs,
                             {"batch_size": args.batch_size, "max_length": args.max_length, "seed": args.seed,
                              "warmup_ratio": 0.1, "weight_decay": 0.01})
    data = TrainData(job["labels"], *job["train"], *job["val"])
    memory = MemorySink()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = train(config, get_task("text"), resolve("text", config.model), data, memory, threading.Event(),
                       Path(out) / "model")
    wall = time.perf_counter() - started
    evals = [r for r in memory.records() if r["event"] == "EvalLogged"]
    return {"who": "ftui", "train_samples_per_s": result.samples / result.train_seconds, "wall_s": wall,
            "peak_rss_mb": peak_rss_mb(), "val_accuracy": evals[-1]["accuracy"] if evals else None,
            "n_train": len(data.train_inputs)}


def run_trainer(args) -> dict:
    import numpy as np
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)

    from ftui.models.catalog import minilm_folder

    job = the_job(args)
    label_id = {name: i for i, name in enumerate(job["labels"])}
    started = time.perf_counter()
    set_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_folder(), num_labels=len(label_id), id2label=dict(enumerate(job["labels"])), label2id=label_id)

    def encode(texts, labels):
        enc = tokenizer(texts, truncation=True, max_length=args.max_length)
        return [{**{k: enc[k][i] for k in enc}, "labels": label_id[labels[i]]} for i in range(len(texts))]

    train_set, val_set = encode(*job["train"]), encode(*job["val"])
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
            num_train_epochs=args.epochs, learning_rate=args.lr, warmup_steps=0.1, weight_decay=0.01,
            lr_scheduler_type="linear", seed=args.seed, save_strategy="no", eval_strategy="no",
            logging_steps=10, report_to=[], disable_tqdm=True)
        trainer = Trainer(model=model, args=training_args, train_dataset=train_set,
                          data_collator=DataCollatorWithPadding(tokenizer))
        metrics = trainer.train().metrics
        predictions = trainer.predict(val_set)
        trainer.save_model(Path(out) / "model")
    wall = time.perf_counter() - started
    accuracy = float((np.argmax(predictions.predictions, -1) == predictions.label_ids).mean())
    n = len(train_set) * args.epochs
    return {"who": "hf-trainer", "train_samples_per_s": n / metrics["train_runtime"], "wall_s": wall,
            "peak_rss_mb": peak_rss_mb(), "val_accuracy": accuracy, "n_train": len(train_set)}


# -- the side-by-side ------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--n", type=int, default=800, help="stratified subset size (train + validation)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["ftui", "trainer"], help="run one side only")
    parser.add_argument("--worker", choices=["ftui", "trainer"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # inside a subprocess: run one side, print one JSON line
        # Import the heavy modules before either side starts its clock, so wall time is the job's.
        import transformers.models.bert.modeling_bert  # noqa: F401
        result = run_ftui(args) if args.worker == "ftui" else run_trainer(args)
        print("RESULT " + json.dumps(result))
        return 0

    if not Path(args.data).is_file():
        print(f"data not found: {args.data}", file=sys.stderr)
        return 2
    passthrough = ["--data", args.data, "--n", str(args.n), "--epochs", str(args.epochs), "--batch-size",
                   str(args.batch_size), "--max-length", str(args.max_length), "--lr", str(args.lr), "--seed", str(args.seed)]
    sides = [args.only] if args.only else ["ftui", "trainer"]
    return compare(__file__, passthrough, sides, lambda r: (f"job: MiniLM-L6, {r['n_train']} train examples, {args.epochs} epoch(s), "
                                     f"batch {args.batch_size}, max_length {args.max_length}, lr {args.lr}"))


if __name__ == "__main__":
    sys.exit(main())
