"""Train press -> first chart point, now that training runs in a worker process (not a test).

    .venv/bin/python bench/first_point.py [--repeats 3]

What a user waits for between pressing Train and the first point on the loss chart (the head-first stage's
result): Services.start_run, the worker process taking the run, the backbone loaded, every example read
once by the frozen backbone, the head fitted, the first metrics row written. Three ways, each on a fresh
runs folder, the example data set (500 SMS messages) on the offline default MiniLM:

  warm      the server's one waiting worker (torch imported) takes the run -- what `launch.py` does
  cold      no waiting worker: a new `python -m ftui.worker` process pays for its imports
  in-process  the same run body (worker.run_job) in a thread of this process, imports already done: what a
            Train press cost when training ran in a server thread (the floor a process can approach; its
            first repeat pays for the first forward pass, as a warm worker's only one does)

Only numbers from an otherwise idle machine mean anything.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "assets" / "examples" / "sms_spam_sample.csv"


def first_row_s(services, run_id: str, started: float, timeout: float = 300) -> float:
    while time.monotonic() - started < timeout:
        if services.run_status(None, run_id, since=10**9)["n_rows"]:
            return time.monotonic() - started
        time.sleep(0.02)
    raise RuntimeError(f"no metrics row within {timeout} s")


def one(way: str) -> float:
    from ftui.services import Services

    with TemporaryDirectory() as folder:
        services = Services(Path(folder) / "runs")
        try:
            upload_id = services.accept_upload(None, DATA)
            if way == "warm":
                services.warm_up()
                time.sleep(12)  # the worker finishes its imports, as it does while a user picks data
            threads, cancel = [], threading.Event()
            if way == "in-process":
                from ftui.worker import run_job

                services.jobs.shutdown()  # nobody else takes the run
                services.jobs.submit = lambda run_dir, **_: threads.append(threading.Thread(
                    target=run_job, args=(run_dir, cancel), daemon=True)) or threads[-1].start()
            started = time.monotonic()
            run_id = services.start_run(None, "text", "all-MiniLM-L6-v2", None, 1e-4, 1, {}, upload_id=upload_id)
            seconds = first_row_s(services, run_id, started)
            services.stop_run(None, run_id)
            cancel.set()
            for thread in threads:
                thread.join()
            services.jobs.wait(services.store.run_dir(None, run_id), timeout=120)
            return seconds
        finally:
            services.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from ftui.worker import _warm_up

    _warm_up()  # in-process: the imports (and transformers' lazy ones) a server thread had done long before

    results = {}
    for way in ("in-process", "warm", "cold"):
        times = [one(way) for _ in range(args.repeats)]
        results[way] = statistics.median(times)
        print(f"{way:>10}: median {results[way]:.2f} s  ({', '.join(f'{t:.2f}' for t in times)})", flush=True)
    print(f"warm / in-process: x{results['warm'] / results['in-process']:.2f}; "
          f"cold / in-process: x{results['cold'] / results['in-process']:.2f}")


if __name__ == "__main__":
    main()
