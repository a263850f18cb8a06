"""Quality and speed: ftui's defaults vs the Hugging Face Trainer's defaults (not a test).

    .venv/bin/python bench/quality.py [--sets sms,trec,waimai,antsbees,antsbees128-20,fsdd]
                                      [--sides ftui,trainer] [--max-train N] [--out FILE] [--resume]

Same backbone, same train/test split per set; each (set, side) runs in its own subprocess with 2 torch
threads. What each side is:
  ftui     what a new user gets: the task's default catalog model and learning rate, default options,
           3 epochs (or ftui.engine.adapt.default_epochs when it exists); like the studio with one
           uploaded file, ftui holds out 20% of the training data (seed 42) as its validation split
           and keeps its best-by-validation model.
  trainer  the recipe a newcomer copies from the HF docs/tutorials: TrainingArguments defaults (lr 5e-5,
           batch 8, 3 epochs, linear decay, no warm-up, no weight decay, AdamW, seed 42) on ALL the
           training data, no validation, the last model; the tutorials' preprocessing per modality.
Sets: sms, waimai (stratified 20% test, seed 0), trec (train_5500 / TREC_10, coarse labels),
antsbees (hymenoptera train / val), antsbees128-20 (20 train photos per class, every photo's shorter
side downscaled to 128 px once into bench/.cache/), fsdd-<speaker> (train on the other three speakers).
`--sets fsdd` means all four speakers; `--max-train N` draws a stratified N from the training data
(smoke runs). Results go to --out as JSON lines, one per (set, side); `--resume` keeps that file and
skips the (set, side) pairs already in it (same --max-train). Each worker's output: bench/.cache/logs/.

Columns:
  n_train          examples the side trained on (ftui: after holding out its validation split)
  test acc         accuracy on the set's test split
  macro-F1         F1 averaged over classes with equal weight (catches a side that ignores a small class)
  wall s           from just before training starts (model loading, tokenising/featurising included;
                   imports excluded) to after the test set is predicted
  train samples/s  training samples / seconds in the training loop (ftui: TrainResult.train_seconds;
                   Trainer: train_runtime); evaluation and prediction not counted
  ftui÷Trainer     per set: test acc and macro-F1 as ftui minus Trainer, wall and samples/s as ratios
Timings compare only within one invocation on an otherwise idle machine; rows marked * were read
back from --out (an earlier invocation) and their timings are context only.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from sidebyside import ROOT, run_worker  # bench/ is the script's folder, so on sys.path

DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / ".cache"
SPEAKERS = ("george", "jackson", "lucas", "nicolas")
SETS = ("sms", "trec", "waimai", "antsbees", "antsbees128-20", *(f"fsdd-{s}" for s in SPEAKERS))
SIDES = ("ftui", "trainer")
TASK_OF = {"sms": "text", "trec": "text", "waimai": "text", "antsbees": "image", "antsbees128-20": "image"}
SPLIT_SEED = 0  # our test splits and subsamples; ftui's own validation split uses the studio's 42
STUDIO_SEED = 42
FALLBACK_EPOCHS = 3
THREADS = 2  # torch threads per side
BACKBONE = {"text": "all-MiniLM-L6-v2", "image": "efficientnet-lite0", "audio": "whisper-tiny.en"}  # Trainer side


# -- the sets: (inputs, labels) pairs; image/audio inputs are absolute paths -----------------------
def read_sms() -> tuple[list[str], list[str]]:
    lines = (DATA / "text" / "sms_spam.tsv").read_text(encoding="utf-8").splitlines()[1:]  # header
    pairs = [line.split("\t", 1) for line in lines if "\t" in line]
    return [text for _, text in pairs], [label for label, _ in pairs]


def read_trec(name: str) -> tuple[list[str], list[str]]:
    """`COARSE:fine question text`, Latin-1: the coarse label (6 classes)."""
    lines = [l for l in (DATA / "text" / "trec" / name).read_text(encoding="latin-1").splitlines() if l.strip()]
    return [l.split(" ", 1)[1].strip() for l in lines], [l.split(":", 1)[0] for l in lines]


def read_waimai() -> tuple[list[str], list[str]]:
    import csv

    with open(DATA / "text" / "zh" / "waimai_10k.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["review"] for r in rows], [r["label"] for r in rows]


def cache_dir() -> Path:
    """bench/.cache/, which ignores itself for git (the repository's .gitignore is not this file's to change)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    return CACHE


