"""Sinks: observers of training events. They record; they never steer training.

JsonlSink    metrics.jsonl, one event per line, flushed (the charts' and the tests' oracle)
MemorySink   the same records in memory, for the live snapshot (no file reads per poll)
StatusSink   status.json: state, progress, step, ETA, best accuracy, error
FanOut       sends each event to several sinks; one failing sink cannot stop training
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from ftui.engine.events import (EvalLogged, Event, RunFailed, RunFinished, RunStarted, StepLogged,
                                to_record)
from ftui.runs.store import read_status, write_json_atomic

log = logging.getLogger(__name__)


class Sink(Protocol):
    def emit(self, event: Event) -> None: ...


class JsonlSink:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        line = json.dumps(to_record(event), ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            # Open-append-close per event: a few per second at most, and nothing is left half-written
            # in a buffer if the process dies.
            f.write(line + "\n")
            f.flush()


class MemorySink:
    def __init__(self):
        self._records: list[dict] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        record = to_record(event)
        with self._lock:
            self._records.append(record)

    def records(self) -> list[dict]:
        with self._lock:
            return list(self._records)


class StatusSink:
    """Keeps the run's status in memory and in status.json.

    State changes are written at once; progress is written at most every `min_interval_s`,
    so tiny fast runs do not spend their time rewriting a file.
    """

    def __init__(self, run_dir: Path, min_interval_s: float = 1.0):
        self.run_dir = Path(run_dir)
        self.min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._status = read_status(self.run_dir)  # keeps what services wrote (created, data_name, ...)
        self._last_write = 0.0
        self._first_step: tuple[int, float] | None = None  # (step, elapsed) of the first log, for the ETA

    def current(self) -> dict:
        with self._lock:
            return dict(self._status)

    def set(self, **changes) -> None:
        """Direct update (queued / cancelled-while-queued), written at once."""
        with self._lock:
            self._status.update(changes)
            self._write()

    def emit(self, event: Event) -> None:
        with self._lock:
            s = self._status
            force = True
            if isinstance(event, RunStarted):
                s.update(state="running", started=event.time, ended=None, error=None, progress=0.0, step=0,
                         total_steps=event.total_steps, epochs=event.epochs, epoch=0.0, eta_s=None,
                         samples_per_second=None, best_accuracy=None, n_train=event.n_train,
                         n_validation=event.n_validation)
                self._first_step = None
            elif isinstance(event, StepLogged):
                total = max(1, int(s.get("total_steps") or 1))
                s.update(step=event.step, epoch=round(event.epoch, 4), progress=min(1.0, event.step / total),
                         samples_per_second=round(event.samples_per_second, 2), elapsed_s=round(event.elapsed_s, 2),
                         train_loss=event.loss)
                if self._first_step is None:
                    self._first_step = (event.step, event.elapsed_s)
                s["eta_s"] = _eta(self._first_step, event.step, event.elapsed_s, total)
                force = False
            elif isinstance(event, EvalLogged):
                best = s.get("best_accuracy")
                s.update(best_accuracy=event.accuracy if best is None else max(best, event.accuracy),
                         last_accuracy=event.accuracy, validation_loss=event.loss)
            elif isinstance(event, RunFinished):
                s.update(state=event.state, step=event.step, ended=time.time(), eta_s=0.0,
                         elapsed_s=round(event.elapsed_s, 2))
                if event.state == "finished":
                    s["progress"] = 1.0
            elif isinstance(event, RunFailed):
                s.update(state="failed", ended=time.time(), eta_s=None,
                         error={"code": event.code, "message": event.message})
            else:
                force = False
            if force or time.monotonic() - self._last_write >= self.min_interval_s:
                self._write()

    def _write(self) -> None:
        write_json_atomic(self.run_dir / "status.json", self._status)
        self._last_write = time.monotonic()


class FanOut:
    def __init__(self, *sinks: Sink):
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception:  # noqa: BLE001 - an observer's failure (disk full, ...) is logged, not fatal
                log.exception("sink %s failed on %s", type(sink).__name__, type(event).__name__)


def _eta(first: tuple[int, float], step: int, elapsed: float, total: int) -> float | None:
    """Seconds left, from the pace since the first logged step (model loading excluded)."""
    first_step, first_elapsed = first
    if step <= first_step:
        return None
    per_step = (elapsed - first_elapsed) / (step - first_step)
    return round(max(0.0, (total - step) * per_step), 1)
