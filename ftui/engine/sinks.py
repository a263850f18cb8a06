"""Sinks: observers of training events. They record; they never steer training.

JsonlSink    metrics.jsonl, one event per line, flushed (the charts' and the tests' oracle)
MemorySink   the same records in memory, for the live snapshot (no file reads per poll)
StatusSink   status.json: state, progress, step, ETA, best evaluation, saved model, error

A RunStarted with `start_step` (a resume) makes JsonlSink and MemorySink first drop what was logged
after that step, so the curve continues without duplicate steps.
FanOut       sends each event to several sinks; one failing sink cannot stop training
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from ftui.atomic import write_text_atomic
from ftui.engine.events import (EvalLogged, Event, PreflightMeasured, RecipeChosen, RunFailed, RunFinished,
                                RunStarted, StageProgress, StepLogged, drop_after, to_record)
from ftui.runs.store import read_jsonl, read_status, write_json_atomic
from ftui.vocab import RunState

log = logging.getLogger(__name__)


class Sink(Protocol):
    def emit(self, event: Event) -> None: ...


class JsonlSink:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        if isinstance(event, StageProgress):  # progress, not a result: status.json has it
            return
        line = json.dumps(to_record(event), ensure_ascii=False)
        if isinstance(event, RunStarted) and self.path.exists():
            self._keep_until(event.start_step)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            # Open-append-close per event: a few per second at most, and nothing is left half-written
            # in a buffer if the process dies.
            f.write(line + "\n")
            f.flush()

    def _keep_until(self, step: int) -> None:
        """Rewrite the log without the records after `step` (and without a half-written last line)."""
        kept = drop_after(read_jsonl(self.path), step)
        with self._lock:
            write_text_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))


class MemorySink:
    def __init__(self, records: list[dict] | None = None):
        self._records: list[dict] = list(records or [])  # a resumed run starts with its log so far
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        if isinstance(event, StageProgress):
            return
        record = to_record(event)
        with self._lock:
            if isinstance(event, RunStarted):
                self._records = drop_after(self._records, event.start_step)
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
                start, total = event.start_step, max(1, event.total_steps)
                s.update(state=RunState.RUNNING, started=event.time, ended=None, error=None, progress=start / total,
                         step=start, total_steps=event.total_steps, epochs=event.epochs,
                         epoch=round(start / max(1, event.steps_per_epoch), 4), eta_s=None,
                         samples_per_second=None, n_train=event.n_train, n_validation=event.n_validation,
                         stopped_early=False, saved_model="best" if event.best else None, preflight=None,
                         stage=None, **_best_fields(event.best))
                if start:
                    s["resumed_from_step"] = start
                if event.extended_from_epochs is not None:
                    s["extended_from_epochs"] = event.extended_from_epochs
                self._first_step = None
            elif isinstance(event, StepLogged):
                total = max(1, int(s.get("total_steps") or 1))
                s.update(step=event.step, epoch=round(event.epoch, 4), progress=min(1.0, event.step / total),
                         samples_per_second=round(event.samples_per_second, 2), elapsed_s=round(event.elapsed_s, 2),
                         train_loss=event.loss)
                if event.stage == "head":
                    s["stage"] = "head"
                else:
                    s["stage"] = "full"
                    if self._first_step is None:
                        self._first_step = (event.step, event.elapsed_s)
                    # No ETA before pre-flight has measured the first real steps (then: the pace so far).
                    if s.get("preflight"):
                        s["eta_s"] = _eta(self._first_step, event.step, event.elapsed_s, total)
                force = False
            elif isinstance(event, RecipeChosen):
                s.update(recipe=event.summary, choices=event.choices)
            elif isinstance(event, StageProgress):
                s.update(stage=event.stage, stage_done=event.done, stage_total=event.total)
                force = event.done in (0, event.total)
            elif isinstance(event, PreflightMeasured):
                s.update(preflight={"seconds_per_step": event.seconds_per_step, "peak_memory_mb": event.peak_memory_mb,
                                    "batch_size": event.batch_size, "eta_s": event.eta_s, "device": event.device},
                         eta_s=event.eta_s)
            elif isinstance(event, EvalLogged):
                best = s.get("best_accuracy")
                s.update(best_accuracy=event.accuracy if best is None else max(best, event.accuracy),
                         last_accuracy=event.accuracy, validation_loss=event.loss, epoch=round(event.epoch, 4))
                if event.is_best:  # model/ holds it already: the run can predict from now on
                    s.update(saved_model="best", **_best_fields({"step": event.step, "epoch": event.epoch,
                                                                "accuracy": event.accuracy, "loss": event.loss}))
            elif isinstance(event, RunFinished):
                s.update(state=event.state, step=event.step, ended=time.time(), eta_s=0.0,
                         elapsed_s=round(event.elapsed_s, 2), stopped_early=event.stopped_early)
                # The loop's rule: model/ holds the best evaluation when there was one, else the last weights.
                if s.get("best_step") is not None:
                    s["saved_model"] = "best"
                elif event.step > 0:
                    s["saved_model"] = "last"
                if event.state == RunState.FINISHED:
                    s["progress"] = 1.0
            elif isinstance(event, RunFailed):
                s.update(state=RunState.FAILED, ended=time.time(), eta_s=None,
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


def _best_fields(best: dict | None) -> dict:
    """status.json's best_* fields from {step, epoch, accuracy, loss} (all None without one)."""
    best = best or {}
    fields = {f"best_{key}": best.get(key) for key in ("step", "epoch", "accuracy", "loss")}
    if fields["best_epoch"] is not None:
        fields["best_epoch"] = round(fields["best_epoch"], 4)
    return fields


def _eta(first: tuple[int, float], step: int, elapsed: float, total: int) -> float | None:
    """Seconds left, from the pace since the first logged step (model loading excluded)."""
    first_step, first_elapsed = first
    if step <= first_step:
        return None
    per_step = (elapsed - first_elapsed) / (step - first_step)
    return round(max(0.0, (total - step) * per_step), 1)