def image_folder(root: Path) -> tuple[list[str], list[str]]:
    """Class folders -> (paths, labels), skipping what PIL cannot open: both sides get this same list."""
    from PIL import Image

    paths, labels = [], []
    for path in sorted(p for p in root.glob("*/*") if p.is_file()):
        try:
            with Image.open(path) as im:
                im.convert("RGB")
        except Exception:  # noqa: BLE001 - any decode failure means "not a usable photo"
            print(f"skipped (PIL cannot open it): {path}", file=sys.stderr)
            continue
        paths.append(str(path))
        labels.append(path.parent.name)
    return paths, labels


def small_photos(side: int = 128, per_class: int = 20) -> Path:
    """The antsbees128-20 folder: built once (JPEG q90, shorter side = `side`), then reused. Written into a
    temporary sibling and renamed, so a half-built folder is never taken for a finished one."""
    from PIL import Image, ImageOps

    target = cache_dir() / f"antsbees{side}-{per_class}"
    if target.is_dir():
        return target
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=CACHE))
    rng = random.Random(SPLIT_SEED)
    for split in ("train", "val"):
        paths, labels = image_folder(DATA / "image" / "hymenoptera" / split)
        if split == "train":  # a fixed seeded choice of `per_class` photos per class
            paths = [p for label in sorted(set(labels))
                     for p in rng.sample([p for p, y in zip(paths, labels) if y == label], per_class)]
        for path in map(Path, paths):
            with Image.open(path) as im:
                # upright first: saving drops EXIF, so a rotated phone photo would otherwise land sideways
                picture = ImageOps.exif_transpose(im).convert("RGB")
            scale = side / min(picture.size)
            picture = picture.resize((max(side, round(picture.width * scale)), max(side, round(picture.height * scale))),
                                     Image.LANCZOS)
            out = work / split / path.parent.name / (path.stem + ".jpg")
            out.parent.mkdir(parents=True, exist_ok=True)
            picture.save(out, "JPEG", quality=90)
    try:
        work.rename(target)
    except OSError:  # built meanwhile by someone else: theirs is the same
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return target


def fsdd(speaker: str) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """{digit}_{speaker}_{index}.wav: train on the other speakers, test on this one."""
    files = sorted((DATA / "audio" / "fsdd").glob("*.wav"))
    pairs = lambda fs: ([str(f) for f in fs], [f.name.split("_", 1)[0] for f in fs])  # noqa: E731
    return (pairs([f for f in files if f.stem.split("_")[1] != speaker]),
            pairs([f for f in files if f.stem.split("_")[1] == speaker]))


def take(pair, idx):
    return [pair[0][i] for i in idx], [pair[1][i] for i in idx]


def load_set(name: str, max_train: int | None) -> dict:
    from ftui.data.split import split_examples

    if name in ("sms", "waimai"):
        every = read_sms() if name == "sms" else read_waimai()
        train_idx, test_idx = split_examples(every[1], 0.2, SPLIT_SEED, None, every[0])
        train, test = take(every, train_idx), take(every, test_idx)
    elif name == "trec":
        train, test = read_trec("train_5500.label"), read_trec("TREC_10.label")
    elif name == "antsbees":
        root = DATA / "image" / "hymenoptera"
        train, test = image_folder(root / "train"), image_folder(root / "val")
    elif name == "antsbees128-20":
        root = small_photos()
        train, test = image_folder(root / "train"), image_folder(root / "val")
    elif name.startswith("fsdd-") and name[5:] in SPEAKERS:
        train, test = fsdd(name[5:])
    else:
        raise SystemExit(f"unknown set {name!r}; known: {', '.join(SETS)}, fsdd")
    if max_train and max_train < len(train[0]):
        train = take(train, split_examples(train[1], 0, SPLIT_SEED, max_train)[0])  # stratified subset
    return {"task": TASK_OF.get(name, "audio"), "train": train, "test": test}


