"""A run started from the command line, seen through the studio's real app (gradio_client on the app launched
in-process without sign-in, on the same runs folder): its list_runs has it, run_status follows it live, and
its stop_run stops it (the worker reads a STOP file: the studio did not start it), keeping the model."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client

from test_api import launch, write_reviews

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ROOT = Path(__file__).resolve().parents[2]


def test_a_command_line_run_is_listed_followed_and_stopped_by_the_studio(tmp_path_factory, tiny_bert_dir):
    demo, services, url = launch(tmp_path_factory, "api-cli")
    data = write_reviews(tmp_path_factory.mktemp("cli-data") / "reviews.csv", per_class=30)
    command = [sys.executable, "-m", "ftui", "train", str(data), "--model", str(tiny_bert_dir), "--epochs", "100",
               "--lr", "1e-3", "--set", "batch_size=8", "--set", "max_length=16", "--runs-dir", str(services.store.root)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.startswith("eval  "):  # training the whole model now
                break
        run_id = next(line.split()[1].rstrip(":") for line in seen if line.startswith("run "))
        client = Client(url, verbose=False)
        assert [(r["run_id"], r["state"]) for r in client.predict(api_name="/list_runs")] == [(run_id, "running")]
        first = later = client.predict(run_id, 0, api_name="/run_status")
        deadline = time.monotonic() + 120  # a bound for a stuck run, not a speed requirement
        while later["step"] <= first["step"] and time.monotonic() < deadline:
            time.sleep(0.5)
            later = client.predict(run_id, later["n_rows"], api_name="/run_status")
        assert later["state"] == "running" and later["step"] > first["step"]  # followed live, from the files
        assert client.predict(run_id, api_name="/stop_run")["state"] == "running"  # asked; it stops at its next step
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err  # stopped by someone else: not a failure, not a Ctrl-C
        assert out.splitlines()[-1].startswith("stopped in ")
        assert client.predict(run_id, 0, api_name="/run_status")["state"] == "stopped"
        assert (services.store.root / "local" / run_id / "model" / "config.json").is_file()
    finally:
        if process.poll() is None:
            process.kill()
        demo.close()
        services.close()
