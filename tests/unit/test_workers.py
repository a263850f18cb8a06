"""Worker processes under the job manager: crashes, kills, hangs, stops that are ignored, grandchildren,
fairness between users, and a restart that re-adopts a live worker. Fake workers (tests/unit/fakes)
misbehave on purpose; every process a test starts is ended by its own pid."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ftui.config import RunConfig
from ftui.engine.jobs import JobManager
from ftui.engine.local_backend import LocalBackend, plan_slots
from ftui.runs.store import RunStore, read_jsonl, read_status, update_status

FAKE = Path(__file__).parent / "fakes" / "fake_worker.py"


def fake_backend(behaviour: str) -> LocalBackend:
    return LocalBackend(command=[sys.executable, str(FAKE), behaviour])


def new_run(store: RunStore, owner: str = "ann") -> Path:
    config = RunConfig.build("text", "some-model", "u-0000000000000000", 1e-3, 1, {})
    return store.create(owner, config)[1].resolve()


@pytest.fixture
def managers():
    made = []

    def make(store, behaviour="finish", **kwargs):
        kwargs.setdefault("poll_s", 0.05)
        made.append(JobManager(store, backend=fake_backend(behaviour), **kwargs))
        return made[-1]

    yield make
    for jobs in made:
        jobs.shutdown(timeout=10)


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("not reached in time")


@pytest.mark.parametrize("behaviour, code, words", [
    ("crash", "worker_crashed", "exit code 3"),
    ("exit137", "worker_killed", "most likely out of memory"),
])
def test_a_worker_that_dies_without_a_word_fails_its_run_with_a_sentence(tmp_path, managers, behaviour, code, words):
    store = RunStore(tmp_path)
    jobs = managers(store, behaviour)
    run = new_run(store)
    jobs.submit(run)
    assert jobs.wait(run, 20) == "failed"
    error = read_status(run)["error"]
    assert error["code"] == code and words in error["message"]
    assert read_jsonl(run / "metrics.jsonl")[-1]["event"] == "RunFailed"


def test_kill_9_of_a_worker_fails_its_run_and_the_other_run_trains_on(tmp_path, managers):
    store = RunStore(tmp_path)
    jobs = managers(store, "sleep", max_concurrent=2)
    victim, other = new_run(store, "ann"), new_run(store, "bob")
    jobs.submit(victim)
    jobs.submit(other)
    wait_until(lambda: (victim / "worker.json").is_file() and (other / "worker.json").is_file())
    pid = json.loads((victim / "worker.json").read_text())["pid"]
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    assert jobs.wait(victim, 5) == "failed"
    assert time.monotonic() - killed < 5
    assert "most likely out of memory" in read_status(victim)["error"]["message"]
    assert read_status(other)["state"] == "running" and jobs.is_active(other)
    jobs.cancel(other)
    assert jobs.wait(other, 10) == "stopped"


def test_a_worker_that_ignores_stop_is_killed_with_its_whole_group_after_the_grace(tmp_path, managers):
    store = RunStore(tmp_path)
    jobs = managers(store, "ignore_stop", stop_grace_s=1.0)
    run = new_run(store)
    jobs.submit(run)
    wait_until(lambda: (run / "worker.json").is_file())
    pid = json.loads((run / "worker.json").read_text())["pid"]
    jobs.cancel(run)
    assert jobs.wait(run, 10) == "failed"
    assert "did not stop within 1 s" in read_status(run)["error"]["message"]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_grandchild_left_behind_is_killed_with_the_group(tmp_path, managers):
    store = RunStore(tmp_path)
    jobs = managers(store, "grandchild")
    run = new_run(store)
    jobs.submit(run)
    assert jobs.wait(run, 20) == "finished"
    grandchild = int((run / "grandchild.pid").read_text())
    wait_until(lambda: not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE,
               timeout=5)


def test_a_worker_that_stops_beating_is_ended_as_hung(tmp_path, managers):
    store = RunStore(tmp_path)
    jobs = managers(store, "hang", hang_timeout_s=1.0)
    run = new_run(store)
    jobs.submit(run)
    assert jobs.wait(run, 20) == "failed"
    error = read_status(run)["error"]
    assert error["code"] == "worker_hung" and "stopped answering" in error["message"]


def test_fairness_a_user_with_one_run_goes_before_another_users_queue(tmp_path, managers):
    store = RunStore(tmp_path)
    jobs = managers(store, "finish")
    ann = [new_run(store, "ann") for _ in range(4)]
    for run in ann:
        jobs.submit(run)
    bob = new_run(store, "bob")
    jobs.submit(bob)
    for run in [*ann, bob]:
        assert jobs.wait(run, 30) == "finished"
    starts = sorted([*ann, bob], key=lambda run: read_status(run)["started"])
    assert starts[:2] == [ann[0], bob]  # Ann's first had the free slot; Bob's is the next to start


def test_per_user_queue_cap_refuses_with_a_sentence(tmp_path, managers):
    from ftui.errors import FtuiError
    from ftui.messages import describe

    store = RunStore(tmp_path)
    jobs = managers(store, "sleep", max_queued_per_user=1)
    running, queued = new_run(store), new_run(store)
    jobs.submit(running)
    wait_until(lambda: read_status(running)["state"] == "running")
    jobs.submit(queued)
    with pytest.raises(FtuiError) as err:
        jobs.submit(new_run(store))
    assert err.value.code == "queue_full" and "1 run waiting" in describe(err.value.code, err.value.detail)
    bobs = new_run(store, "bob")
    jobs.submit(bobs)  # another user's queue is their own
    # Ann holds the slot, so Bob's run is first in line although Ann's waited longer
    assert jobs.snapshot(bobs)["queue"]["position"] == 1
    assert jobs.snapshot(queued)["queue"] == {"position": 2, "of": 2, "estimated_start_s": None}
    for run in (queued, bobs, running):
        jobs.cancel(run)


def test_slots_give_each_worker_its_gpu_and_a_share_of_the_cores(tmp_path, managers):
    store = RunStore(tmp_path)
    slots = plan_slots("0,1", runs_per_gpu=1)
    jobs = managers(store, "sleep", slots=slots)
    runs = [new_run(store, owner) for owner in ("ann", "bob", "cy")]
    for run in runs:
        jobs.submit(run)
    wait_until(lambda: all((run / "env.json").is_file() for run in runs[:2]))
    envs = sorted(json.loads((run / "env.json").read_text())["CUDA_VISIBLE_DEVICES"] for run in runs[:2])
    assert envs == ["0", "1"]
    assert read_status(runs[2])["state"] == "queued"  # a third waits
    assert [run_dir is not None for _, run_dir, _ in jobs.held()] == [True, True]
    for run in runs:
        jobs.cancel(run)
    cpu = plan_slots("none", max_concurrent_runs=2)
    assert [s.gpu for s in cpu] == [None, None] and cpu[0].env()["CUDA_VISIBLE_DEVICES"] == ""
    assert cpu[0].threads == max(1, len(os.sched_getaffinity(0)) // 2)


def test_a_restart_requeues_in_order_readopts_a_live_worker_and_interrupts_a_dead_one(tmp_path, managers):
    store = RunStore(tmp_path)
    live, doomed, dead, recycled = new_run(store), new_run(store, "cy"), new_run(store), new_run(store)
    first, second = new_run(store, "bob"), new_run(store, "bob")
    # what a server killed with -9 leaves behind: workers still training, one gone, queued runs
    worker = subprocess.Popen([sys.executable, str(FAKE), "sleep", str(live)], start_new_session=True)
    other = subprocess.Popen([sys.executable, str(FAKE), "sleep", str(doomed)], start_new_session=True)
    try:
        wait_until(lambda: (live / "worker.json").is_file() and (doomed / "worker.json").is_file())
        for run in (live, doomed, dead, recycled):
            update_status(run, state="running", started=time.time())
        (dead / "worker.json").write_text(json.dumps({"pid": 2**22 + 7, "create_time": 1.0}))
        me = psutil.Process()  # a pid that lives, but is not the worker that was recorded: a recycled pid
        (recycled / "worker.json").write_text(json.dumps({"pid": me.pid, "create_time": me.create_time() - 100}))
        update_status(second, state="queued", queued_at=200.0)
        update_status(first, state="queued", queued_at=100.0)

        jobs = managers(store, "finish")
        assert sorted(jobs.interrupted) == sorted([dead, recycled])
        assert read_status(dead)["state"] == "interrupted"
        assert jobs.is_active(live) and read_status(live)["state"] == "running"
        assert [w.run_dir for w in jobs.queue.order({})] == [first, second]
        other.kill()  # a re-adopted worker that dies: not our child, its exit unknown -> resumable
        assert jobs.wait(doomed, 10) == "interrupted"
        jobs.cancel(live)  # the re-adopted worker obeys the new server's stop
        assert jobs.wait(live, 10) == "stopped"
        assert jobs.wait(first, 20) == "finished" and jobs.wait(second, 20) == "finished"
        assert read_status(first)["started"] < read_status(second)["started"]
    finally:
        for process in (worker, other):
            process.kill()
            process.wait()
