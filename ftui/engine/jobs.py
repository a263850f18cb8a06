"""JobManager: queues runs fairly between users, trains each in its own worker process, watches them.

    jobs = JobManager(store, slots=plan_slots("auto"))   # or max_concurrent=N CPU slots
    jobs.submit(run_dir)                   # returns at once; state "queued" until a slot frees
    jobs.resume(run_dir, config, extra_epochs=0)  # continue from checkpoints/last, same queue
    jobs.snapshot(run_dir, since=0)        # from the run's files (the worker writes them), plus queue place
    jobs.cancel(run_dir)                   # queued: never starts; training: stops at its next step, model kept

The server only schedules, watches and reads: runs train in `python -m ftui.worker RUN_DIR` (started by a
backend: local_backend.py, ray_backend.py), so a run that runs out of memory, crashes or hangs fails alone,
saying why. A watcher thread settles ended workers, kills one that ignores a stop or stops beating, and
gives free slots to queued runs (scheduler.py: fair between users). At start-up the queue is rebuilt in its
old order, a live worker is re-adopted, a dead one's run is interrupted. No torch here.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import statistics
import threading
import time
from collections import Counter, deque
from pathlib import Path

from ftui.config import MAX_EPOCHS, RunConfig
from ftui.engine import checkpoint, run_view  # torch-free at import; torch loads when a checkpoint is read
from ftui.engine.events import RunFailed, RunFinished
from ftui.engine.local_backend import WORKER_FILE, LocalBackend, Slot, Worker, plan_slots
from ftui.engine.scheduler import FairQueue, Waiting, start_estimates
from ftui.engine.sinks import FanOut, JsonlSink, StatusSink
from ftui.errors import FtuiError
from ftui.messages import describe
from ftui.runs.store import RUN_ID, RunStore, read_json, read_status, update_status, write_json_atomic
from ftui.vocab import ACTIVE_STATES, RunState

log = logging.getLogger(__name__)
KILLED_CODES = (-9, 137)  # SIGKILL, as Popen and as a shell report it: the kernel's OOM killer, mostly
# The next warm worker is started this long after a run took the last one: its imports (~5 s of a core)
# would otherwise slow down the very run that just started (first chart point measured 7.9 s -> 5.3 s).
WARM_AFTER_S = 20.0


class JobManager:
    def __init__(self, store: RunStore, *, slots: list[Slot] | None = None, max_concurrent: int = 1,
                 backend: LocalBackend | None = None, max_active_per_user: int = 0, max_queued_per_user: int = 0,
                 stop_grace_s: float = 60.0, hang_timeout_s: float = 300.0, poll_s: float = 0.5):
        self.store = store
        self.slots = slots or plan_slots("none", max_concurrent_runs=max_concurrent)
        self.backend = backend or LocalBackend()
        self.queue = FairQueue(max_active_per_user)
        self.max_queued_per_user = max(0, int(max_queued_per_user or 0))
        self.stop_grace_s, self.hang_timeout_s, self.poll_s = stop_grace_s, hang_timeout_s, poll_s
        self._lock = threading.Condition()
        self._running: dict[Path, tuple[Worker, Slot]] = {}
        self._done: dict[Path, threading.Event] = {}  # queued + running runs; set when they end
        self._hung: dict[Path, float] = {}
        self._overdue: set[Path] = set()  # killed after ignoring a stop for stop_grace_s
        self._durations: deque[float] = deque(maxlen=20)  # of finished runs: how long a queued one may take
        self._metrics = run_view.MetricsReader()
        self._closing = False
        self._last_start = 0.0
        self.interrupted = self._recover()
        self._watcher = threading.Thread(target=self._watch, name="ftui-jobs", daemon=True)
        self._watcher.start()

    # -- public -------------------------------------------------------------------------
    def submit(self, run_dir: Path, *, resume: bool = False, earlier_s: float = 0.0) -> None:
        """Queue a run whose folder holds config.json, labels.json and data/. Returns at once."""
        run_dir = Path(run_dir).resolve()
        owner = run_dir.parent.name
        with self._lock:
            if self._closing:
                raise RuntimeError("JobManager is shut down")
            if run_dir in self._done:
                raise FtuiError("run_active", run_id=run_dir.name, state=read_status(run_dir).get("state"))
            if self.max_queued_per_user and self.queue.count(owner) >= self.max_queued_per_user:
                raise FtuiError("queue_full", limit=self.max_queued_per_user)
            queued = time.time()
            update_status(run_dir, state=RunState.QUEUED, error=None, queued_at=queued, resume=resume, earlier_s=earlier_s,
                          **({} if resume else {"progress": 0.0}))
            self.queue.add(Waiting(run_dir, owner, queued))
            self._done[run_dir] = threading.Event()
            self._lock.notify_all()

    def resume(self, run_dir: Path, config: RunConfig, extra_epochs: int = 0) -> RunConfig:
        """Continue a stopped or interrupted run from its checkpoint (extra_epochs=0), or train a run
        `extra_epochs` more epochs (config.json is rewritten with the new total); it appends to its
        metrics.jsonl. The checkpoint is read and checked completely first: a damaged one raises
        checkpoint_corrupt with nothing in the run changed. A run with no checkpoint yet (stopped before its
        first evaluation or epoch end) starts over. Returns the config the run continues with."""
        run_dir = Path(run_dir).resolve()
        self.wait_exit(run_dir)
        if self.is_active(run_dir):
            raise FtuiError("run_active", run_id=run_dir.name, state=read_status(run_dir).get("state", RunState.QUEUED))
        extra = run_view.whole_number(extra_epochs)
        if extra is None or extra < 0 or config.epochs + extra > MAX_EPOCHS:
            raise FtuiError("bad_epochs", value=extra_epochs, maximum=MAX_EPOCHS - config.epochs)
        folder = checkpoint.find(run_dir)
        if folder is None:
            if extra:
                raise FtuiError("no_checkpoint", run_id=run_dir.name)
            self.submit(run_dir)
            return config
        checkpoint.load(folder, run_dir.name)  # everything checked here; the worker reads it again
        if extra:
            config = dataclasses.replace(config, epochs=config.epochs + extra).validated()
            write_json_atomic(run_dir / "config.json", config.to_dict())
        self.submit(run_dir, resume=True, earlier_s=run_view.trained_so_far(read_status(run_dir)))
        return config

    def cancel(self, run_dir: Path) -> bool:
        """Ask a run to stop. Queued: it never starts. Running: its worker stops at the next step."""
        run_dir = Path(run_dir).resolve()
        with self._lock:
            if self.queue.remove(run_dir) is not None:
                status = read_status(run_dir)
                FanOut(JsonlSink(run_dir / "metrics.jsonl"), StatusSink(run_dir)).emit(
                    RunFinished(state=RunState.STOPPED, step=int(status.get("step") or 0), elapsed_s=0.0))
                self._done.pop(run_dir).set()
                return True
            if run_dir in self._running:
                self._running[run_dir][0].ask_to_stop()
                return True
        return False

    def is_active(self, run_dir: Path) -> bool:
        with self._lock:
            return Path(run_dir).resolve() in self._done

    def wait_exit(self, run_dir: Path, timeout: float = 15.0) -> None:
        """A run whose status says it ended while its worker is still exiting (saving, tearing down): wait for
        the process, briefly, so that a resume or a delete right after a stop is not refused."""
        if read_status(Path(run_dir)).get("state") not in ACTIVE_STATES:
            with self._lock:
                done = self._done.get(Path(run_dir).resolve())
            if done is not None:
                done.wait(timeout)

    def wait(self, run_dir: Path, timeout: float | None = None) -> str | None:
        """Block until the run is no longer queued/running; returns its final state (for CLI, tests)."""
        with self._lock:
            done = self._done.get(Path(run_dir).resolve())
        if done is not None and not done.wait(timeout):
            return None
        return read_status(Path(run_dir)).get("state")

    def snapshot(self, run_dir: Path, since: int = 0) -> dict:
        """Everything a progress view needs, from the run's files (run_view.snapshot), plus its place in line."""
        snap = run_view.snapshot(Path(run_dir).resolve(), self._metrics, since)
        snap["queue"] = self.queue_place(run_dir) if snap["state"] == RunState.QUEUED else None
        return snap

    def queue_place(self, run_dir: Path) -> dict | None:
        """{position (1 = next), of, estimated_start_s (None: not known yet)} of a queued run."""
        return self.queue_places().get(Path(run_dir).resolve())

    def queue_places(self) -> dict[Path, dict]:
        """queue_place of every queued run, from one pass over the queue (a runs list asks for all of them)."""
        with self._lock:
            order = [w.run_dir for w in self.queue.order(Counter(d.parent.name for d in self._running))]
            etas = [read_status(d).get("eta_s") for d in self._running] if order else []
            free = len(self.slots) - len(self._running)
            typical = statistics.median(self._durations) if self._durations else None
        starts = start_estimates(len(order), free, etas, typical)
        return {run_dir: {"position": i + 1, "of": len(order), "estimated_start_s": starts[i]}
                for i, run_dir in enumerate(order)}

    def held(self) -> list[tuple[Slot, Path | None, int | None]]:
        """(slot, the run it holds or None, its worker's pid) for every slot: the admin's box view."""
        with self._lock:
            holders = {slot.index: (run_dir, worker.pid) for run_dir, (worker, slot) in self._running.items()}
        return [(slot, *holders.get(slot.index, (None, None))) for slot in self.slots]

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every training worker (each saves its model so far) and wait for them, briefly; a worker
        still alive at the end is killed. Queued runs stay queued on disk: the next start queues them again."""
        with self._lock:
            self._closing = True
            for worker, _ in self._running.values():
                worker.ask_to_stop()
            self._lock.notify_all()
        self._watcher.join(timeout)
        with self._lock:
            for run_dir, (worker, _) in list(self._running.items()):
                worker.kill()
                self._settle(run_dir, worker, worker.wait_exit(5))
            self.backend.close()

    # -- the watcher ----------------------------------------------------------------------
    def _watch(self) -> None:
        while True:
            with self._lock:
                try:
                    self._check_workers()
                    if not self._closing:
                        self._fill_slots()
                        if time.time() - self._last_start > WARM_AFTER_S:
                            self.backend.prepare_warm(self.slots[0].env())
                except Exception:  # noqa: BLE001 - one unreadable run folder must not stop the watching
                    log.exception("the job watcher hit an error; it carries on")
                if self._closing and not self._running:
                    return
                self._lock.wait(self.poll_s)

    def _check_workers(self) -> None:
        now = time.time()
        for run_dir, (worker, _) in list(self._running.items()):
            code = worker.exit_code()
            if code is not None:
                self._settle(run_dir, worker, code)
            elif worker.stop_asked and now - worker.stop_asked > self.stop_grace_s:
                self._overdue.add(run_dir)
                worker.kill()
            elif now - worker.last_sign_of_life() > self.hang_timeout_s:
                self._hung[run_dir] = now - worker.last_sign_of_life()
                worker.kill()

    def _fill_slots(self) -> None:
        busy = {slot.index for _, slot in self._running.values()}
        active = Counter(d.parent.name for d in self._running)
        for slot in (s for s in self.slots if s.index not in busy):
            item = self.queue.pop_next(active)
            if item is None:
                return
            active[item.owner] += 1
            try:
                update_status(item.run_dir, state=RunState.RUNNING, started=time.time())
                self._running[item.run_dir] = (self.backend.start(item.run_dir, slot), slot)
                self._last_start = time.time()
            except Exception as err:  # noqa: BLE001 - a run that cannot start fails with the reason; others go on
                log.exception("run %s could not start", item.run_dir.name)
                with contextlib.suppress(Exception):
                    self._fail(item.run_dir, err if isinstance(err, FtuiError) else FtuiError("worker_not_started", reason=str(err)))
                self._done.pop(item.run_dir).set()

    def _settle(self, run_dir: Path, worker: Worker, code: int) -> None:
        """A worker ended: kill what it left in its group; if it did not say how its run ended, say it."""
        if worker.leftovers():
            worker.kill()
        status = read_status(run_dir)
        hung = self._hung.pop(run_dir, None)
        if worker.lost and (status.get("state") in ACTIVE_STATES
                            or (status.get("state") == RunState.STOPPED and worker.stopped_by_loss)):
            # how it ended cannot be known (re-adopted, or a cluster job whose head vanished; a survivor was
            # told to stop, which is not the user's stop): it can resume
            run_view.mark_interrupted(run_dir, time.time())
        elif status.get("state") in ACTIVE_STATES:
            if hung is not None:
                self._fail(run_dir, FtuiError("worker_hung", seconds=hung))
            elif run_dir in self._overdue:
                self._fail(run_dir, FtuiError("worker_crashed", how=f"it did not stop within {self.stop_grace_s:.0f} s "
                                                                    "of the stop request and was ended"))
            elif code in KILLED_CODES:
                self._fail(run_dir, FtuiError("worker_killed"))
            else:
                how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                self._fail(run_dir, FtuiError("worker_crashed", how=how))
        elif status.get("state") == RunState.FINISHED and isinstance(status.get("elapsed_s"), (int, float)):
            self._durations.append(float(status["elapsed_s"]))
        self._running.pop(run_dir, None)
        self._overdue.discard(run_dir)
        if done := self._done.pop(run_dir, None):
            done.set()

    def _fail(self, run_dir: Path, error: FtuiError) -> None:
        status = StatusSink(run_dir)
        FanOut(JsonlSink(run_dir / "metrics.jsonl"), status).emit(RunFailed(
            code=error.code, message=describe(error.code, error.detail), step=int(status.current().get("step") or 0)))

    def _recover(self) -> list[Path]:
        """At start-up: queued runs are queued again (in their order), a run whose worker still lives is
        re-adopted, one whose worker died is marked interrupted. Returns the interrupted runs."""
        interrupted = []
        for status_file in sorted(self.store.root.glob("*/*/status.json")):
            run_dir = status_file.parent
            if not RUN_ID.match(run_dir.name):
                continue
            status = read_status(run_dir)  # a damaged one says so and is left as it is
            state, owner = status.get("state"), run_dir.parent.name
            if state == RunState.QUEUED and isinstance(status.get("queued_at"), (int, float)):
                self.queue.add(Waiting(run_dir, owner, float(status["queued_at"])))
                self._done[run_dir] = threading.Event()
            elif state == RunState.RUNNING and (worker := self.backend.adopt(run_dir)) is not None:
                self._running[run_dir] = (worker, self._slot_for(worker))
                self._done[run_dir] = threading.Event()
                self.queue.served(owner)
            elif state in ACTIVE_STATES:  # its worker died, or the app died while the run was being created
                # It ended when its status was last written (every logged step), not now: the app may have
                # been down for hours, and a resumed run's duration counts from there.
                run_view.mark_interrupted(run_dir, status_file.stat().st_mtime)
                interrupted.append(run_dir)
        return interrupted

    def _slot_for(self, worker: Worker) -> Slot:
        """The slot a re-adopted worker holds: a free one on its GPU, else any free one (else share one)."""
        gpus = (read_json(worker.run_dir / WORKER_FILE, {}) or {}).get("gpus") or None
        busy = {slot.index for _, slot in self._running.values()}
        free = [s for s in self.slots if s.index not in busy]
        return next((s for s in free if s.gpu == gpus), free[0] if free else self.slots[0])
