"""JobManager: trains runs in background threads, queues the rest, answers live snapshots.

    jobs = JobManager(store, max_concurrent=1)
    jobs.submit(run_dir, config, source)   # returns at once; state "queued" until a slot frees
    jobs.resume(run_dir, config, source, extra_epochs=0)  # continue from checkpoints/last, same queue
    jobs.snapshot(run_dir, since=0)        # live from memory, else from the run's files
    jobs.cancel(run_dir)                   # stop at the next step; the model so far is saved

A job reads everything it needs from the run directory (labels.json, the frozen split), so the
same job could later run in a worker subprocess writing the same files. This module does not
import torch: the web app imports it at start-up, and the loop is imported by the first job.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ftui.config import MAX_EPOCHS, RunConfig
from ftui.data.split import read_split
from ftui.engine import checkpoint  # torch-free at import; torch loads when a checkpoint is read
from ftui.engine.events import RunFailed, RunFinished, metric_rows
from ftui.engine.sinks import FanOut, JsonlSink, MemorySink, StatusSink
from ftui.errors import FtuiError
from ftui.messages import describe
from ftui.models.catalog import ModelSource
from ftui.runs.store import RunStore, read_json, read_jsonl, read_status, write_json_atomic
from ftui.vocab import RunState

log = logging.getLogger(__name__)


@dataclass
class _Job:
    run_dir: Path
    config: RunConfig
    source: ModelSource
    status: StatusSink
    memory: MemorySink = field(default_factory=MemorySink)
    resume_from: checkpoint.Checkpoint | None = None  # read and checked once, when the resume was asked for
    start_step: int = 0  # its step
    cancel: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class JobManager:
    def __init__(self, store: RunStore, max_concurrent: int = 1):
        self.store = store
        self.max_concurrent = max(1, int(max_concurrent))
        self._lock = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._jobs: dict[Path, _Job] = {}  # queued + running, by resolved run_dir
        self._workers: list[threading.Thread] = []
        self._closing = False
        self.ready = threading.Event()  # cleared while the app warms the training stack up (Services.warm_up)
        self.ready.set()

    # -- public -------------------------------------------------------------------------
    def submit(self, run_dir: Path, config: RunConfig, source: ModelSource) -> None:
        """Queue a run whose folder already holds config.json, labels.json and data/. Returns at once."""
        run_dir = Path(run_dir).resolve()
        self._enqueue(_Job(run_dir=run_dir, config=config, source=source, status=StatusSink(run_dir),
                           memory=MemorySink(read_jsonl(run_dir / "metrics.jsonl"))), progress=0.0, earlier_s=0.0)

    def resume(self, run_dir: Path, config: RunConfig, source: ModelSource, extra_epochs: int = 0) -> RunConfig:
        """Continue a stopped or interrupted run from its checkpoint (extra_epochs=0), or train a run
        `extra_epochs` more epochs (config.json is rewritten with the new total). Same queue, threads and
        sinks as `submit`; the run appends to its metrics.jsonl. The checkpoint is read and checked
        completely first: a damaged one raises checkpoint_corrupt with nothing in the run changed.
        A run with no checkpoint yet (stopped before its first evaluation or epoch end) starts over.
        Returns the config the run continues with."""
        run_dir = Path(run_dir).resolve()
        if self.is_active(run_dir):
            raise FtuiError("run_active", run_id=run_dir.name, state=read_status(run_dir).get("state", RunState.QUEUED))
        extra = whole_number(extra_epochs)
        if extra is None or extra < 0 or config.epochs + extra > MAX_EPOCHS:
            raise FtuiError("bad_epochs", value=extra_epochs, maximum=MAX_EPOCHS - config.epochs)
        folder = checkpoint.find(run_dir)
        if folder is None:
            if extra:
                raise FtuiError("no_checkpoint", run_id=run_dir.name)
            self.submit(run_dir, config, source)
            return config
        loaded = checkpoint.load(folder, run_dir.name)  # everything checked; nothing changed yet
        if extra:
            config = dataclasses.replace(config, epochs=config.epochs + extra).validated()
            write_json_atomic(run_dir / "config.json", config.to_dict())
        self._enqueue(_Job(run_dir=run_dir, config=config, source=source, status=StatusSink(run_dir),
                           memory=MemorySink(read_jsonl(run_dir / "metrics.jsonl")), resume_from=loaded,
                           start_step=int(loaded.state["step"])), earlier_s=_trained_so_far(read_status(run_dir)))
        return config

    def _enqueue(self, job: _Job, **status) -> None:
        run_dir = job.run_dir
        with self._lock:
            if self._closing:
                raise RuntimeError("JobManager is shut down")
            if run_dir in self._jobs:
                raise FtuiError("run_active", run_id=run_dir.name, state=RunState.QUEUED)
            job.status.set(state=RunState.QUEUED, error=None, queued=time.time(), **status)
            self._jobs[run_dir] = job
            self._queue.append(job)
            if len(self._workers) < self.max_concurrent:
                worker = threading.Thread(target=self._work, name=f"ftui-train-{len(self._workers) + 1}",
                                          daemon=True)  # daemon: a dying app leaves "running", recovered at start
                self._workers.append(worker)
                worker.start()
            self._lock.notify()

    def cancel(self, run_dir: Path) -> bool:
        """Ask a run to stop. Queued: it never starts. Running: it stops at its next step."""
        run_dir = Path(run_dir).resolve()
        with self._lock:
            job = self._jobs.get(run_dir)
            if job is None:
                return False
            job.cancel.set()
            if not job.started:  # still queued: nobody else will ever write its status
                self._queue.remove(job)
                del self._jobs[run_dir]
                self._record_cancelled_while_queued(job)
                job.done.set()
        return True

    def is_active(self, run_dir: Path) -> bool:
        with self._lock:
            return Path(run_dir).resolve() in self._jobs

    def wait(self, run_dir: Path, timeout: float | None = None) -> str | None:
        """Block until the run is no longer queued/running; returns its final state (for CLI, tests)."""
        with self._lock:
            job = self._jobs.get(Path(run_dir).resolve())
        if job is not None and not job.done.wait(timeout):
            return None
        return read_status(Path(run_dir)).get("state")

    def snapshot(self, run_dir: Path, since: int = 0) -> dict:
        """Everything a progress view needs; live jobs from memory, others from metrics.jsonl/status.json
        (so it also works for runs of a previous process)."""
        run_dir = Path(run_dir).resolve()
        with self._lock:
            job = self._jobs.get(run_dir)
        if job is not None:
            status, records = job.status.current(), job.memory.records()
        else:
            status, records = read_status(run_dir), read_jsonl(run_dir / "metrics.jsonl")
        rows = metric_rows(records)
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

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel everything and wait (briefly) for running jobs to save and stop."""
        with self._lock:
            self._closing = True
            jobs = list(self._jobs.values())
        for job in jobs:
            self.cancel(job.run_dir)
        deadline = time.monotonic() + timeout
        with self._lock:
            self._lock.notify_all()
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    # -- worker threads -----------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._lock.wait()
                if not self._queue:  # closing and nothing left
                    return
                job = self._queue.popleft()
                job.started = True
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._jobs.pop(job.run_dir, None)
                job.done.set()

    def _run(self, job: _Job) -> None:
        """One job, start to end. Any exception becomes RunFailed + status "failed" with a message;
        the worker thread itself never dies of it."""
        sink = FanOut(JsonlSink(job.run_dir / "metrics.jsonl"), job.memory, job.status)
        # "running" at once: importing torch and loading the model take seconds before RunStarted.
        job.status.set(state=RunState.RUNNING, started=time.time())
        try:
            self.ready.wait()  # a run pressed during start-up waits for the warm-up's imports, never races them
            from ftui.engine.loop import train  # torch: imported by the first job, not by the web app
            from ftui.tasks import get_task

            data = read_train_data(job.run_dir)
            train(job.config, get_task(job.config.task), job.source, data, sink, job.cancel, job.run_dir / "model",
                  checkpoint_dir=checkpoint.last_dir(job.run_dir), resume_from=job.resume_from)
        except Exception as exc:  # noqa: BLE001 - the run fails with a readable message; the server lives on
            log.exception("run %s failed", job.run_dir.name)
            _write_error_log(job.run_dir)
            if isinstance(exc, FtuiError):
                code, message = exc.code, describe(exc.code, exc.detail)
            else:
                reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:400]
                code, message = "training_failed", describe("training_failed", {"reason": reason})
            sink.emit(RunFailed(code=code, message=message, step=int(job.status.current().get("step") or 0)))

    def _record_cancelled_while_queued(self, job: _Job) -> None:
        FanOut(JsonlSink(job.run_dir / "metrics.jsonl"), job.status).emit(
            RunFinished(state=RunState.STOPPED, step=job.start_step, elapsed_s=0.0))


