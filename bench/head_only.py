"""Time to a useful model (not a test): from pressing Train to the first prediction of a head-only run.

    .venv/bin/python bench/head_only.py [--n 1000] [--only text,audio,image128,image224]

What a user of the studio waits for with the "Head only" recipe: Services.start_run (the upload is
read, the split frozen), the backbone loaded, every example read once by the frozen backbone, the head
fitted, and then a first prediction answered. Each job runs in its own subprocess (a cold Python:
imports included in "cold s", excluded from "warm s"). Data from ../shared/data: 1,000 SMS messages,
1,000 FSDD clips, and 1,000 photos cut from the hymenoptera set (random crops of its 397 photos, saved
once under bench/.cache/, at 128 px or full size). Only numbers from an otherwise idle machine mean
anything.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import zipfile
from pathlib import Path

from sidebyside import ROOT, run_worker

DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / ".cache" / "head_only"
JOBS = ("text", "audio", "image128", "image224")


def text_file(n: int) -> Path:
    lines = (DATA / "text" / "sms_spam.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    random.Random(0).shuffle(rows)
    path = CACHE / f"sms-{n}.tsv"
    path.write_text("\n".join([header, *rows[:n]]) + "\n", encoding="utf-8")
    return path


def audio_zip(n: int) -> Path:
    clips = sorted((DATA / "audio" / "fsdd").glob("*.wav"))
    random.Random(0).shuffle(clips)
    path = CACHE / f"fsdd-{n}.zip"
    with zipfile.ZipFile(path, "w") as z:
        for clip in clips[:n]:
            z.write(clip, f"{clip.stem.split('_')[0]}/{clip.name}")
    return path


def image_zip(n: int, side: int | None) -> Path:
    """n distinct photos: random crops (60-100% of each side) of hymenoptera's, shorter side `side`."""
    from PIL import Image

    sources = [p for p in sorted((DATA / "image" / "hymenoptera").rglob("*.jpg"))]
    rng = random.Random(0)
    path = CACHE / f"photos-{n}-{side or 'full'}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(n):
            source = sources[i % len(sources)]
            picture = Image.open(source).convert("RGB")
            w, h = picture.size
            cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
            left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
            crop = picture.crop((left, top, left + cw, top + ch))
            if side:
                scale = side / min(crop.size)
                crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.BICUBIC)
            out = CACHE / "tmp.jpg"
            crop.save(out, quality=90)
            z.write(out, f"{source.parent.name}/{i:04d}.jpg")
    return path


def worker(job: str, n: int) -> dict:
    cold = time.perf_counter()
    import tempfile

    from ftui.services import Services

    task, data = {"text": ("text", lambda: text_file(n)), "audio": ("audio", lambda: audio_zip(n)),
                  "image128": ("image", lambda: image_zip(n, 128)), "image224": ("image", lambda: image_zip(n, None))}[job]
    CACHE.mkdir(parents=True, exist_ok=True)
    path = data()
    model = {"text": "all-MiniLM-L6-v2", "image": "efficientnet-lite0", "audio": "whisper-tiny.en"}[task]
    options = {"train_head_only": True}
    with tempfile.TemporaryDirectory() as runs:
        services = Services(runs, max_upload_mb=200)
        upload = services.inspect_dataset(None, task, path)  # the Data tab: done before Train is pressed
        warm = time.perf_counter()
        run_id = services.start_run(None, task, model, None, 1e-4, 1, options, upload_id=upload["upload_id"])
        state = services.jobs.wait(services.store.run_dir(None, run_id), timeout=900)
        validation = services.store.run_dir(None, run_id) / "data" / "validation.jsonl"
        example = json.loads(validation.read_text(encoding="utf-8").splitlines()[0])["input"]
        services.predict(None, run_id, example if task == "text" else Path(example))
        done = time.perf_counter()
        status = services.run_status(None, run_id)
        services.close()
    return {"job": job, "n": n, "state": state, "warm_s": round(done - warm, 1), "cold_s": round(done - cold, 1),
            "validation_accuracy": status.get("best_accuracy")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--only", default=",".join(JOBS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.n)))
        return 0
    print(f"{'job':10} {'n':>6} {'state':>9} {'warm s':>7} {'cold s':>7} {'val acc':>8}")
    for job in args.only.split(","):
        result, failure = run_worker(__file__, ["--n", str(args.n), "--worker", job])
        if result is None:
            print(failure, file=sys.stderr)
            return 1
        acc = result["validation_accuracy"]
        print(f"{job:10} {result['n']:6d} {result['state']:>9} {result['warm_s']:7.1f} {result['cold_s']:7.1f} "
              f"{'-' if acc is None else f'{acc:.3f}':>8}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
