"""ftui.ui.render_runs is pure: run summaries, configs, metric rows and evaluations in, frames and text out."""
from __future__ import annotations

import math

from ftui.ui import render_runs as rr

RUNS = [
    {"run_id": "20261128-120000-bbbb", "name": "", "task": "text", "model": "/tmp/models/tiny-bert",
     "learning_rate": 0.0005, "epochs": 3, "state": "running", "started": 100.0, "ended": None,
     "best_accuracy": None, "data_name": "reviews.csv"},
    {"run_id": "20261128-110000-aaaa", "name": "baseline", "task": "text", "model": "minilm",
     "learning_rate": 5e-5, "epochs": 2, "state": "finished", "started": 10.0, "ended": 105.0,
     "best_accuracy": 0.9375, "data_name": "sms.csv", "batch_size": 16},
]
CONFIG_A = {"task": "text", "model": "minilm", "upload": "u-1", "learning_rate": 5e-5, "epochs": 2, "name": "a",
            "data": {"val_fraction": 0.2, "text_column": None}, "train": {"batch_size": 16, "seed": 42}}
CONFIG_B = {**CONFIG_A, "learning_rate": 1e-3, "name": "b", "train": {"batch_size": 16, "seed": 7}}


def test_runs_table_has_one_row_per_run_with_batch_size_accuracy_and_duration():
    frame = rr.runs_table(RUNS, now=130.0)
    assert list(frame.columns) == rr.RUN_COLUMNS
    assert frame["run"].tolist() == ["20261128-120000-bbbb", "20261128-110000-aaaa"]
    assert frame["model"].tolist() == ["tiny-bert", "minilm"]  # a folder shows as its last part
    assert frame["batch size"].tolist() == ["auto", 16]  # none chosen in the first run: decided by the run (auto)
    assert frame["best val. accuracy"].tolist() == ["", "93.8%"]
    assert frame["duration"].tolist() == ["30 s", "1 min 35 s"]  # active: up to now; ended: started -> ended
    assert frame["learning rate"].tolist() == ["0.0005", "5e-05"]


def test_duration_is_unknown_for_a_run_that_never_started_or_ended_without_a_time():
    assert rr.duration_s({"state": "queued"}) is None
    assert rr.duration_s({"state": "failed", "started": 5.0}) is None
    assert rr.duration_s({"state": "running", "started": 5.0}, now=7.5) == 2.5


def test_run_choices_prefer_names_and_can_keep_only_finished_runs():
    choices = rr.run_choices(RUNS)
    assert [v for _, v in choices] == ["20261128-120000-bbbb", "20261128-110000-aaaa"]
    assert choices[1][0].startswith("baseline (20261128-110000-aaaa)") and "93.8%" in choices[1][0]
    assert [v for _, v in rr.run_choices(RUNS, done_only=True)] == ["20261128-110000-aaaa"]


def test_keep_choices_drops_runs_that_are_gone():
    assert rr.keep_choices(["x", "20261128-110000-aaaa"], RUNS) == ["20261128-110000-aaaa"]
    assert rr.keep_choices(None, RUNS) == []


ROWS = [{"split": "train", "step": 2, "loss": 0.9}, {"split": "train", "step": 4, "loss": 0.5},
        {"split": "validation", "step": 4, "loss": 0.4, "accuracy": 0.75}]


def test_overlay_frames_have_a_placeholder_then_the_points_of_every_run():
    loss = rr.overlay_loss_frame({"a": ROWS, "b": ROWS[:1]})
    assert loss["run"].tolist() == ["a", "b", "a", "a", "b"]
    assert math.isnan(loss["loss"].iloc[0]) and math.isnan(loss["loss"].iloc[1])  # one placeholder per run first
    assert loss["loss"].iloc[2:].tolist() == [0.9, 0.5, 0.9]
    acc = rr.overlay_accuracy_frame({"a": ROWS, "b": ROWS[:1]})
    assert acc.dropna()["accuracy"].tolist() == [0.75]
    assert sorted(acc["run"].unique().tolist()) == ["a", "b"]  # run b (no evaluation yet) still has its series
    assert len(rr.overlay_loss_frame({})) == 0


def test_config_diff_marks_exactly_the_settings_that_differ():
    frame = rr.config_diff({"run a": CONFIG_A, "run b": CONFIG_B})
    assert list(frame.columns) == ["setting", "run a", "run b", "differs"]
    marked = frame.loc[frame["differs"] == rr.DIFFERS, "setting"].tolist()
    assert sorted(marked) == ["learning_rate", "name", "train.seed"]
    assert frame["setting"].tolist()[:5] == ["name", "task", "model", "upload", "learning_rate"]
    lr = frame.set_index("setting").loc["learning_rate"]
    assert (lr["run a"], lr["run b"]) == ("5e-05", "0.001")
    assert frame.set_index("setting").loc["data.text_column", "run a"] == "—"  # None shows as a dash


