"""ftui.ui.render is pure: snapshots and summaries in, frames / markdown / HTML out."""
from __future__ import annotations

import math

from ftui.ui import render, render_data

ROWS = [
    {"split": "train", "step": 5, "epoch": 0.1, "loss": 0.9, "learning_rate": 1e-5, "samples_per_second": 40.0},
    {"split": "train", "step": 10, "epoch": 0.2, "loss": 0.7, "learning_rate": 2e-5, "samples_per_second": 41.0},
    {"split": "validation", "step": 10, "epoch": 0.2, "loss": 0.6, "accuracy": 0.75},
    {"split": "train", "step": 15, "epoch": 0.3, "loss": 0.5, "learning_rate": 3e-5, "samples_per_second": 42.0},
    {"split": "validation", "step": 20, "epoch": 0.4, "loss": 0.4, "accuracy": 0.875},
]


def test_loss_frame_has_one_point_per_logging_step_after_a_placeholder():
    frame = render.loss_frame(ROWS)
    assert list(frame.columns) == ["step", "loss", "series"]
    assert len(frame) == 1 + 3
    assert math.isnan(frame["loss"].iloc[0]) and frame["step"].iloc[0] == 5  # placeholder at the first step
    assert frame["loss"].iloc[1:].tolist() == [0.9, 0.7, 0.5]
    assert set(frame["series"]) == {render.TRAIN_SERIES}


def test_empty_frames_still_hold_a_placeholder_per_series():
    """A LinePlot whose first value is an empty frame never draws its lines later (Gradio trap)."""
    loss = render.loss_frame([])
    assert len(loss) == 1 and math.isnan(loss["loss"].iloc[0])
    val = render.validation_frame([])
    assert sorted(val["metric"]) == sorted(render.VALIDATION_SERIES)
    assert val["value"].isna().all()
    assert str(loss["step"].dtype) == "int64" and str(val["value"].dtype) == "float64"


def test_validation_frame_is_long_format_loss_and_accuracy():
    frame = render.validation_frame(ROWS)
    real = frame.dropna()
    assert len(real) == 4
    acc = real[real["metric"] == "validation accuracy"]
    assert acc["value"].tolist() == [0.75, 0.875] and acc["step"].tolist() == [10, 20]
    assert frame["step"].iloc[0] == 10  # placeholders sit at the first evaluation step


def test_format_duration():
    assert render.format_duration(None) == "—"
    assert render.format_duration(12.4) == "12 s"
    assert render.format_duration(95) == "1 min 35 s"
    assert render.format_duration(120) == "2 min"
    assert render.format_duration(4000) == "1 h 6 min"


def test_progress_html_shows_percent_eta_and_throughput():
    snap = {"run_id": "r", "state": "running", "progress": 0.25, "step": 30, "total_steps": 120, "epoch": 0.75,
            "eta_s": 90, "samples_per_second": 41.5, "elapsed_s": 30}
    out = render.progress_html(snap)
    assert "25%" in out and "step 30 / 120" in out and "41.5 examples/s" in out and "1 min 30 s left" in out
    assert 'aria-valuenow="25"' in out
    done = render.progress_html({**snap, "state": "finished", "progress": 0.98})
    assert "100%" in done and "took 30 s" in done and "left" not in done
    assert "No run yet" in render.progress_html(None)


def test_progress_html_escapes_unknown_states():
    out = render.progress_html({"state": "<script>", "progress": 0})
    assert "<script>" not in out


def test_state_markdown_per_state():
    base = {"run_id": "20260101-000000-abcd", "best_accuracy": 0.9}
    assert "waiting" in render.state_markdown({**base, "state": "queued"})
    queued = render.state_markdown({**base, "state": "queued",
                                    "queue": {"position": 3, "of": 4, "estimated_start_s": 250.0}})
    assert "3rd in line of 4, starts in about 4 min" in queued
    assert "next in line" in render.state_markdown({**base, "state": "queued",
                                                    "queue": {"position": 1, "of": 1, "estimated_start_s": None}})
    assert "90.0%" in render.state_markdown({**base, "state": "finished"})
    assert "stopped" in render.state_markdown({**base, "state": "stopped"})
    failed = render.state_markdown({**base, "state": "failed", "error": {"code": "x", "message": "Out of memory."}})
    assert "Out of memory." in failed
    assert render.state_markdown(None) == ""


def test_class_histogram_sorted_largest_first():
    frame = render_data.class_histogram({"spam": 10, "ham": 40, "other": 10})
    assert frame["label"].tolist() == ["ham", "other", "spam"]
    assert frame["examples"].tolist() == [40, 10, 10]
    assert render_data.class_histogram(None).empty


def test_issues_markdown_errors_first_in_plain_words():
    issues = [{"code": "imbalanced", "severity": "warning", "message": "The classes are imbalanced."},
              {"code": "single_class", "severity": "error", "message": "Only one class ('a') was found."}]
    text = render_data.issues_markdown(issues)
    assert text.index("Only one class") < text.index("imbalanced")
    assert "Must be fixed" in text
    assert render_data.issues_markdown([]) == ""
    assert "few per class" in render_data.issues_markdown([{"code": "few_per_class"}])


def test_summary_markdown():
    summary = {"file": "spam.csv", "n_examples": 200, "class_counts": {"ham": 150, "spam": 50},
               "text_column": "text", "label_column": "label", "ok": True}
    text = render_data.summary_markdown(summary)
    assert "200 examples in 2 classes" in text and "Ready to train" in text
    assert "Fix the problems" in render_data.summary_markdown({**summary, "ok": False})
    assert "Upload" in render_data.summary_markdown(None)


def test_predict_choices_keep_only_runs_with_a_model_newest_first():
    runs = [{"run_id": "3", "state": "running", "model": "m"},
            {"run_id": "2", "state": "finished", "model": "/tmp/x/tiny-bert", "best_accuracy": 0.5},
            {"run_id": "1", "state": "stopped", "model": "all-MiniLM-L6-v2"},
            {"run_id": "0", "state": "failed", "model": "m"}]
    choices = render.predict_choices(runs)
    assert [value for _, value in choices] == ["2", "1"]
    assert "tiny-bert" in choices[0][0] and "50.0% accuracy" in choices[0][0]
    assert [value for _, value in render.predict_choices([{**runs[0], "saved_model": "best"}])] == ["3"]  # head done


def test_model_label():
    assert render.model_label({"id": "a", "name": "A", "params": "22M", "default": True, "offline": True}) \
        == "A (22M) · default"
    assert render.model_label({"id": "b", "offline": False}) == "b · needs internet"


def test_y_limits_leave_headroom_above_the_highest_point():
    frame = render.validation_frame([{"split": "validation", "step": 5, "loss": 0.2, "accuracy": 0.96}])
    assert render.y_limits(frame, "value", floor=1.0) == [0, 1.08]
    losses = render.loss_frame([{"split": "train", "step": 1, "loss": 2.5}])
    assert render.y_limits(losses, "loss") == [0, 2.7]
    assert render.y_limits(render.loss_frame([]), "loss") == [0, 1]
