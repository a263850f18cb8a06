"""A real Ray head on 127.0.0.1, started and ended by this test: ftui with --backend ray submits runs as Ray
jobs (the same `python -m ftui.worker RUN_DIR`), streams their rows, stops them with their model kept;
when the head dies mid-run the run is interrupted, and the local backend resumes it to the end."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))  # the API tests' helpers
from test_api import QUICK, free_port, wait_for, write_reviews  # noqa: E402
from test_api_box import start_server  # noqa: E402
from test_api_fresh import stop_app, tail  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]


@pytest.fixture(scope="module")
def ray_head():
    """`ray start --head --block` in its own process group; yields the dashboard's address."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Ray is not installed (CI=true: the README's test command installs '.[ray]')")
        pytest.skip("Ray is not installed: pip install -e '.[ray]'")
    port, dashboard = free_port(), free_port()
    temp = Path(f"/tmp/ray-{secrets.token_hex(3)}")  # short: Ray's socket paths must fit 107 characters
    head = subprocess.Popen([ray, "start", "--head", "--block", f"--port={port}", f"--dashboard-port={dashboard}",
                             "--dashboard-host=127.0.0.1", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                             "--num-gpus=0", "--include-dashboard=true", "--disable-usage-stats",
                             f"--temp-dir={temp}"], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    address = f"http://127.0.0.1:{dashboard}"
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + 180
    while True:
        try:
            JobSubmissionClient(address).list_jobs()
            break
        except Exception:  # noqa: BLE001 - not up yet
            assert time.monotonic() < deadline and head.poll() is None, "the Ray head did not come up"
            time.sleep(1)
    yield head, address
    if head.poll() is None:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
    shutil.rmtree(temp, ignore_errors=True)


def test_runs_as_ray_jobs_stream_stop_and_survive_the_head(tmp_path, ray_head, tiny_bert_dir):
    head, address = ray_head
    runs_dir, log = tmp_path / "runs", tmp_path / "server.log"
    reviews = write_reviews(tmp_path / "reviews.csv")
    server, url = start_server(runs_dir, log, "--backend", "ray", "--ray-address", address,
                               "--ray-lost-after-s", "5")
    try:
        client = Client(url, verbose=False)
        start = lambda epochs: client.predict("text", str(tiny_bert_dir), handle_file(reviews), 5e-4, epochs,  # noqa: E731
                                              {**QUICK, "log_every_steps": 1}, api_name="/start_run")
        done = start(1)
        status, counts = wait_for(client, done, timeout=300)
        assert status["state"] == "finished", (status.get("error"), tail(log))
        assert set(client.predict(done, "the film was great", api_name="/predict")) == {"pos", "neg"}
        assert (runs_dir / "local" / done / "ray_job.json").is_file()

        stopped = start(100)
        wait_for(client, stopped, until=lambda s, rows: s["state"] == "running" and len(rows) > 3, timeout=300)
        client.predict(stopped, api_name="/stop_run")
        status, _ = wait_for(client, stopped, timeout=120)
        assert status["state"] == "stopped" and status["saved_model"], status
        assert set(client.predict(stopped, "the film was dull", api_name="/predict")) == {"pos", "neg"}

        lost = start(20)
        wait_for(client, lost, until=lambda s, rows: s["state"] == "running" and s.get("best_step") is not None,
                 timeout=300)
        worker = json.loads((runs_dir / "local" / lost / "worker.json").read_text())["pid"]
        os.killpg(head.pid, signal.SIGKILL)  # the head's machine dies, and the job's worker with it
        os.kill(worker, signal.SIGKILL)
        head.wait()
        status, _ = wait_for(client, lost, states=("interrupted", "failed", "finished"), timeout=120)
        assert status["state"] == "interrupted", status
        assert (runs_dir / "local" / lost / "STOP").is_file()
    finally:
        stop_app(server)
    server, url = start_server(runs_dir, log)  # the local backend takes over
    try:
        client = Client(url, verbose=False)
        client.predict(lost, 0, api_name="/resume_run")  # from its last checkpoint
        status, _ = wait_for(client, lost, timeout=300)
        assert status["state"] == "finished", (status.get("error"), tail(log))
    finally:
        stop_app(server)
