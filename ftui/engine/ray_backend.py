"""The Ray backend: each run is a Ray job whose entrypoint is the same `python -m ftui.worker RUN_DIR`.

    backend = RayBackend("http://HEAD:8265")     # ftui keeps its own fair queue and per-user limits
    job = backend.start(run_dir, slot)           # submit_job(entrypoint, submission_id, metadata={user, run})
    job.exit_code(); job.ask_to_stop(); job.kill()

ftui submits a run only when one of its slots is free (`--ray-slots`, each asking Ray for
`--ray-gpus-per-run` GPUs), so runs wait in ftui's fair queue, not in Ray's (a Ray job left pending fails
after 15 minutes by default). A stop is a STOP file in the run folder, read by the worker at its next
second (Ray's own stop_job gives a process only seconds before SIGKILL); `kill` is stop_job. A job that
Ray no longer knows (its head restarted) or that cannot be asked about for a while is *lost*: its run is
interrupted and resumable. ray_job.json in the run folder names the job, so a restarted server re-adopts
it. The runs folder must be storage the server and every Ray node share: `check_shared_storage` proves it
with a probe file written by a Ray job.
"""
from __future__ import annotations

import secrets
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ftui.atomic import write_json_atomic
from ftui.engine.launch import run_gpus, worker_command
from ftui.engine.local_backend import STOP_FILE, LocalBackend, Slot
from ftui.engine.tensorboard_sink import tensorboard_env
from ftui.runs.store import read_json

JOB_FILE = "ray_job.json"
UNREACHABLE_S = 60.0  # a head that does not answer this long: its jobs count as lost
SURVIVOR_QUIET_S = 15.0  # a lost job's worker silent this long (3 heartbeats) has ended
ALIVE = {"PENDING", "RUNNING"}


@dataclass
class RayJob:
    run_dir: Path
    submission_id: str
    client: object  # JobSubmissionClient (or a test's fake)
    started: float = field(default_factory=time.time)
    stop_asked: float | None = None
    lost: bool = False
    stopped_by_loss: bool = False  # a survivor of a lost job was told to stop (not the user's stop)
    pid: int | None = None  # no local process
    lost_after_s: float = UNREACHABLE_S
    _unanswered_since: float | None = None
    _status: str = "PENDING"

    def exit_code(self) -> int | None:
        """None while Ray runs (or queues) the job; 0 succeeded, 1 failed or stopped. A lost job (see the
        module's docstring) ends once its worker, if one survived the head, has stopped beating: it was told
        to stop (STOP), so that it never writes beside a resumed run."""
        if self.lost:
            return None if time.time() - self._last_beat() < SURVIVOR_QUIET_S else 1
        try:
            status = str(self.client.get_job_status(self.submission_id)).rsplit(".", 1)[-1]
            self._unanswered_since = None
        except Exception as err:  # noqa: BLE001 - the head restarted (no such job) or cannot be reached
            gone = "not found" in str(err).lower() or "does not exist" in str(err).lower()
            self._unanswered_since = self._unanswered_since or time.time()
            if gone or time.time() - self._unanswered_since > self.lost_after_s:
                self.lost = self.stopped_by_loss = True
                (self.run_dir / STOP_FILE).touch()
            return None
        self._status = status
        if status in ALIVE:
            return None
        self._keep_logs()
        return 0 if status == "SUCCEEDED" else 1

    def _keep_logs(self) -> None:
        """What the job printed, into the run's worker.log (a failed run's page shows its last lines)."""
        try:
            (self.run_dir / "worker.log").write_text(self.client.get_job_logs(self.submission_id), encoding="utf-8")
        except Exception:  # noqa: BLE001 - logs are a courtesy; the status file says how the run ended
            pass

    def wait_exit(self, timeout: float) -> int:
        deadline = time.time() + timeout
        while (code := self.exit_code()) is None and time.time() < deadline:
            time.sleep(0.5)
        return 1 if code is None else code

    def last_sign_of_life(self) -> float:
        """The worker's heartbeat (worker.json's mtime, on the shared runs folder); a job Ray still holds
        pending, or a lost one winding down, counts as alive."""
        if self._status == "PENDING" or self.lost:
            return time.time()
        return max(self.started, self._last_beat())

    def _last_beat(self) -> float:
        try:
            return (self.run_dir / "worker.json").stat().st_mtime
        except OSError:
            return 0.0

    def ask_to_stop(self) -> None:
        self.stop_asked = self.stop_asked or time.time()
        (self.run_dir / STOP_FILE).touch()

    def kill(self) -> None:
        try:
            self.client.stop_job(self.submission_id)
        except Exception:  # noqa: BLE001 - gone already, or the head is away: nothing more to end
            pass

    def leftovers(self) -> list[int]:
        return []  # Ray ends the job's processes itself


