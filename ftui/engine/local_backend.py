"""The local backend: each run trains in its own worker process (`python -m ftui.worker RUN_DIR`).

    backend = LocalBackend()                   # keep_warm=True: one worker waits with torch imported
    worker = backend.start(run_dir, slot)      # its own session and process group, the slot's GPUs
    worker.exit_code()                         # None while it lives
    worker.ask_to_stop(); worker.kill()        # SIGTERM = graceful stop; SIGKILL to the whole group
    backend.adopt(run_dir)                     # after a server restart: the live worker of a run, if any

A slot says which GPU a run may use (CUDA_VISIBLE_DEVICES; "" on a CPU-only box hides any GPU) and how
many CPU threads it gets (FTUI_THREADS): the box's cores are shared between the slots on purpose, as
torch alone would give every process all of them. Nothing here knows about users or queues.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ftui.engine.launch import WORKER_MODULE, gpus_refusal, run_gpus, worker_command, worker_env
from ftui.runs.store import read_json

log = logging.getLogger(__name__)
WORKER_FILE = "worker.json"  # written by the worker: {pid, create_time, started, gpus}; its mtime is the heartbeat
LOG_FILE = "worker.log"
STOP_FILE = "STOP"  # a stop request the worker reads every second


@dataclass(frozen=True)
class Slot:
    index: int
    gpu: str | None  # a CUDA device index ("0,1": a slot of two GPUs, for multi-GPU runs), or None for a CPU slot
    threads: int  # 0: the worker takes the cores its machine gives it
    place: str = ""  # where it trains when not on this box ("Ray")

    def env(self) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": self.gpu or "", "FTUI_THREADS": str(self.threads)}

    def label(self) -> str:
        if self.place:
            return f"{self.place} slot {self.index + 1}"
        return f"GPU {self.gpu}" if self.gpu is not None else f"CPU slot {self.index + 1}"


def detect_gpus() -> list[str]:
    """The box's NVIDIA GPUs by index (nvidia-smi, not torch: the server does not load CUDA)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=15, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def gpu_memory_by_pid() -> dict[int, int]:
    """MiB of GPU memory each process uses (nvidia-smi's compute apps); {} without a GPU."""
    if not shutil.which("nvidia-smi"):
        return {}
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=15, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    used = {}
    for line in out.splitlines():
        pid, _, mib = line.partition(",")
        if pid.strip().isdigit() and mib.strip().isdigit():
            used[int(pid)] = used.get(int(pid), 0) + int(mib)
    return used


def process_memory_mb(pid: int) -> int | None:
    """Resident memory of a worker and everything it started (data loader processes), in MB."""
    try:
        root = psutil.Process(pid)
        return round(sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20)
    except psutil.Error:
        return None