def read_train_data(run_dir: Path):
    """labels.json + the frozen split -> TrainData (the only inputs a job reads)."""
    from ftui.engine.loop import TrainData

    labels = read_json(run_dir / "labels.json")
    if not labels:
        raise FtuiError("training_failed", reason="labels.json is missing or empty")
    train_inputs, train_labels = read_split(run_dir / "data", "train")
    val_inputs, val_labels = read_split(run_dir / "data", "validation")
    unknown = sorted(set(train_labels) - set(labels))
    if unknown:
        raise FtuiError("training_failed", reason=f"training labels missing from labels.json: {unknown[:5]}")
    if not train_inputs:
        raise FtuiError("no_examples")
    return TrainData(labels=list(labels), train_inputs=train_inputs, train_labels=train_labels,
                     val_inputs=val_inputs, val_labels=val_labels)


def whole_number(value) -> int | None:
    """A whole number (3, 3.0, "3"), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def log_tail(run_dir: Path, lines: int = 20) -> str | None:
    """The last lines of a failed run's error.log (its traceback), for the page and run_status."""
    try:
        text = (run_dir / "error.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return "\n".join(text.splitlines()[-lines:])


def _write_error_log(run_dir: Path) -> None:
    """The full traceback next to the run, for whoever debugs it (the UI shows the short message)."""
    try:
        (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
    except OSError as exc:  # the run folder itself is gone or read-only: the log line above remains
        log.warning("could not write error.log in %s: %s", run_dir, exc)


def _trained_so_far(status: dict) -> float:
    """Seconds a run trained before a resume (earlier stretches included): its duration keeps counting
    from there rather than restarting."""
    started, ended = status.get("started"), status.get("ended")
    stretch = ended - started if isinstance(started, (int, float)) and isinstance(ended, (int, float)) else 0.0
    return round(float(status.get("earlier_s") or 0.0) + max(0.0, stretch), 3)
