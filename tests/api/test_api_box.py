"""The shared box through its public API: runs in worker processes that can die alone, a server that can
die and come back, sign-in that slows guessing down, and runs and uploads that stay their owner's.

Fault tests kill real processes: the ones they started themselves (a worker named by its run's
worker.json, a server they launched), by their own pids.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from gradio_client import Client, handle_file

from ftui.auth import FREE_FAILURES
from test_api import QUICK, expect_error, free_port, launch, wait_for, write_reviews
from test_api_fresh import ROOT, stop_app, tail, wait_until_answering

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ANN, BOB, CY = ("ann", "pw-ann-1"), ("bob", "pw-bob-1"), ("cy", "pw-cy-1")
ADA = ("ada", "pw-ada-1", "admin")
LONG = {**QUICK, "log_every_steps": 1}  # with 100 epochs: trains until stopped


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> Path:
    return write_reviews(tmp_path_factory.mktemp("box-data") / "reviews.csv")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    demo, services, url = launch(tmp_path_factory, "box", auth=[ANN, BOB, CY, ADA])
    yield services, url
    demo.close()
    services.close()


def worker_pid(run_dir: Path) -> int:
    deadline = time.monotonic() + 60
    while not (run_dir / "worker.json").is_file():
        assert time.monotonic() < deadline, "the worker never wrote worker.json"
        time.sleep(0.1)
    return json.loads((run_dir / "worker.json").read_text())["pid"]


def group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def test_kill_9_of_one_worker_fails_its_run_alone_and_stop_leaves_no_process(box, reviews, tiny_bert_dir):
    services, url = box
    ann, bob = Client(url, auth=ANN, verbose=False), Client(url, auth=BOB, verbose=False)
    runs = {who: c.predict("text", str(tiny_bert_dir), handle_file(reviews), 5e-4, 100, LONG, api_name="/start_run")
            for who, c in (("ann", ann), ("bob", bob))}
    for who, c in (("ann", ann), ("bob", bob)):
        wait_for(c, runs[who], until=lambda status, rows: status["state"] == "running" and rows, timeout=120)
    victim = worker_pid(services.store.run_dir("ann", runs["ann"]))
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    status, _ = wait_for(ann, runs["ann"], timeout=5)
    assert time.monotonic() - killed < 5
    assert status["state"] == "failed" and "most likely out of memory" in status["error"]["message"]

    # Bob's run trains on, and the server answers everyone
    before = bob.predict(runs["bob"], 0, api_name="/run_status")["n_rows"]
    after, _ = wait_for(bob, runs["bob"], until=lambda s, rows: len(rows) > before + 3, timeout=60)
    assert after["state"] == "running"
    assert [r["run_id"] for r in ann.predict(api_name="/list_runs")] == [runs["ann"]]

    survivor = worker_pid(services.store.run_dir("bob", runs["bob"]))
    bob.predict(runs["bob"], api_name="/stop_run")
    status, _ = wait_for(bob, runs["bob"], timeout=60)
    assert status["state"] == "stopped"
    deadline = time.monotonic() + 10
    while group_members(survivor) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members(survivor) == []  # the worker and anything it started are gone


def test_every_endpoint_answers_not_found_for_another_users_run(box, reviews, tiny_bert_dir):
    _, url = box
    ann, bob = Client(url, auth=ANN, verbose=False), Client(url, auth=BOB, verbose=False)
    run_id = ann.predict("text", str(tiny_bert_dir), handle_file(reviews), 5e-4, 1, QUICK, api_name="/start_run")
    assert wait_for(ann, run_id)[0]["state"] == "finished"
    calls = {
        "/run_status": (run_id, 0), "/stop_run": (run_id,), "/predict": (run_id, "the film was great"),
        "/evaluate": (run_id, None), "/evaluation_examples": (run_id, "validation", "pos", "neg"),
        "/predict_batch": (run_id, handle_file(reviews)), "/export_run": (run_id, "zip"),
        "/resume_run": (run_id, 1), "/rename_run": (run_id, "mine now"), "/free_run_files": (run_id, "checkpoints"),
        "/delete_run": (run_id,),
    }
    for api_name, args in calls.items():
        expect_error("unknown_run", bob.predict, *args, api_name=api_name)
    assert bob.predict(api_name="/list_runs") == [] or run_id not in [r["run_id"] for r in bob.predict(api_name="/list_runs")]
    assert ann.predict(run_id, 0, api_name="/run_status")["state"] == "finished"  # nothing of Ann's changed


def test_a_wrong_password_is_refused_and_guessing_slows_down(box):
    _, url = box

    def sign_in(password: str) -> int:
        return httpx.post(url + "login", data={"username": CY[0], "password": password}, timeout=30).status_code

    assert sign_in(CY[1]) == 200
    assert sign_in("wrong") == 400
    for i in range(FREE_FAILURES):
        sign_in(f"guess-{i}")
    assert sign_in(CY[1]) == 400  # locked for a while: even the right password is not checked
    time.sleep(2.5)  # the first lock lasts 2 s
    assert sign_in(CY[1]) == 200


def api_call(http: httpx.Client, url: str, name: str, data: list) -> str:
    """One call of a named endpoint over plain HTTP (what any script can send); returns the event stream."""
    event = http.post(url + f"gradio_api/call/{name}", json={"data": data}, timeout=30).json()["event_id"]
    return http.get(url + f"gradio_api/call/{name}/{event}", timeout=120).text


def test_a_raw_upload_is_gone_from_the_shared_folder_once_accepted(box, reviews):
    _, url = box
    with httpx.Client() as ann, httpx.Client() as bob:
        assert ann.post(url + "login", data=dict(zip(("username", "password"), ANN))).status_code == 200
        assert bob.post(url + "login", data=dict(zip(("username", "password"), BOB))).status_code == 200
        with reviews.open("rb") as f:
            raw = ann.post(url + "gradio_api/upload", files={"files": ("reviews.csv", f, "text/csv")}).json()[0]
        assert ann.get(url + f"gradio_api/file={raw}").status_code == 200  # before: Gradio serves it
        file_data = {"path": raw, "orig_name": "reviews.csv", "meta": {"_type": "gradio.FileData"}}
        stream = api_call(ann, url, "inspect_dataset", ["text", file_data, None])
        assert "event: complete" in stream and "upload_id" in stream
        assert not Path(raw).exists()
        for client in (ann, bob, httpx.Client()):  # the owner, another user, someone not signed in
            assert client.get(url + f"gradio_api/file={raw}").status_code in (401, 403, 404)
        # naming it again, as a FileData or as a path string, is refused by the endpoints
        assert "error" in api_call(bob, url, "inspect_dataset", ["text", file_data, None]).split("\n")[0]
        assert "error" in api_call(bob, url, "start_run", ["text", "x", raw, 1e-3, 1, None]).split("\n")[0]


def test_an_admin_sees_the_whole_box_and_may_stop_any_run(box, reviews, tiny_bert_dir):
    _, url = box
    ann, bob, ada = (Client(url, auth=who[:2], verbose=False) for who in (ANN, BOB, ADA))
    runs = [c.predict("text", str(tiny_bert_dir), handle_file(reviews), 5e-4, 100, LONG, api_name="/start_run")
            for c in (ann, bob, ann)]  # two slots: Ann's second waits
    for client, run_id in zip((ann, bob), runs):
        wait_for(client, run_id, until=lambda s, rows: s["state"] == "running" and rows, timeout=120)
    expect_error("admin_only", bob.predict, api_name="/box_status")
    expect_error("admin_only", bob.predict, "ann", runs[0], api_name="/stop_any_run")
    seen = ada.predict(api_name="/box_status")
    held = {(slot["owner"], slot["run_id"]) for slot in seen["slots"]}
    assert held == {("ann", runs[0]), ("bob", runs[1])}
    assert all(slot["memory_mb"] > 50 for slot in seen["slots"])  # a worker with torch loaded
    assert seen["queue"] == [{"position": 1, "owner": "ann", "run_id": runs[2]}]
    assert ada.predict("ann", runs[0], api_name="/stop_any_run")["stopping"] is True
    assert wait_for(ann, runs[0], timeout=60)[0]["state"] == "stopped"
    for client, run_id in ((bob, runs[1]), (ann, runs[2])):
        client.predict(run_id, api_name="/stop_run")
        wait_for(client, run_id, timeout=60)


# -- the server itself dies -------------------------------------------------------------------------
def wait_dead(pid: int, timeout: float = 30) -> None:
    """Until a killed process is gone (a zombie counts: this container's init does not reap). A process in
    uninterruptible I/O dies only when that I/O ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive {timeout} s after SIGKILL")


def start_server(runs_dir: Path, log: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "launch.py", "--port", str(port), "--runs-dir", str(runs_dir),
                                    "--gpus", "none", *extra], cwd=ROOT, env=dict(os.environ), stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    wait_until_answering(process, url, log)
    return process, url


def test_kill_9_of_the_server_loses_nothing(tmp_path, reviews, tiny_bert_dir):
    runs_dir, log = tmp_path / "runs", tmp_path / "server.log"
    server, url = start_server(runs_dir, log)
    orphans = []
    try:
        client = Client(url, verbose=False)
        start = lambda epochs: client.predict("text", str(tiny_bert_dir), handle_file(reviews), 5e-4, epochs, LONG,
                                              api_name="/start_run")
        long_run = start(100)
        wait_for(client, long_run, until=lambda s, rows: s["state"] == "running" and rows, timeout=120)
        queued = [start(1), start(1)]
        assert all(client.predict(r, 0, api_name="/run_status")["state"] == "queued" for r in queued)
        run_dir = runs_dir / "local" / long_run
        worker = worker_pid(run_dir)
        orphans.append(worker)
        assert (runs_dir / ".gradio-uploads").is_dir()  # this instance keeps raw uploads in its own folder

        server.kill()  # SIGKILL: no clean-up at all
        server.wait()
        assert psutil.pid_exists(worker)  # the worker is in its own session: it outlives the server
        server, url = start_server(runs_dir, log)
        client = Client(url, verbose=False)
        assert client.predict(long_run, 0, api_name="/run_status")["state"] == "running"  # re-adopted
        assert [client.predict(r, 0, api_name="/run_status")["queue"]["position"] for r in queued] == [1, 2]
        client.predict(long_run, api_name="/stop_run")
        assert wait_for(client, long_run, timeout=60)[0]["state"] == "stopped"
        for run_id in queued:
            assert wait_for(client, run_id, timeout=120)[0]["state"] == "finished"
        started = [json.loads((runs_dir / "local" / r / "status.json").read_text())["started"] for r in queued]
        assert started[0] < started[1]  # in their old order

        # a worker that died with the server: interrupted, then resumed with --auto-resume
        lost = start(3)
        wait_for(client, lost, until=lambda s, rows: s["state"] == "running" and s.get("best_step") is not None,
                 timeout=120)
        lost_worker = worker_pid(runs_dir / "local" / lost)
        server.kill()
        server.wait()
        os.kill(lost_worker, signal.SIGKILL)
        wait_dead(lost_worker)
        server, url = start_server(runs_dir, log, "--auto-resume")
        client = Client(url, verbose=False)
        status, _ = wait_for(client, lost, timeout=180)
        assert status["state"] == "finished", (status.get("error"), tail(log))
        assert "resumed" in log.read_text()
    finally:
        stop_app(server)
        for pid in orphans:
            if psutil.pid_exists(pid):
                os.killpg(pid, signal.SIGKILL)


# -- a live link for stakeholders ---------------------------------------------------------------------
def test_a_shared_link_shows_the_run_without_sign_in_and_stops_when_withdrawn(box, reviews, tiny_bert_dir):
    services, url = box
    ann, bob = Client(url, auth=ANN, verbose=False), Client(url, auth=BOB, verbose=False)
    run_id = ann.predict("text", str(tiny_bert_dir), handle_file(reviews), 5e-4, 100, LONG, api_name="/start_run")
    wait_for(ann, run_id, until=lambda s, rows: s["state"] == "running" and s.get("best_step") is not None,
             timeout=120)
    expect_error("unknown_run", bob.predict, run_id, 7, False, api_name="/share_run")
    shared = ann.predict(run_id, 7, True, api_name="/share_run")
    assert shared["url"].startswith(url + "share/")
    shared["path"] = "/share/" + (token := shared["url"].rsplit("/", 1)[1])
    assert token not in (services.store.run_dir("ann", run_id) / "share.json").read_text()  # only its hash

    stranger = httpx.Client()  # no cookie, no account
    page = stranger.get(url.rstrip("/") + shared["path"])
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer" and "noindex" in page.headers["x-robots-tag"]
    text = page.text
    assert "<polyline" in text and "training" in text and "pos: " in text and "neg: " in text
    for secret in (str(services.store.root), str(tiny_bert_dir), "reviews.csv", "/gradio_api", "Stop", "Delete"):
        assert secret not in text  # no paths, no file names, no other routes, no actions
    assert "<textarea" in text  # the owner allowed predictions
    live = stranger.get(url.rstrip("/") + shared["path"] + "/live")
    assert live.status_code == 200 and "<svg" in live.text
    answer = stranger.post(url.rstrip("/") + shared["path"] + "/predict", data={"input": "the film was great"})
    assert answer.status_code == 200 and set(answer.json()) == {"pos", "neg"}

    assert ann.predict(run_id, api_name="/unshare_run")["unshared"] is True
    for tail_path in ("", "/live"):
        assert stranger.get(url.rstrip("/") + shared["path"] + tail_path).status_code == 404
    assert stranger.post(url.rstrip("/") + shared["path"] + "/predict", data={"input": "x"}).status_code == 404
    assert stranger.get(url.rstrip("/") + "/share/" + "A" * 43).status_code == 404  # a guess

    brief = ann.predict(run_id, 2e-5, False, api_name="/share_run")  # ~2 s, without predictions
    brief["path"] = "/share/" + brief["url"].rsplit("/", 1)[1]
    page = stranger.get(url.rstrip("/") + brief["path"])
    assert page.status_code == 200 and "<textarea" not in page.text
    assert stranger.post(url.rstrip("/") + brief["path"] + "/predict", data={"input": "x"}).status_code == 404
    time.sleep(2.2)
    assert stranger.get(url.rstrip("/") + brief["path"]).status_code == 404  # expired
    ann.predict(run_id, api_name="/stop_run")
    wait_for(ann, run_id, timeout=60)
