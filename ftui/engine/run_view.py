"""What a progress view reads of a run, from its files alone: the snapshot (status.json + metrics.jsonl),
read incrementally, and the small helpers around it. No process, no lock on anyone else's state."""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from pathlib import Path

from ftui.engine.events import metric_rows
from ftui.engine.local_backend import LOG_FILE
from ftui.messages import describe
from ftui.runs.store import read_json, read_status, update_status
from ftui.vocab import RunState


def snapshot(run_dir: Path, metrics: "MetricsReader", since: int = 0) -> dict:
    """{state, progress, step, ..., rows (metric rows from row `since` on), log_tail (failed runs)}."""
    status = read_status(run_dir)
    rows = metric_rows(metrics.records(run_dir / "metrics.jsonl"))
    since = max(0, int(since or 0))
    state = status.get("state", "unknown")
    started, ended = status.get("started"), status.get("ended")
    earlier = float(status.get("earlier_s") or 0.0)  # before a resume
    if started and state == RunState.RUNNING:
        elapsed = earlier + time.time() - started
    elif started and ended:
        elapsed = earlier + ended - started
    else:
        elapsed = None
    return {
        "state": state,
        "progress": float(status.get("progress") or 0.0),
        "step": int(status.get("step") or 0),
        "total_steps": status.get("total_steps"),
        "epoch": status.get("epoch"),
        "eta_s": status.get("eta_s") if state == RunState.RUNNING else (0.0 if state == RunState.FINISHED else None),
        "samples_per_second": status.get("samples_per_second"),
        "elapsed_s": None if elapsed is None else round(elapsed, 1),
        "error": status.get("error"),
        "rows": rows[since:],
        "n_rows": len(rows),
        "best_accuracy": status.get("best_accuracy"),
        # the saved model: "best" (the evaluation best_step/best_epoch) or "last" (no validation data)
        **{key: status.get(key) for key in ("best_step", "best_epoch", "best_loss", "saved_model",
                                             "stopped_early", "extended_from_epochs", "preflight", "recipe",
                                             "n_train", "n_validation", "epochs",
                                             "stage", "stage_done", "stage_total")},
        "labels": read_json(run_dir / "labels.json", []) or [],
        "log_tail": log_tail(run_dir) if state == RunState.FAILED else None,
    }


class MetricsReader:
    """metrics.jsonl read incrementally: a poll reads only the lines appended since the last one. A file
    replaced (a resume rewrites it) or shorter than before is read again from the start."""

    def __init__(self, keep: int = 64):
        self._cache: OrderedDict[Path, tuple[int, int, list]] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def records(self, path: Path) -> list[dict]:
        try:
            st = path.stat()
        except FileNotFoundError:
            return []
        with self._lock:
            inode, offset, records = self._cache.pop(path, (None, 0, []))
            if inode != st.st_ino or st.st_size < offset:
                offset, records = 0, []
            if st.st_size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read(st.st_size - offset)
                whole = chunk[:chunk.rfind(b"\n") + 1]  # a half-written last line waits for the next poll
                for line in whole.splitlines():
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        continue
                offset += len(whole)
            self._cache[path] = (st.st_ino, offset, records)
            while len(self._cache) > self._keep:
                self._cache.popitem(last=False)
            return list(records)


def mark_interrupted(run_dir: Path, ended: float) -> None:
    """The run lost its worker (the app or the cluster went away): resumable, and said so."""
    update_status(run_dir, state=RunState.INTERRUPTED, ended=ended,
                  error={"code": RunState.INTERRUPTED, "message": describe(RunState.INTERRUPTED)})


def whole_number(value) -> int | None:
    """A whole number (3, 3.0, "3"), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def log_tail(run_dir: Path, lines: int = 20) -> str | None:
    """The last lines of a failed run's error.log (its traceback), else of what its worker printed; None
    when neither has a line (a process killed at once often printed nothing)."""
    for name in ("error.log", LOG_FILE):
        try:
            text = (run_dir / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            return "\n".join(text.rstrip().splitlines()[-lines:])
    return None


def trained_so_far(status: dict) -> float:
    """Seconds a run trained before a resume (earlier stretches included): its duration keeps counting
    from there rather than restarting."""
    started, ended = status.get("started"), status.get("ended")
    stretch = ended - started if isinstance(started, (int, float)) and isinstance(ended, (int, float)) else 0.0
    return round(float(status.get("earlier_s") or 0.0) + max(0.0, stretch), 3)
