"""The admin Box tab and the text inside pictures (comparison charts, the confusion matrix PNG) follow the
language of whoever asked: English as before, or Simplified Chinese with a font that has its glyphs."""
from __future__ import annotations

import io
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ftui import evaluation
from ftui.fonts import text_fonts
from ftui.i18n import EN, ZH
from ftui.ui import charts
from ftui.ui.tab_box import ACTIVE_COLUMNS, SLOT_COLUMNS, active_frame, slots_frame

CJK = re.compile(r"[\u4e00-\u9fff]")
BOX = {"slots": [{"slot": "gpu 0", "run_id": "r-1", "owner": "ann", "pid": 42, "memory_mb": 900, "gpu_memory_mb": None},
                 {"slot": "gpu 1", "run_id": None, "owner": None, "pid": None, "memory_mb": None,
                  "gpu_memory_mb": None}],
       "active": [{"owner": "ann", "run_id": "r-1", "state": "running", "progress": 0.5, "eta_s": 90},
                  {"owner": "bob", "run_id": "r-2", "state": "queued", "progress": 0, "eta_s": None}],
       "queue": [{"owner": "bob", "run_id": "r-2", "position": 1}]}


def glyph_warnings(draw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_the_box_tables_speak_chinese_and_english_stays_as_it_was():
    slots, active = slots_frame(BOX, ZH), active_frame(BOX, ZH)
    for frame, english in ((slots, SLOT_COLUMNS), (active, ACTIVE_COLUMNS)):
        assert not set(frame.columns) & set(english), list(frame.columns)  # no English header left
        assert all(CJK.search(c) for c in frame.columns), list(frame.columns)
    assert slots.iloc[1, 1] == "空闲"
    assert active.iloc[:, 2].tolist() == ["训练中", "排队中"]
    assert list(slots_frame(BOX).columns) == SLOT_COLUMNS and slots_frame(BOX).iloc[1, 1] == "free"
    assert active_frame(BOX, EN).iloc[:, 2].tolist() == ["running", "queued"]


def test_the_comparison_charts_label_their_axes_in_chinese_with_glyphs_to_draw_them():
    frame = pd.DataFrame({"step": [0, 1, 2], "loss": [1.0, 0.6, 0.4], "run": ["情感 (r-1)"] * 3})
    loss = charts.overlay_figure(frame, "loss", "训练损失", lines=True, lang=ZH)
    ax = loss.get_axes()[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("步数", "训练损失")
    steps = charts.steps_figure({"情感 (r-1)": []}, ZH)
    assert [a.get_title() for a in steps.get_axes()] == ["学习率", "梯度范数", "样本/秒"]
    assert {a.get_xlabel() for a in steps.get_axes()} == {"步数"}
    # Gradio draws the figure later, outside the charts' font context: the text keeps its CJK fallback.
    for fig in (loss, steps):
        assert glyph_warnings(lambda: fig.savefig(io.BytesIO(), format="png")) == []
    assert charts.overlay_figure(frame, "loss", "training loss", lines=True).get_axes()[0].get_xlabel() == "step"
    assert charts.steps_figure({}).get_axes()[0].get_title() == "learning rate"


def test_the_confusion_picture_is_drawn_in_the_askers_language(tmp_path):
    with text_fonts():  # as plot_confusion draws it
        fig = evaluation.confusion_figure([[5, 1], [2, 7]], ["正面", "负面"], "验证集", lang=ZH)
    ax = fig.get_axes()[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("预测标签", "真实标签", "验证集")
    english = evaluation.confusion_figure([[5, 1], [2, 7]], ["pos", "neg"]).get_axes()[0]
    assert (english.get_xlabel(), english.get_ylabel()) == ("predicted label", "true label")
    out = tmp_path / "c.png"
    draw = lambda: evaluation.plot_confusion([[5, 1], [2, 7]], ["pos", "neg"], out, title="验证集", lang=ZH)  # noqa: E731
    assert glyph_warnings(draw) == []
    assert out.read_bytes().startswith(b"\x89PNG")


def test_an_evaluation_titles_its_picture_in_the_askers_language(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(evaluation, "plot_confusion", lambda *a, title="", lang=EN: drawn.append((title, lang)))
    predictor = SimpleNamespace(labels=["neg", "pos"], task=SimpleNamespace(name="text"),
                                probabilities=lambda xs: np.array([[0.2, 0.8] for _ in xs]))
    evaluation.evaluate_run(tmp_path, predictor, ["a", "b"], ["pos", "neg"], source="validation", lang=ZH)
    evaluation.evaluate_run(tmp_path, predictor, ["a", "b"], ["pos", "neg"], source="validation")
    assert drawn == [("验证集：准确率 50.0%（共 2 条）", ZH), ("validation: accuracy 50.0% on 2", EN)]
