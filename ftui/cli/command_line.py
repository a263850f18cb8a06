""""Show as command": a run's settings as the `ftui train ...` line and the Python `gradio_client` call that
start the same run again (the studio shows both beside a run; no gradio here, only text).

    lines = as_commands(read_json(run_dir / "config.json"), data="sms_spam.tsv")
    lines["cli"]     # ftui train sms_spam.tsv --task text --model all-MiniLM-L6-v2 --lr 0.0001 --epochs 1 ...
    lines["python"]  # from gradio_client import Client, handle_file ... api_name="/start_run"

Only options that differ from the defaults are written, so a line stays short and reads as what was chosen.
"""
from __future__ import annotations

import json
import shlex

from ftui.cli.main import DEFAULT_RUNS_DIR, parse_value
from ftui.config import RunConfig
from ftui.runs.store import DEFAULT_OWNER

DEFAULT_URL = "http://127.0.0.1:7860/"


def chosen_options(config: dict) -> dict:
    """The flat options (RunConfig.build's) of a config.json that differ from a new run's defaults."""
    run = RunConfig.from_dict(config)
    defaults = RunConfig.build(run.task, run.model, run.upload, run.learning_rate, run.epochs, {}).options()
    return {key: value for key, value in run.options().items() if defaults.get(key) != value}


def set_value(value) -> str:
    """An option's value as --set writes it: read back by parse_value as the very same value."""
    if isinstance(value, str) and parse_value(value) == value:
        return value
    return json.dumps(value)


def cli_line(config: dict, data: str = "DATA", *, runs_dir: str | None = None, user: str | None = None) -> str:
    run = RunConfig.from_dict(config)
    words = ["ftui", "train", data, "--task", str(run.task), "--model", run.model, "--lr", repr(run.learning_rate),
             "--epochs", str(run.epochs)]
    for key, value in chosen_options(config).items():
        words += ["--set", f"{key}={set_value(value)}"]
    if runs_dir and runs_dir != DEFAULT_RUNS_DIR:
        words += ["--runs-dir", runs_dir]
    if user and user != DEFAULT_OWNER:
        words += ["--user", user]
    return shlex.join(words)


def python_call(config: dict, data: str = "DATA", *, url: str = DEFAULT_URL) -> str:
    """The API call (the studio's start_run endpoint: task, model, dataset, learning_rate, epochs, options)."""
    run = RunConfig.from_dict(config)
    arguments = ", ".join([repr(str(run.task)), repr(run.model), f"handle_file({data!r})", repr(run.learning_rate),
                           repr(run.epochs), repr(chosen_options(config))])
    return "\n".join([
        "from gradio_client import Client, handle_file",
        "",
        f"client = Client({url!r})  # with sign-in: Client(url, auth=(user, password))",
        f"run_id = client.predict({arguments}, api_name=\"/start_run\")",
        "print(client.predict(run_id, 0, api_name=\"/run_status\"))  # state, progress, metric rows",
    ])


def as_commands(config: dict, data: str = "DATA", *, runs_dir: str | None = None, user: str | None = None,
                url: str = DEFAULT_URL) -> dict[str, str]:
    """{"cli": the ftui train line, "python": the gradio_client call}; `data`: the training file's path."""
    return {"cli": cli_line(config, data, runs_dir=runs_dir, user=user), "python": python_call(config, data, url=url)}
