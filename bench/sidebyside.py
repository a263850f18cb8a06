"""The side-by-side harness of bench_text.py and bench_audio.py: each side runs in its own subprocess
(`<script> ... --worker ftui|trainer`, which prints one `RESULT {json}` line), so peak RSS is its own;
then one table and the ftui / Trainer ratios. Only ratios from one invocation mean anything."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process's maximum resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(script: str, args: list[str], log: Path | None = None) -> tuple[dict | None, str]:
    """Run `python script *args` from the project root: (its `RESULT {json}` line as a dict, "") or, when it
    failed or printed no such line, (None, the tail of its output). `log`: keep its whole output there."""
    done = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(args)}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}", encoding="utf-8")
    line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
    if done.returncode or line is None:
        return None, done.stdout[-2000:] + "\n" + done.stderr[-4000:]
    return json.loads(line[len("RESULT "):]), ""


def compare(script: str, passthrough: list[str], sides: list[str], describe) -> int:
    """Run each side of `script`, print the table; describe(first result) -> the job's one-line summary."""
    results = []
    for who in sides:
        result, failure = run_worker(script, [*passthrough, "--worker", who])
        if result is None:
            print(failure, file=sys.stderr)
            return 1
        results.append(result)

    print(describe(results[0]))
    print(f"{'':12} {'train samples/s':>16} {'wall s':>8} {'peak RSS MB':>12} {'val acc':>8}")
    for r in results:
        acc = "-" if r["val_accuracy"] is None else f"{r['val_accuracy']:.4f}"
        print(f"{r['who']:12} {r['train_samples_per_s']:16.1f} {r['wall_s']:8.1f} {r['peak_rss_mb']:12.0f} {acc:>8}")
    if len(results) == 2:
        ours, theirs = results
        print(f"ftui / Trainer: throughput x{ours['train_samples_per_s'] / theirs['train_samples_per_s']:.2f}, "
              f"peak RSS x{ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}, wall x{ours['wall_s'] / theirs['wall_s']:.2f}")
    return 0
