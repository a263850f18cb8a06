"""Runs started in the first seconds after launch train (they do not race the start-up warm-up).

Regression: `python launch.py` imports the training stack in a background warm-up thread; a run
started at once imported transformers at the same moment, and its lazy imports are not thread-safe:
the run failed after 0.4 s with "ImportError: cannot import name 'AutoModelForSequenceClassification'
from 'transformers'". Runs now train in their own worker process (ftui.worker), each importing alone.

The app must be a fresh process here: in this test process transformers is imported already (the
tiny BERT fixture, earlier tests), which would hide the race. So each cycle starts `launch.py` in a
subprocess, waits only until its port answers, and at once uploads data and starts one run of each
task through the public API, then checks that every run finished. The app trains the three at once
(--max-concurrent-runs 3), so each run imports while the warm-up does; the first task starting turns
with each launch (text first in the first launch: the case of the report).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

# Helpers of the other API tests (pytest puts tests/api on sys.path for every file there).
from test_api import free_port, wait_for, write_reviews
from test_api_audio import QUICK as AUDIO_QUICK, tone
from test_api_image import QUICK as IMAGE_QUICK, picture, write_zip

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ROOT = Path(__file__).resolve().parents[2]  # launch.py's folder: the subprocess runs there, as a user would
LAUNCHES = 3
TEXT_QUICK = {"batch_size": 8, "max_length": 32}


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_bert_dir) -> dict[str, tuple[str, Path]]:
    """task -> (model, data file): the smallest settings the other API tests train with."""
    folder = tmp_path_factory.mktemp("fresh-data")
    images = {f"colors/red/r{i}.png": picture("red", i) for i in range(8)}
    images |= {f"colors/blue/b{i}.png": picture("blue", i) for i in range(8)}
    sounds = {f"tones/{label}/{label}{i}.wav": tone(label, i) for label in ("low", "high") for i in range(8)}
    return {"text": (str(tiny_bert_dir), write_reviews(folder / "reviews.csv", per_class=12)),
            "image": ("efficientnet-lite0", write_zip(folder / "colors.zip", images)),
            "audio": ("whisper-tiny.en", write_zip(folder / "tones.zip", sounds))}


OPTIONS = {"text": TEXT_QUICK, "image": IMAGE_QUICK, "audio": AUDIO_QUICK}


def start_app(runs_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`python launch.py` in a fresh process with this session's environment (HF_HUB_OFFLINE, ...)."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "launch.py", "--host", "127.0.0.1", "--port", str(port), "--runs-dir", str(runs_dir),
             "--max-concurrent-runs", "3"],
            cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}/"


def wait_until_answering(process: subprocess.Popen, url: str, log: Path, timeout: float = 120) -> float:
    """Seconds until GET / answers (polled every 0.1 s); nothing else is waited for."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise AssertionError(f"launch.py exited with {process.returncode}:\n{tail(log)}")
        try:
            httpx.get(url, timeout=1)
            return time.monotonic() - started
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"launch.py did not answer on {url} within {timeout} s:\n{tail(log)}")


def stop_app(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log.is_file() else "(no output)"


@pytest.mark.parametrize("launch", range(LAUNCHES))
def test_runs_started_right_after_launch_all_train(tmp_path, data, launch):
    log = tmp_path / "launch.log"
    process, url = start_app(tmp_path / "runs", log)
    try:
        answered_after = wait_until_answering(process, url, log)
        client = Client(url, verbose=False)
        tasks = list(data)
        tasks = tasks[launch % len(tasks):] + tasks[:launch % len(tasks)]  # each task starts first once
        run_ids = {}
        for task in tasks:  # no pause: the warm-up is still importing
            model, path = data[task]
            run_ids[task] = client.predict(task, model, handle_file(path), 5e-4, 1, OPTIONS[task],
                                           api_name="/start_run")
        states = {}
        for task, run_id in run_ids.items():
            status, _ = wait_for(client, run_id, timeout=240)
            states[task] = (status["state"], status.get("error"))
        failed = {task: s for task, s in states.items() if s[0] != "finished"}
        assert not failed, (f"runs started (in the order {tasks}) {answered_after:.1f} s after launch did not "
                            f"finish: {failed}\n"
                            f"launch.py output:\n{tail(log)}")
    finally:
        stop_app(process)
