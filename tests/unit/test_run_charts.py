"""Runs you can read: the learning rate, gradient norm and throughput charts (Train tab live view and the
Runs tab's comparison), and a failed run's log in the page, for a worker that crashed and for a run that
failed with an exception. The page's handlers are called as Gradio calls them, without a browser."""
from __future__ import annotations

import math
import sys
import threading
from pathlib import Path

import gradio as gr
import pytest

from ftui.engine.events import metric_rows
from ftui.engine.local_backend import LocalBackend
from ftui.services import Services
from ftui.ui import charts, render
from ftui.ui.train_live import LiveView
from ftui.worker import run_job

FAKE = Path(__file__).parent / "fakes" / "fake_worker.py"
RECORDS = [
    {"event": "StepLogged", "step": 0, "epoch": 0.0, "loss": 0.7, "learning_rate": 0.0, "samples_per_second": 900.0,
     "elapsed_s": 1.0, "stage": "head"},
    {"event": "EvalLogged", "step": 0, "epoch": 0.0, "loss": 0.6, "accuracy": 0.5, "elapsed_s": 1.1, "stage": "head"},
    {"event": "StepLogged", "step": 1, "epoch": 0.5, "loss": 0.65, "learning_rate": 1e-3, "samples_per_second": 40.0,
     "elapsed_s": 2.0, "grad_norm": 2.5},
    {"event": "StepLogged", "step": 2, "epoch": 1.0, "loss": 0.5, "learning_rate": 5e-4, "samples_per_second": 42.0,
     "elapsed_s": 3.0, "grad_norm": 1.25},
    {"event": "EvalLogged", "step": 2, "epoch": 1.0, "loss": 0.4, "accuracy": 0.75, "elapsed_s": 3.5},
]


def test_metric_rows_carry_the_gradient_norm_and_old_logs_still_load():
    train = [r for r in metric_rows(RECORDS) if r["split"] == "train"]
    assert [r["grad_norm"] for r in train] == [None, 2.5, 1.25]  # the head-first fit has no gradient
    assert [r["samples_per_second"] for r in train] == [900.0, 40.0, 42.0]


def test_the_step_charts_have_one_point_per_fine_tuning_step_after_a_placeholder():
    rows = metric_rows(RECORDS)
    for frame, column, values in [(render.rate_frame(rows), "learning rate", [1e-3, 5e-4]),
                                  (render.grad_norm_frame(rows), "gradient norm", [2.5, 1.25]),
                                  (render.throughput_frame(rows), "samples/s", [40.0, 42.0])]:
        assert list(frame.columns) == ["step", column]
        assert math.isnan(frame[column].iloc[0])  # Gradio's LinePlot needs a first row (ENVIRONMENT.md)
        assert frame["step"].tolist()[1:] == [1, 2] and frame[column].tolist()[1:] == values  # step 0: the head
    assert render.grad_norm_frame([]).shape == (1, 2)


def test_the_comparison_draws_each_runs_rate_norm_and_throughput():
    rows = metric_rows(RECORDS)
    fig = charts.steps_figure({"run a": rows, "run b": rows[:3]})
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["learning rate", "gradient norm", "samples/s"]
    norm_a, norm_b = axes[1].lines
    assert norm_a.get_xydata().tolist() == [[1, 2.5], [2, 1.25]] and norm_b.get_xydata().tolist() == [[1, 2.5]]
    assert norm_a.get_color() == axes[0].lines[0].get_color() != norm_b.get_color()  # a run keeps its colour
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["run a", "run b"]


@pytest.fixture
def live(tmp_path):
    """(services, LiveView) on a runs folder whose workers are fake_worker.py BEHAVIOUR (set per test)."""
    made = []

    def make(behaviour: str | None = None, runs: Path | None = None):
        backend = LocalBackend(command=[sys.executable, str(FAKE), behaviour]) if behaviour else None
        services = Services(runs or tmp_path / "runs", backend=backend)
        made.append(services)
        with gr.Blocks():
            view = LiveView(services, gr.Timer(active=False), gr.Button())
        return services, view

    yield make
    for services in made:
        services.close()


def shown(view: LiveView, outputs: tuple) -> dict:
    names = ["poll", "progress", "state_text", "recipe_text", "log_box", "log", "loss_plot", "val_plot",
             "lr_plot", "grad_plot", "speed_plot", "stop", "timer"]
    assert len(outputs) == len(view.outputs) == len(names)
    return dict(zip(names, outputs))


def failed_run(services) -> tuple[str, Path]:
    from ftui.config import RunConfig

    config = RunConfig.build("text", "some-model", "u-0000000000000000", 1e-3, 1, {})
    run_id, run_dir = services.store.create(None, config)
    services.jobs.submit(run_dir.resolve())
    assert services.jobs.wait(run_dir.resolve(), 30) == "failed"
    return run_id, run_dir


def test_a_worker_that_crashed_shows_its_traceback_in_the_page(live):
    services, view = live("traceback")
    run_id, _ = failed_run(services)
    out = shown(view, view.attach(run_id, None))
    assert "ended without finishing (exit code 1)" in out["state_text"]
    assert out["log_box"].visible is True
    assert "RuntimeError: boom: the worker broke before its run started" in out["log"]


def test_a_worker_that_died_silently_shows_no_empty_log_box(live):
    services, view = live("crash")
    run_id, run_dir = failed_run(services)
    assert (run_dir / "worker.log").read_text() == ""  # it printed nothing
    out = shown(view, view.attach(run_id, None))
    assert "exit code 3" in out["state_text"] and out["log_box"].visible is False and out["log"] == ""


def test_a_run_that_failed_with_an_exception_shows_its_traceback(make_text_run, live, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json", encoding="utf-8")
    store, run_dir, _, _ = make_text_run(n=32, epochs=1, model=broken)
    assert run_job(run_dir, threading.Event()) == "failed"  # the worker's own code, in this process
    services, view = live(runs=store.root)
    out = shown(view, view.attach(run_dir.name, None))
    assert out["log_box"].visible is True  # the traceback's end (error.log), where the exception is named
    assert out["log"].splitlines()[-1].startswith("ftui.errors.FtuiError: model_load_failed")
    assert "could not be loaded" in out["state_text"]


def test_the_live_view_sends_the_gradient_norm_and_throughput_charts(make_text_run, live):
    store, run_dir, _, _ = make_text_run(n=32, epochs=1, log_every_steps=1)
    assert run_job(run_dir, threading.Event()) == "finished"
    services, view = live(runs=store.root)
    out = shown(view, view.attach(run_dir.name, None))
    norms, speeds = out["grad_plot"].value, out["speed_plot"].value
    assert norms["columns"] == ["step", "gradient norm"] and speeds["columns"] == ["step", "samples/s"]
    steps = [step for step, value in norms["data"] if value is not None and not math.isnan(value)]
    assert steps == [1, 2, 3]  # 24 training examples, batch 8: one point per step
    assert all(value > 0 for _, value in speeds["data"][1:]) and out["log_box"].visible is False