class RayBackend:
    keep_warm = False  # a Ray job starts its own Python on whatever node runs it

    def __init__(self, address: str, *, gpus_per_run: float = 0, python: str | None = None, client=None,
                 lost_after_s: float = UNREACHABLE_S):
        if client is None:
            from ray.job_submission import JobSubmissionClient  # the optional extra: pip install -e '.[ray]'

            client = JobSubmissionClient(address)
        self.address, self.client = address, client
        self.gpus_per_run = float(gpus_per_run)
        self.lost_after_s = float(lost_after_s)
        self.python = python or sys.executable  # the nodes' Python with ftui installed (the same path by default)
        self._local = LocalBackend()  # the learning-rate test stays on the server's box

    def start(self, run_dir: Path, slot: Slot) -> RayJob:
        submission_id = f"ftui-{run_dir.parent.name}-{run_dir.name}-{secrets.token_hex(3)}"
        (run_dir / STOP_FILE).unlink(missing_ok=True)
        gpus = run_gpus(run_dir)  # more than 1: the same torchrun launcher, inside one job holding them all
        self.client.submit_job(
            entrypoint=shlex.join(worker_command(self.python, gpus, run_dir)), submission_id=submission_id,
            entrypoint_num_gpus=(gpus if gpus > 1 else self.gpus_per_run) or None, entrypoint_num_cpus=1,
            metadata={"user": run_dir.parent.name, "run": run_dir.name},
            runtime_env={"env_vars": {"FTUI_THREADS": str(slot.threads), **tensorboard_env()}})
        write_json_atomic(run_dir / JOB_FILE, {"submission_id": submission_id, "address": self.address})
        return RayJob(run_dir=run_dir, submission_id=submission_id, client=self.client, lost_after_s=self.lost_after_s)

    def adopt(self, run_dir: Path) -> RayJob | None:
        """The run's Ray job after a server restart, if Ray still runs (or queues) it."""
        record = read_json(run_dir / JOB_FILE, {}) or {}
        if not record.get("submission_id"):
            return None
        job = RayJob(run_dir=run_dir, submission_id=record["submission_id"], client=self.client,
                     lost_after_s=self.lost_after_s)
        try:
            alive = str(self.client.get_job_status(job.submission_id)).rsplit(".", 1)[-1] in ALIVE
        except Exception:  # noqa: BLE001 - unknown to this head, or no head: the run is interrupted
            return None
        return job if alive else None

    def prepare_warm(self, env: dict) -> None:
        return None

    def lr_test(self, folder: Path, slot: Slot, spec: dict) -> dict:
        return self._local.lr_test(folder, slot, spec)

    def check_shared_storage(self, runs_root: Path, timeout_s: float = 120) -> None:
        """Refuse (RuntimeError, one sentence) unless a file a Ray job writes under the runs folder is seen here."""
        runs_root.mkdir(parents=True, exist_ok=True)
        probe = runs_root / f".ray-probe-{secrets.token_hex(4)}"
        token = secrets.token_hex(8)
        script = f"open({str(probe)!r}, 'w').write({token!r})"
        submission_id = self.client.submit_job(entrypoint=f"{shlex.quote(self.python)} -c {shlex.quote(script)}",
                                               entrypoint_num_cpus=0)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            status = str(self.client.get_job_status(submission_id)).rsplit(".", 1)[-1]
            if status not in ALIVE:
                break
            time.sleep(0.5)
        try:
            seen = probe.read_text() == token
        except OSError:
            seen = False
        finally:
            probe.unlink(missing_ok=True)
        if not seen:
            raise RuntimeError(f"the runs folder {runs_root} is not shared with the Ray cluster at {self.address}: "
                               "a file a Ray job wrote there is not visible here (put --runs-dir on storage every "
                               "node mounts at the same path)")

    def close(self) -> None:
        return None
