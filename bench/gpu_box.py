"""The shared box on a real GPU (a device check, not a test; needs nvidia-smi and one GPU).

    .venv/bin/python bench/gpu_box.py [--epochs 20]

Two runs share GPU 0 (--runs-per-gpu 2), a third waits in the queue; each worker's GPU memory shows per
process; after Stop every worker is gone and the GPU's used memory is back to where it was before.
Prints one line per check and exits 1 if one fails.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "assets" / "examples" / "sms_spam_sample.csv"


def used_mib() -> int:
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[0])


def main() -> int:
    from ftui.engine.local_backend import detect_gpus, gpu_memory_by_pid, plan_slots
    from ftui.services import Services

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    if not detect_gpus():
        print("no GPU (nvidia-smi lists none): nothing to check here")
        return 2
    failed = []

    def check(ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            failed.append(what)

    before = used_mib()
    with TemporaryDirectory() as folder:
        services = Services(Path(folder) / "runs", slots=plan_slots("0", runs_per_gpu=2))
        try:
            upload = services.accept_upload(None, DATA)
            runs = [services.start_run(None, "text", "all-MiniLM-L6-v2", None, 1e-4, args.epochs, {},
                                       upload_id=upload) for _ in range(3)]
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and sum(services.run_status(None, r, 10**9)["n_rows"] > 0
                                                      for r in runs[:2]) < 2:
                time.sleep(0.5)
            states = [services.run_status(None, r, 10**9)["state"] for r in runs]
            check(states == ["running", "running", "queued"], f"two runs share GPU 0, a third waits: {states}")
            pids = [pid for _, _, pid in services.jobs.held()]
            memory = gpu_memory_by_pid()
            check(all(memory.get(pid, 0) > 0 for pid in pids), f"each worker holds GPU memory: {memory}")
            print(f"GPU 0 used: {before} MiB before, {used_mib()} MiB with two runs", flush=True)
            for run_id in runs:
                services.stop_run(None, run_id)
            for run_id in runs:
                services.jobs.wait(services.store.run_dir(None, run_id), timeout=120)
        finally:
            services.close()
    time.sleep(2)
    after = used_mib()
    check(after <= before + 64, f"GPU memory given back: {before} MiB before, {after} MiB after")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
