"""Inspect once (not a test): what pressing Train costs after an image ZIP was inspected, through the API.

    .venv/bin/python bench/inspect_once.py [--n 300] [--min-side 64] [--max-side 128]

Builds a ZIP of `n` small JPEGs in two class folders, launches the app in-process on a free port and,
with gradio_client like a user's script, calls /inspect_dataset (upload, safe extraction, every picture
decoded and checked) and then /start_run on the returned upload_id (the kept reading in
<upload>/inspection/ is read back, the split frozen, the run queued). Prints both wall times, their
ratio (the goal: start_run <= 10% of inspect), the same two actions timed inside Services (without
Gradio's per-call cost, shown by a no-op call) and how many pictures each call decoded (counted
in-process: start_run should decode none; the exit status is 1 if it decoded any). The run itself is held before it reads its data and then
stopped: its training is not what is measured here. Only numbers from an otherwise idle machine mean
anything.
"""
from __future__ import annotations

import argparse
import io
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

GOAL = 0.10  # start_run's share of the inspect time


def build_zip(path: Path, n: int, min_side: int, max_side: int, seed: int = 0) -> Path:
    """`n` JPEGs, half "red", half "blue": noise over a class colour, random sizes, a random box each."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(n):
            label = ("red", "blue")[i % 2]
            w, h = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
            base = np.array((190, 50, 50) if label == "red" else (50, 50, 190), dtype=np.int16)
            pixels = np.clip(base + rng.integers(-60, 61, size=(h, w, 3)), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels, "RGB")
            x, y = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            ImageDraw.Draw(image).rectangle((x, y, x + w // 3, y + h // 3), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=90)
            archive.writestr(f"shapes/{label}/{label}-{i:04d}.jpg", buf.getvalue())
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--min-side", type=int, default=64)
    parser.add_argument("--max-side", type=int, default=128)
    args = parser.parse_args(argv)

    from gradio_client import Client, handle_file

    from ftui.data import images
    from ftui.engine import jobs
    from ftui.server import serve
    from ftui.services import Services

    decodes = []
    real_decode, real_train_data = images.decode, jobs.read_train_data
    measured = threading.Event()

    def counting_decode(data, **kwargs):
        decodes.append(1)
        return real_decode(data, **kwargs)

    def held_train_data(run_dir):  # the queued run waits until start_run's decodes are counted
        measured.wait()
        return real_train_data(run_dir)

    images.decode = counting_decode  # the inspection's check and the batches' load_square look it up here
    jobs.read_train_data = held_train_data

    with tempfile.TemporaryDirectory(prefix="ftui-inspect-once-") as tmp:
        tmp = Path(tmp)
        data = build_zip(tmp / "shapes.zip", args.n, args.min_side, args.max_side)
        zip_mb = data.stat().st_size / 1e6
        services = Services(tmp / "runs", max_upload_mb=200)
        services.warm_up().join()  # as launch.py does: the training stack imported before the first run
        in_service: dict[str, float] = {}
        for name in ("inspect_dataset", "start_run"):  # the API calls these attributes: time the action alone
            setattr(services, name, timed(getattr(services, name), name, in_service))
        port = free_port()
        demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True, max_upload_mb=200)
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            round_trips = []
            for _ in range(6):  # the first call's set-up is not counted
                start = time.perf_counter()
                client.predict("image", api_name="/list_models")
                round_trips.append(time.perf_counter() - start)
            round_trip = statistics.median(round_trips[1:])

            start = time.perf_counter()
            summary = client.predict("image", handle_file(data), {}, api_name="/inspect_dataset")
            inspect_s = time.perf_counter() - start
            inspect_decodes = len(decodes)

            start = time.perf_counter()
            run_id = client.predict("image", "efficientnet-lite0", summary["upload_id"], 5e-4, 1,
                                    {"image_size": 64, "train_head_only": True}, api_name="/start_run")
            start_s = time.perf_counter() - start
            start_decodes = len(decodes) - inspect_decodes

            client.predict(run_id, api_name="/stop_run")  # stopped while held: nothing is trained
            measured.set()
            services.jobs.wait(services.store.run_dir(None, run_id), 120)
        finally:
            measured.set()
            demo.close()
            services.close()
            images.decode, jobs.read_train_data = real_decode, real_train_data

    def verdict(ratio: float) -> str:
        return f"{ratio:.1%} (goal <= {GOAL:.0%}: {'met' if ratio <= GOAL else 'NOT met'})"

    print(f"ZIP: {args.n} JPEGs, {args.min_side}-{args.max_side} px, {zip_mb:.2f} MB; "
          f"inspected {summary['n_examples']} examples ({summary['n_skipped']} skipped)")
    print("                   API call   in Services   pictures decoded")
    print(f"/inspect_dataset   {inspect_s:6.3f} s   {in_service['inspect_dataset']:7.3f} s   {inspect_decodes:8d}")
    print(f"/start_run         {start_s:6.3f} s   {in_service['start_run']:7.3f} s   {start_decodes:8d}")
    print(f"a no-op API call (/list_models, median of 5): {round_trip:.3f} s")
    print(f"start_run / inspect through the API: {verdict(start_s / inspect_s)}")
    print(f"start_run / inspect in Services:     {verdict(in_service['start_run'] / in_service['inspect_dataset'])}")
    return 0 if start_decodes == 0 else 1  # the promise: Train decodes nothing the inspection decoded


def timed(action, name: str, into: dict):
    def call(*args, **kwargs):
        start = time.perf_counter()
        try:
            return action(*args, **kwargs)
        finally:
            into[name] = time.perf_counter() - start

    return call


if __name__ == "__main__":
    sys.exit(main())