def scores(true: list[str], predicted: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(true, predicted)),
            "macro_f1": float(f1_score(true, predicted, average="macro", zero_division=0))}


# -- the ftui side ---------------------------------------------------------------------------------
def ftui_epochs(task: str, n_train: int) -> tuple[int, str]:
    """ftui's default epochs: engine.adapt.default_epochs(task, n_train) once it exists, else 3."""
    import importlib

    try:
        adapt = importlib.import_module("ftui.engine.adapt")
    except ModuleNotFoundError as exc:
        if exc.name != "ftui.engine.adapt":  # the module exists but is broken: say so, do not guess
            raise
        return FALLBACK_EPOCHS, "fixed"
    if not hasattr(adapt, "default_epochs"):
        return FALLBACK_EPOCHS, "fixed"
    return int(adapt.default_epochs(task, n_train)), "default_epochs"


def run_ftui(job: dict) -> dict:
    from ftui.config import RunConfig
    from ftui.data.split import label_names, split_examples
    from ftui.engine.loop import TrainData, train
    from ftui.engine.sinks import MemorySink
    from ftui.models.catalog import list_models, resolve
    from ftui.predict import Predictor
    from ftui.tasks import get_task

    task = job["task"]
    entry = next(m for m in list_models(task) if m["default"])
    inputs, labels = job["train"]
    train_idx, val_idx = split_examples(labels, 0.2, STUDIO_SEED, None, inputs)  # as the studio, one file
    (tr_x, tr_y), (va_x, va_y) = take(job["train"], train_idx), take(job["train"], val_idx)
    epochs, epochs_from = ftui_epochs(task, len(tr_x))  # n_train: what it trains on, after the hold-out
    config = RunConfig.build(task, entry["id"], "u-0000000000000000", entry["learning_rate"], epochs, {})
    data = TrainData(labels=label_names(tr_y), train_inputs=tr_x, train_labels=tr_y, val_inputs=va_x, val_labels=va_y)
    with tempfile.TemporaryDirectory(prefix="ftui-quality-") as out:
        started = time.perf_counter()
        result = train(config, get_task(task), resolve(task, entry["id"]), data, MemorySink(), threading.Event(),
                       Path(out) / "model")
        predictor = Predictor.from_model_dir(Path(out) / "model", task=task, options=config.train)
        predicted = [predictor.labels[i] for i in predictor.probabilities(job["test"][0]).argmax(-1).tolist()]
        wall = time.perf_counter() - started
    return {**scores(job["test"][1], predicted), "wall_s": wall,
            "train_samples_per_s": result.samples / max(result.train_seconds, 1e-9),
            "model": entry["id"], "learning_rate": entry["learning_rate"], "epochs": epochs, "epochs_from": epochs_from,
            "n_train": len(tr_x), "n_val": len(va_x), "state": result.state, "best": result.best}


# -- the Trainer side: per modality, (model, train dataset, test dataset, collator or None) ---------
def trainer_text(train_x: list, train_ids: list[int], test_x: list, names: list[str]):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    from ftui.models.catalog import minilm_folder

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    model = AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=len(names))

    def encode(texts, ids=()):
        enc = tokenizer(texts, truncation=True, max_length=128)
        rows = [{k: enc[k][i] for k in enc} for i in range(len(texts))]
        for row, y in zip(rows, ids):
            row["labels"] = y
        return rows

    return model, encode(train_x, train_ids), encode(test_x), DataCollatorWithPadding(tokenizer)


