"""The backend seam with a fake Ray job client: ftui's fair queue holds the runs Ray has no room for, a stop
reaches the worker through the run folder, a job Ray lost leaves its run interrupted, a restart re-adopts."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ftui.config import RunConfig
from ftui.engine.jobs import JobManager
from ftui.engine.local_backend import Slot
from ftui.engine.ray_backend import JOB_FILE, STOP_FILE, RayBackend
from ftui.runs.store import RunStore, read_status, update_status


class FakeRay:
    """JobSubmissionClient's four calls, over a dict; a test plays the worker by writing status.json."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.forgotten = False  # the head restarted: it knows no job

    def submit_job(self, *, entrypoint, submission_id=None, metadata=None, **resources):
        submission_id = submission_id or f"raysubmit_{len(self.jobs)}"
        self.jobs[submission_id] = {"status": "RUNNING", "entrypoint": entrypoint, "metadata": metadata,
                                    **resources}
        return submission_id

    def get_job_status(self, job_id):
        if self.forgotten or job_id not in self.jobs:
            raise RuntimeError(f"Request failed with status code 404: Job {job_id} does not exist.")
        return self.jobs[job_id]["status"]

    def stop_job(self, job_id):
        self.jobs[job_id]["status"] = "STOPPED"
        return True

    def get_job_logs(self, job_id):
        return f"logs of {job_id}\n"

    def end(self, run_dir: Path, state: str, status: str = "SUCCEEDED") -> None:
        """The worker writes its final state, then Ray marks its job."""
        update_status(run_dir, state=state)
        self.jobs[json.loads((run_dir / JOB_FILE).read_text())["submission_id"]]["status"] = status


def new_run(store: RunStore, owner: str) -> Path:
    config = RunConfig.build("text", "some-model", "u-0000000000000000", 1e-3, 1, {})
    return store.create(owner, config)[1].resolve()


@pytest.fixture
def ray_jobs(tmp_path):
    fake = FakeRay()
    store = RunStore(tmp_path)
    made = []

    def make(slots: int = 1):
        made.append(JobManager(store, backend=RayBackend("http://127.0.0.1:1", client=fake, gpus_per_run=1),
                               slots=[Slot(i, None, 0, "Ray") for i in range(slots)], poll_s=0.05))
        return made[-1]

    yield store, fake, make
    for jobs in made:
        jobs.shutdown(timeout=5)


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def test_runs_wait_in_ftuis_fair_queue_not_in_rays(ray_jobs):
    store, fake, make = ray_jobs
    jobs = make(slots=1)
    ann, bob = new_run(store, "ann"), new_run(store, "bob")
    jobs.submit(ann)
    jobs.submit(bob)
    wait_until(lambda: len(fake.jobs) == 1)
    job = next(iter(fake.jobs.values()))
    assert job["metadata"] == {"user": "ann", "run": ann.name} and job["entrypoint_num_gpus"] == 1
    assert job["entrypoint"].endswith(f"-m ftui.worker {ann}")
    time.sleep(0.3)
    assert len(fake.jobs) == 1 and read_status(bob)["state"] == "queued"  # Ray never saw Bob's run yet
    fake.end(ann, "finished")
    assert jobs.wait(ann, 5) == "finished"
    wait_until(lambda: len(fake.jobs) == 2)
    fake.end(bob, "finished")
    assert jobs.wait(bob, 5) == "finished"
    assert (bob / "worker.log").read_text().startswith("logs of ftui-bob-")  # Ray's log, kept with the run


def test_stop_is_a_file_the_worker_reads_and_a_job_that_ignores_it_is_stopped_by_ray(ray_jobs):
    store, fake, make = ray_jobs
    jobs = make()
    jobs.stop_grace_s = 0.5
    run = new_run(store, "ann")
    jobs.submit(run)
    wait_until(lambda: len(fake.jobs) == 1)
    jobs.cancel(run)
    assert (run / STOP_FILE).is_file()
    # this job ignores it: after the grace period ftui asks Ray to stop the job
    assert jobs.wait(run, 5) == "failed" and "did not stop within" in read_status(run)["error"]["message"]
    assert next(iter(fake.jobs.values()))["status"] == "STOPPED"


def test_a_job_ray_lost_leaves_its_run_interrupted(ray_jobs):
    store, fake, make = ray_jobs
    jobs = make()
    run = new_run(store, "ann")
    jobs.submit(run)
    wait_until(lambda: len(fake.jobs) == 1)
    fake.forgotten = True  # the head restarted
    assert jobs.wait(run, 5) == "interrupted"


def test_a_restarted_server_readopts_the_runs_ray_still_runs(ray_jobs):
    store, fake, make = ray_jobs
    first = make()
    kept, gone = new_run(store, "ann"), new_run(store, "bob")
    first.submit(kept)
    wait_until(lambda: len(fake.jobs) == 1)
    update_status(gone, state="running")
    (gone / JOB_FILE).write_text(json.dumps({"submission_id": "ftui-bob-old"}))  # a job Ray no longer knows
    first._closing = True  # the server dies: its watcher stops, the Ray job runs on
    first._watcher.join(5)
    again = make()
    assert again.interrupted == [gone] and again.is_active(kept)
    fake.end(kept, "finished")
    assert again.wait(kept, 5) == "finished"