def plan_slots(gpus: str = "auto", runs_per_gpu: int = 1, max_concurrent_runs: int = 1) -> list[Slot]:
    """--gpus auto|none|0,1,...: runs_per_gpu slots per GPU; no GPU: max_concurrent_runs CPU slots.
    `0+1` groups GPUs into one slot (what a run with the gpus option needs). The cores are split evenly."""
    spec = str(gpus or "auto").strip().lower()
    if spec == "auto":
        devices = detect_gpus()
    elif spec == "none":
        devices = []
    else:
        devices = [d.strip() for d in spec.split(",") if d.strip()]
        if not all(d.replace("+", "").isdigit() and "++" not in f"+{d}+" for d in devices):
            raise ValueError(f"--gpus takes auto, none or GPU indexes like 0,1 (0+1: one slot of two) (got {gpus!r})")
        devices = [d.replace("+", ",") for d in devices]
    places = [d for d in devices for _ in range(max(1, int(runs_per_gpu)))] or [None] * max(1, int(max_concurrent_runs))
    threads = max(1, len(os.sched_getaffinity(0)) // len(places))
    return [Slot(index=i, gpu=gpu, threads=threads) for i, gpu in enumerate(places)]


@dataclass
class Worker:
    """One training process, started here (`popen`) or re-adopted after a restart (`process` only)."""
    run_dir: Path
    pid: int
    popen: subprocess.Popen | None = None  # ours: its exit code is known
    process: psutil.Process | None = None  # re-adopted: only whether it lives is known
    started: float = field(default_factory=time.time)
    stop_asked: float | None = None
    stopped_by_loss = False  # only a cluster job is told to stop because it was lost
    stop_file: bool = False  # a multi-GPU run is asked by the STOP file every rank reads (torchrun would
    # SIGKILL ranks still saving 30 s after a SIGTERM)

    @property
    def lost(self) -> bool:
        """True when the worker ended in a way nobody can read (a re-adopted process is not our child): its
        run is then interrupted, and resumable, rather than failed."""
        return self.popen is None

    def exit_code(self) -> int | None:
        """None while the process lives; its exit code after (None is never returned for a dead one: an
        adopted process, not our child, reports 0 and its status file says how it ended)."""
        if self.popen is not None:
            return self.popen.poll()
        try:
            alive = self.process.is_running() and self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            alive = False
        return None if alive else 0

    def wait_exit(self, timeout: float) -> int:
        """The exit code once the process ended (after a kill), waiting at most `timeout` s."""
        try:
            return self.popen.wait(timeout) if self.popen else 0
        except subprocess.TimeoutExpired:
            return -9

    def last_sign_of_life(self) -> float:
        """The newest of: the start, and the worker's heartbeat (worker.json's modification time)."""
        try:
            beat = (self.run_dir / WORKER_FILE).stat().st_mtime
        except OSError:
            beat = 0.0
        return max(self.started, beat)

    def ask_to_stop(self) -> None:
        """SIGTERM: the worker ends the run at its next step and saves the model so far."""
        self.stop_asked = self.stop_asked or time.time()
        if self.stop_file:
            (self.run_dir / STOP_FILE).touch()
        else:
            _signal(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the whole process group: the worker and anything it started (data loader processes,
        a grandchild). The group id is the worker's pid (it was started as a session leader)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            _signal(self.pid, signal.SIGKILL)

    def leftovers(self) -> list[int]:
        """Pids still in the worker's process group (after it ended, these are killed too)."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == self.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc.pid)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return found


class LocalBackend:
    def __init__(self, command: list[str] | None = None, keep_warm: bool = False):
        """command: what starts a worker (a test passes a fake one); RUN_DIR is appended."""
        self.command = list(command or [sys.executable, "-m", WORKER_MODULE])
        self.keep_warm = keep_warm and command is None
        self._warm: tuple[subprocess.Popen, dict] | None = None  # (process, the env it was started with)

    def start(self, run_dir: Path, slot: Slot) -> Worker:
        gpus = run_gpus(run_dir)  # more than 1: torchrun, one process per GPU, never the warm worker
        if (problem := gpus_refusal(gpus, [slot])) is not None:
            raise problem
        env = worker_env(slot, gpus)
        log_path = run_dir / LOG_FILE
        (run_dir / STOP_FILE).unlink(missing_ok=True)  # left by an earlier stretch (a lost cluster job)
        popen = self._take_warm(env) if gpus == 1 else None
        if popen is not None:
            try:
                popen.stdin.write(json.dumps({"run_dir": str(run_dir), "env": env, "log": str(log_path)}) + "\n")
                popen.stdin.close()
            except OSError:  # it died just now: a cold one instead
                _end(popen)
                popen = None
        if popen is None:
            with open(log_path, "ab") as out:
                command = [*self.command, str(run_dir)] if gpus == 1 else worker_command(self.command[0], gpus, run_dir)
                popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True)
        return Worker(run_dir=run_dir, pid=popen.pid, popen=popen, stop_file=gpus > 1)

    def prepare_warm(self, env: dict[str, str]) -> None:
        """Keep one worker waiting with the training stack imported, started with `env` (the GPUs a process
        may use are fixed when CUDA starts, so a warm worker only serves a slot with the same env)."""
        if not self.keep_warm or (self._warm is not None and self._warm[0].poll() is None):
            return
        popen = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, "--warm"], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                                 env={**os.environ, **env}, start_new_session=True)
        self._warm = (popen, env)

    def _take_warm(self, env: dict[str, str]) -> subprocess.Popen | None:
        if self._warm is None:
            return None
        popen, warm_env = self._warm
        self._warm = None
        if popen.poll() is None and warm_env == env:
            return popen
        _end(popen)
        return None

    def lr_test(self, folder: Path, slot: Slot, spec: dict, timeout_s: float = 600) -> dict:
        """The learning-rate test in its own worker process (`--lr-test`), with a slot's GPUs and threads; the
        RangeTest as a dict, or the worker's FtuiError raised here."""
        import tempfile

        from ftui.atomic import write_json_atomic
        from ftui.errors import FtuiError

        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".lr-test-", dir=folder) as work:
            spec_path = Path(work) / "spec.json"
            write_json_atomic(spec_path, spec)
            with open(Path(work) / LOG_FILE, "wb") as out:
                process = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, "--lr-test", str(spec_path)],
                                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                           env={**os.environ, **slot.env()}, start_new_session=True)
            try:
                code = process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise FtuiError("worker_hung", seconds=timeout_s) from None
            answer = read_json(spec_path.with_suffix(".result.json"), None) or {}
        if "test" in answer:
            return answer["test"]
        if "error" in answer:
            raise FtuiError(answer["error"]["code"], **(answer["error"].get("detail") or {}))
        raise FtuiError("worker_killed") if code in (-9, 137) else FtuiError("worker_crashed", how=f"exit code {code}")

    def adopt(self, run_dir: Path) -> Worker | None:
        """The worker that worker.json names, if that very process still lives (same pid *and* start time:
        a recycled pid belongs to someone else)."""
        identity = read_json(run_dir / WORKER_FILE, {}) or {}
        try:
            process = psutil.Process(int(identity["pid"]))
            if abs(process.create_time() - float(identity["create_time"])) > 0.01:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
        except (KeyError, TypeError, ValueError, psutil.Error):
            return None
        return Worker(run_dir=run_dir, pid=process.pid, process=process, started=time.time())

    def close(self) -> None:
        if self._warm is not None:
            _end(self._warm[0])
            self._warm = None


def _end(popen: subprocess.Popen) -> None:
    """A warm worker no longer wanted (it trains nothing): killed, and reaped."""
    try:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=5)
    except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
        pass


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