def test_highlight_tints_only_differing_rows():
    frame = rr.config_diff({"a": CONFIG_A, "b": CONFIG_B})
    styles = rr.difference_styles(frame)
    tinted = [i for i, row in enumerate(styles) if all(css == rr.DIFFERS_STYLE for css in row)]
    assert tinted == rr.differing_rows(frame) and len(tinted) == 3
    assert all(not any(row) for i, row in enumerate(styles) if i not in tinted)
    assert "#fde68a" in rr.highlight_differences(frame).to_html()  # the Styler carries them


def test_onnx_sentence_reads_like_a_person_wrote_it():
    ok = {"max_abs_diff": 3.2e-6, "n_checked": 32, "same_argmax_fraction": 1.0, "parity_ok": True}
    assert rr.onnx_sentence(ok) == ("ONNX parity: max |Δlogit| 3e-06 over 32 validation inputs, "
                                    "same top label 100.0%.")
    assert rr.onnx_sentence({**ok, "parity_ok": False, "max_abs_diff": 0.5}).startswith("**Warning:**")


def test_size_text():
    assert rr.size_text(512) == "512 bytes"
    assert rr.size_text(3 * 1024 * 1024) == "3.0 MB"


EVAL = {"name": "validation", "source": "validation", "n": 8, "accuracy": 0.75, "macro_f1": 0.7333,
        "weighted_f1": 0.74, "labels": ["neg", "pos"], "confusion": [[3, 1], [1, 3]], "unseen_labels": {"meh": 2},
        "per_class": [{"label": "neg", "precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4},
                      {"label": "pos", "precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}]}


def test_confusion_frame_rows_are_true_labels_columns_predicted():
    frame = rr.confusion_frame(EVAL["confusion"], EVAL["labels"])
    assert list(frame.columns) == [rr.CONFUSION_CORNER, "neg", "pos"]
    assert frame.iloc[0].tolist() == ["neg", 3, 1]
    assert rr.cell_of([0, 2], EVAL["labels"]) == ("neg", "pos")  # row neg, column "pos"
    assert rr.cell_of([1, 1], EVAL["labels"]) == ("pos", "neg")
    assert rr.cell_of([1, 0], EVAL["labels"]) is None  # the label column is no cell
    assert rr.cell_of([2, 1], EVAL["labels"]) is None and rr.cell_of(3, EVAL["labels"]) is None


def test_confusion_style_colours_the_diagonal_green_and_mistakes_red():
    frame = rr.confusion_frame([[3, 0], [2, 5]], ["neg", "pos"])
    assert rr.confusion_styles(frame) == [["", rr.RIGHT_STYLE, ""],  # the zero mistake stays plain
                                          ["", rr.WRONG_STYLE, rr.RIGHT_STYLE]]
    html = rr.style_confusion(frame).to_html()
    assert "#bbf7d0" in html and "#fecaca" in html


def test_evaluation_markdown_names_metrics_and_unseen_labels():
    text = rr.evaluation_markdown(EVAL)
    assert "accuracy **75.0%**" in text and "macro-F1 **73.3%**" in text and "`meh` (2)" in text
    assert "No evaluation yet" in rr.evaluation_markdown(None)


def test_per_class_and_examples_frames():
    per = rr.per_class_frame(EVAL["per_class"])
    assert per.columns.tolist() == ["label", "precision", "recall", "F1", "support"] and per["support"].sum() == 8
    examples = rr.examples_frame([{"index": 4, "input": "dull film", "true": "neg", "pred": "pos",
                                   "confidence": 0.61, "probabilities": {"neg": 0.39, "pos": 0.61}}])
    assert examples.iloc[0].tolist() == ["pos", "61.0%", "neg", "pos 61.0%, neg 39.0%", 4, "dull film"]  # answer first
    import pandas as pd

    csv = pd.DataFrame([{"input": "a very long text " * 20, "predicted": "spam", "confidence": 0.9, "p_ham": 0.1,
                         "p_spam": 0.9}])
    assert rr.batch_preview(csv).columns.tolist() == ["predicted", "confidence", "p_ham", "p_spam", "input"]


def test_cell_markdown_says_how_many_and_which_kind():
    assert "3 **neg** examples were correctly predicted" in rr.cell_markdown("neg", "neg", 3, 3)
    assert "1 **neg** example was correctly predicted" in rr.cell_markdown("neg", "neg", 1, 1)
    assert "predicted as **pos**" in rr.cell_markdown("neg", "pos", 30, 24) and "24 most confident" in \
        rr.cell_markdown("neg", "pos", 30, 24)
    assert rr.cell_markdown("neg", "pos", 0, 0).startswith("No **neg**")


def test_batch_markdown_lists_skipped_files():
    text = rr.batch_markdown({"n": 10, "source": "x.zip", "skipped": [{"file": "a.txt", "message": "not audio"}]})
    assert "**10 inputs**" in text and "a.txt (not audio)" in text