def trainer_image(train_x: list, train_ids: list[int], test_x: list, names: list[str]):
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torchvision import transforms as T

    from ftui.models.catalog import efficientnet_lite0_weights
    from ftui.models.vision import efficientnet

    class Classifier(torch.nn.Module):
        """What Trainer wants of a plain module: forward(pixel_values, labels) -> {loss, logits}."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, pixel_values, labels=None):
            logits = self.net(pixel_values)
            return {"logits": logits} if labels is None else {"loss": F.cross_entropy(logits, labels), "logits": logits}

    class Photos(torch.utils.data.Dataset):  # decoded on the fly, every epoch: the tutorials' way
        def __init__(self, paths, ids, transform):
            self.paths, self.ids, self.transform = paths, ids, transform

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            with Image.open(self.paths[i]) as im:
                row = {"pixel_values": self.transform(im.convert("RGB"))}
            if self.ids is not None:
                row["labels"] = self.ids[i]
            return row

    normalize = T.Normalize(mean=[0.5] * 3, std=[0.5] * 3)  # EfficientNet-Lite's x/127.5 - 1
    train_tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), normalize])
    test_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), normalize])
    model = Classifier(efficientnet(len(names), 224, weights=str(efficientnet_lite0_weights())))
    return model, Photos(train_x, train_ids, train_tf), Photos(test_x, None, test_tf), None


def trainer_audio(train_x: list, train_ids: list[int], test_x: list, names: list[str]):
    import soundfile
    import torch
    import torchaudio.functional as AF

    from ftui.models import whisper
    from ftui.models.catalog import resolve

    folder = whisper.converted_folder(Path(resolve("audio", BACKBONE["audio"]).location))
    model, _head, extractor = whisper.classifier(folder, names, 3.0)  # takes input_features (+ labels)

    def featurise(paths, ids=()):  # once up front, as the tutorial's dataset.map
        rows = []
        for path in paths:
            samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
            wave = AF.resample(torch.from_numpy(samples.mean(axis=1)), rate, 16000).numpy()
            features = extractor(wave, sampling_rate=16000, max_length=48000, padding="max_length", truncation=True,
                                 return_tensors="pt")
            rows.append({"input_features": features["input_features"][0]})
        for row, y in zip(rows, ids):
            row["labels"] = y
        return rows

    return model, featurise(train_x, train_ids), featurise(test_x), None


def run_trainer(job: dict) -> dict:
    from transformers import Trainer, TrainingArguments, set_seed

    from ftui.data.split import label_names

    names = label_names(job["train"][1])
    train_ids = [names.index(y) for y in job["train"][1]]
    build = {"text": trainer_text, "image": trainer_image, "audio": trainer_audio}[job["task"]]
    with tempfile.TemporaryDirectory(prefix="trainer-quality-") as out:
        started = time.perf_counter()
        set_seed(STUDIO_SEED)  # the new head's init repeats run to run (Trainer seeds only once it exists)
        model, train_set, test_set, collator = build(job["train"][0], train_ids, job["test"][0], names)
        args = TrainingArguments(output_dir=out, save_strategy="no", eval_strategy="no", report_to=[],
                                 disable_tqdm=True)  # everything else: the defaults
        trainer = Trainer(model=model, args=args, train_dataset=train_set, data_collator=collator)
        metrics = trainer.train().metrics
        logits = trainer.predict(test_set).predictions
        wall = time.perf_counter() - started
    predicted = [names[i] for i in logits.argmax(-1).tolist()]
    return {**scores(job["test"][1], predicted), "wall_s": wall,
            "train_samples_per_s": len(train_set) * args.num_train_epochs / metrics["train_runtime"],
            "model": BACKBONE[job["task"]],
            "learning_rate": args.learning_rate, "epochs": int(args.num_train_epochs), "n_train": len(train_set), "n_val": 0}


def worker(side: str, name: str, max_train: int | None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never wait on a hub
    # Both sides get the same 2 threads; ftui's engine sets its own count (one per core it may use)
    # unless FTUI_THREADS says otherwise, which on a bigger machine would give it more than the Trainer.
    os.environ["FTUI_THREADS"] = str(THREADS)
    import torch

    torch.set_num_threads(THREADS)
    job = load_set(name, max_train)
    # The heavy imports happen here, before either side starts its clock.
    import sklearn.metrics  # noqa: F401
    import transformers  # noqa: F401
    if job["task"] == "text":
        import transformers.models.bert.modeling_bert  # noqa: F401
    elif job["task"] == "image":
        import efficientnet_lite_pytorch, PIL.Image, torchvision.transforms  # noqa: F401, E401
    else:
        import soundfile, torchaudio.functional, transformers.models.whisper.modeling_whisper  # noqa: F401, E401
    if side == "ftui":
        import ftui.engine.loop, ftui.predict  # noqa: F401, E401
        result = run_ftui(job)
    else:
        import transformers.trainer  # noqa: F401
        result = run_trainer(job)
    return {"set": name, "side": side, "task": job["task"], "max_train": max_train, "n_test": len(job["test"][0]),
            **result}


# -- the table ---------------------------------------------------------------------------------------
def print_table(rows: list[dict], sets: list[str], out: Path) -> None:
    print(f"{'set':16} {'side':14} {'n_train':>7} {'test acc':>9} {'macro-F1':>9} {'wall s':>8} {'train samples/s':>16}")
    for name in sets:
        mine = {r["side"]: r for r in rows if r["set"] == name}
        for side in SIDES:
            if side in mine:
                r = mine[side]
                label = side + ("*" if r.get("resumed") else "")
                print(f"{name:16} {label:14} {r['n_train']:>7} {r['accuracy']:>9.4f} {r['macro_f1']:>9.4f} "
                      f"{r['wall_s']:>8.1f} {r['train_samples_per_s']:>16.1f}")
        if len(mine) == 2:
            a, b = mine["ftui"], mine["trainer"]
            print(f"{name:16} {'ftui÷Trainer':14} {'':>7} {a['accuracy'] - b['accuracy']:>+9.4f} "
                  f"{a['macro_f1'] - b['macro_f1']:>+9.4f} {'x%.2f' % (a['wall_s'] / b['wall_s']):>8} "
                  f"{'x%.2f' % (a['train_samples_per_s'] / b['train_samples_per_s']):>16}")
    if any(r.get("resumed") for r in rows):
        print(f"* read back from {out}: an earlier invocation; compare timings only within one invocation")


def pick_sets(text: str) -> list[str]:
    names = [one for name in text.split(",") if name.strip()
             for one in ([f"fsdd-{s}" for s in SPEAKERS] if name.strip() == "fsdd" else [name.strip()])]
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise SystemExit(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(SETS)}, fsdd")
    return list(dict.fromkeys(names))  # in order, once each


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS[:5]) + ",fsdd", help="comma list; fsdd = all four speakers")
    parser.add_argument("--sides", default="ftui,trainer")
    parser.add_argument("--max-train", type=int, default=None, help="stratified subsample of the training data")
    parser.add_argument("--out", default=str(ROOT / "bench" / "quality_results.jsonl"))
    parser.add_argument("--resume", action="store_true", help="keep --out and skip (set, side) pairs already in it")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--set", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # inside a subprocess: one side of one set, one JSON line
        print("RESULT " + json.dumps(worker(args.worker, args.set, args.max_train)))
        return 0

    sets, sides = pick_sets(args.sets), [s.strip() for s in args.sides.split(",") if s.strip()]
    if not set(sides) <= set(SIDES) or not sides:
        raise SystemExit(f"--sides: pick from {', '.join(SIDES)}")
    if not DATA.is_dir():
        print(f"data not found: {DATA}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.resume and out.is_file():
        rows = [{**r, "resumed": True} for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())
                if r["set"] in sets and r["side"] in sides and r.get("max_train") == args.max_train]
    else:
        out.write_text("")  # a fresh run: the file holds this invocation's rows only
    done = {(r["set"], r["side"]) for r in rows}
    todo = [(name, side) for name in sets for side in sides if (name, side) not in done]
    failed = 0
    for k, (name, side) in enumerate(todo, start=1):
        passthrough = ["--worker", side, "--set", name] + (["--max-train", str(args.max_train)] if args.max_train else [])
        result, failure = run_worker(__file__, passthrough, log=cache_dir() / "logs" / f"{name}-{side}.log")
        if result is None:
            failed += 1
            print(f"[{k}/{len(todo)}] {name} {side}: FAILED\n{failure}", file=sys.stderr)
            continue
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")
        rows.append(result)
        print(f"[{k}/{len(todo)}] {name} {side}: acc {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}, "
              f"wall {result['wall_s']:.1f} s, {result['train_samples_per_s']:.1f} samples/s", file=sys.stderr)
    print_table(rows, sets, out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
