"""The TensorBoard sink (--tensorboard): TensorBoard's own reader sees what metrics.jsonl holds.

The oracle is metrics.jsonl; the event files are read back with tensorboard's EventAccumulator (what
`tensorboard --logdir` uses), so a series that TensorBoard would draw differently fails here.
"""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install -e '.[tensorboard]')")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from ftui import server  # noqa: E402
from ftui.engine import checkpoint  # noqa: E402
from ftui.engine.events import StepLogged  # noqa: E402
from ftui.engine.sinks import FanOut, JsonlSink, StatusSink  # noqa: E402
from ftui.engine.tensorboard_sink import ENV_VAR, TensorBoardSink, run_sinks, tensorboard_enabled  # noqa: E402
from ftui.messages import describe  # noqa: E402
from ftui.runs.store import read_jsonl, update_status  # noqa: E402
from ftui.tasks import get_task  # noqa: E402
from ftui.worker import read_train_data, run_job  # noqa: E402

OPTIONS = {"n": 64, "epochs": 2, "lr": 3e-3, "log_every_steps": 1}  # 48 train / 16 val, batch 8: 6 steps an epoch
SERIES = {"train/loss": ("StepLogged", "loss"), "train/learning_rate": ("StepLogged", "learning_rate"),
          "train/grad_norm": ("StepLogged", "grad_norm"),
          "train/samples_per_second": ("StepLogged", "samples_per_second"),
          "validation/loss": ("EvalLogged", "loss"), "validation/accuracy": ("EvalLogged", "accuracy")}


def tensorboard_series(run_dir) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def jsonl_series(run_dir) -> dict[str, list[tuple[int, float]]]:
    """metrics.jsonl's points per TensorBoard tag, as float32 (what an event file stores)."""
    records = read_jsonl(run_dir / "metrics.jsonl")
    series = {}
    for tag, (kind, field) in SERIES.items():
        points = [(r["step"], float(np.float32(r[field]))) for r in records
                  if r["event"] == kind and r.get(field) is not None]
        if points:
            series[tag] = points
    return series


def test_a_run_with_tensorboard_reads_back_equal_to_metrics_jsonl(make_text_run, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "1")  # what `ftui serve --tensorboard` hands its workers
    _, run_dir, _, _ = make_text_run(**OPTIONS)
    assert run_job(run_dir, threading.Event()) == "finished"  # the worker's own code path

    expected, seen = jsonl_series(run_dir), tensorboard_series(run_dir)
    assert set(seen) == set(SERIES) == set(expected)
    for tag in SERIES:
        assert seen[tag] == expected[tag], tag  # steps and values, to float32
    # the head-first stage's points are at step 0, then one train point per step
    assert [s for s, _ in seen["train/loss"]] == list(range(0, 13))
    assert [s for s, _ in seen["validation/accuracy"]] == [0, 6, 12]
    assert seen["train/learning_rate"][0] == (0, 0.0) and seen["train/learning_rate"][1][1] > 0
    assert "train/grad_norm" in seen and len(seen["train/grad_norm"]) == 12  # fine-tuning steps only


def test_without_the_switch_no_event_files_are_written(make_text_run, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert not tensorboard_enabled() and run_sinks("unused") == []
    assert tensorboard_enabled({ENV_VAR: "1"}) and not tensorboard_enabled({ENV_VAR: "0"})


def test_a_resumed_run_has_no_duplicated_or_stale_points(make_text_run, monkeypatch):
    """Stop at step 4, a crashed process's point at step 5 past the checkpoint, then resume in the worker:
    TensorBoard shows each step once, the resumed values, equal to metrics.jsonl."""
    monkeypatch.setenv(ENV_VAR, "1")
    _, run_dir, config, source = make_text_run(**OPTIONS)
    cancel = threading.Event()

    class CancelAt4:
        def emit(self, event):
            if isinstance(event, StepLogged) and event.step >= 4:
                cancel.set()

    sink = FanOut(JsonlSink(run_dir / "metrics.jsonl"), StatusSink(run_dir), *run_sinks(run_dir), CancelAt4())
    from ftui.engine import loop

    first = loop.train(config, get_task(config.task), source, read_train_data(run_dir), sink, cancel,
                       run_dir / "model", checkpoint_dir=checkpoint.last_dir(run_dir))
    assert first.state == "stopped" and first.step == 4
    with SummaryWriter(str(run_dir / "tensorboard")) as crashed:  # logged after the checkpoint, then died
        crashed.add_scalar("train/loss", 9.0, 5)

    update_status(run_dir, resume=True, state="interrupted")
    assert run_job(run_dir, threading.Event()) == "finished"

    seen, expected = tensorboard_series(run_dir), jsonl_series(run_dir)
    steps = [s for s, _ in seen["train/loss"]]
    assert steps == list(range(0, 13))  # no step twice, the stale step 5 gone
    assert (5, 9.0) not in seen["train/loss"]
    for tag in SERIES:
        assert seen[tag] == expected[tag], tag


def test_tensorboard_sink_ignores_events_before_a_run_starts(tmp_path):
    sink = TensorBoardSink(tmp_path / "tb")
    sink.emit(StepLogged(step=1, epoch=0.1, loss=1.0, learning_rate=0.1, samples_per_second=1.0, elapsed_s=1.0))
    assert not (tmp_path / "tb").exists()


def test_server_flag_without_the_package_says_so_and_stops(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # how Python marks a package as not importable
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))  # main() sets it when unset: keep it ours
    assert server.parse_args(["--tensorboard"]).tensorboard and not server.parse_args([]).tensorboard
    assert server.main(["--tensorboard", "--runs-dir", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert describe("tensorboard_missing") in err and "pip install" in err
    assert not tensorboard_enabled() and not (tmp_path / "runs").exists()


def test_the_switch_reaches_workers_started_from_here_and_remote_ones(monkeypatch):
    from ftui.engine.tensorboard_sink import enable_tensorboard, tensorboard_env

    monkeypatch.delenv(ENV_VAR, raising=False)  # restored after the test
    assert tensorboard_env() == {}
    assert enable_tensorboard() == {ENV_VAR: "1"}  # what a Ray job's runtime_env gets
    assert tensorboard_enabled() and [type(s) for s in run_sinks("some/run")] == [TensorBoardSink]
