"""Pure rendering for the Runs and Evaluate tabs: run lists, config diffs, overlaid curves,
evaluation tables and the sentences around them.

No gradio and no torch here (pandas only), so every function is unit-tested on plain dicts.
"""
from __future__ import annotations

import math
import time

import pandas as pd

from ftui.ui import verdict
from ftui.i18n import columns
from ftui.ui.render import ACTIVE_STATES, DONE_STATES, _num, _short_model, format_duration, queue_text, state_name, t

DIFFERS = "≠"  # the marker in the config table's "differs" column
CONFIG_KEYS_FIRST = ("name", "task", "model", "upload", "learning_rate", "epochs")


# -- the runs table --------------------------------------------------------------------------
RUN_COLUMNS = ["run", "name", "task", "model", "data", "learning rate", "epochs", "batch size",
               "best val. accuracy", "state", "duration", "disk"]


def duration_s(run: dict, now: float | None = None) -> float | None:
    """Seconds the run has trained: started -> ended, or -> now while it is active."""
    started = run.get("started")
    if not isinstance(started, (int, float)):
        return None
    ended = run.get("ended")
    if not isinstance(ended, (int, float)):
        if run.get("state") not in ACTIVE_STATES:
            return None
        ended = time.time() if now is None else now
    return max(0.0, float(ended) - float(started)) + float(run.get("earlier_s") or 0.0)  # + before a resume


def percent(value) -> str:
    return f"{value * 100:.1f}%" if isinstance(value, (int, float)) and math.isfinite(value) else ""


def runs_table(runs: list[dict], now: float | None = None, lang: str = "en") -> pd.DataFrame:
    """One row per run summary (list_runs order: newest first)."""
    rows = []
    for r in runs:
        rows.append([r.get("run_id"), r.get("name") or "", t(f"task.{r.get('task')}", lang) if r.get("task") else "",
                     _short_model(r.get("model")), r.get("data_name") or "", _lr(r.get("learning_rate")), r.get("epochs"),
                     r.get("batch_size") or t("train.auto", lang), percent(r.get("best_accuracy")), _state(r, lang),
                     format_duration(duration_s(r, now), lang) if duration_s(r, now) is not None else "",
                     size_text(r.get("disk_bytes")) if r.get("disk_bytes") else ""])
    return pd.DataFrame(rows, columns=RUN_COLUMNS if lang == "en" else [t(f"col.{c}", lang) for c in RUN_COLUMNS])


def _state(run: dict, lang: str = "en") -> str:
    place, state = queue_text(run.get("queue"), lang), state_name(run.get("state"), lang)
    return f"{state} ({place})" if place else state or ""


def _lr(value) -> str:
    number = _num(value)
    return "" if math.isnan(number) else f"{number:g}"


def run_title(run: dict) -> str:
    """A run as a person names it: its display name (with the id), or the id alone."""
    name = (run.get("name") or "").strip()
    return f"{name} ({run.get('run_id')})" if name else str(run.get("run_id"))


def run_choices(runs: list[dict], done_only: bool = False, lang: str = "en") -> list[tuple[str, str]]:
    """(label, run_id) for dropdowns: 'name (id) · model · state · 93.1%'."""
    out = []
    for r in runs:
        if done_only and r.get("state") not in DONE_STATES:
            continue
        parts = [run_title(r), _short_model(r.get("model")), state_name(r.get("state"), lang) or "?"]
        if percent(r.get("best_accuracy")):
            parts.append(percent(r.get("best_accuracy")))
        out.append((" · ".join(parts), r["run_id"]))
    return out


def keep_choices(selected, runs: list[dict]) -> list[str]:
    """The selected run ids that still exist (a deleted run drops out of a selection)."""
    ids = {r.get("run_id") for r in runs}
    return [s for s in (selected or []) if s in ids]


# -- overlays of several runs ----------------------------------------------------------------
def overlay_loss_frame(rows_by_run: dict[str, list[dict]]) -> pd.DataFrame:
    """Training loss of several runs: columns step, loss, run."""
    return _overlay(rows_by_run, "train", "loss")


def overlay_accuracy_frame(rows_by_run: dict[str, list[dict]]) -> pd.DataFrame:
    """Validation accuracy per evaluation of several runs: columns step, accuracy, run."""
    return _overlay(rows_by_run, "validation", "accuracy")


def _overlay(rows_by_run: dict[str, list[dict]], split: str, column: str) -> pd.DataFrame:
    """One NaN placeholder row per run comes first (a chart whose first frame lacks a series never draws it)."""
    head, points = [], []
    for run, rows in rows_by_run.items():
        kept = [r for r in rows if r.get("split") == split and r.get("step") is not None]
        head.append({"step": min((r["step"] for r in kept), default=0), column: math.nan, "run": run})
        points += [{"step": r["step"], column: _num(r.get(column)), "run": run} for r in kept]
    return pd.DataFrame(head + points, columns=["step", column, "run"]).astype(
        {"step": "int64", column: "float64", "run": "string"})


# -- configs side by side --------------------------------------------------------------------
def flatten_config(config: dict) -> dict[str, object]:
    """config.json -> {"learning_rate": ..., "data.val_fraction": ..., "train.batch_size": ...}."""
    flat = {}
    for key, value in (config or {}).items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def _shown(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def config_diff(configs: dict[str, dict], lang: str = "en") -> pd.DataFrame:
    """Settings as rows, one column per run (title -> config.json), and a "differs" column marked
    DIFFERS where the runs disagree. The main settings come first, then data.*, then train.*."""
    flats = {title: flatten_config(c) for title, c in configs.items()}
    keys = sorted({k for f in flats.values() for k in f},
                  key=lambda k: (CONFIG_KEYS_FIRST.index(k) if k in CONFIG_KEYS_FIRST else len(CONFIG_KEYS_FIRST),
                                 k.startswith("train."), k))
    rows = []
    for key in keys:
        values = [_shown(f.get(key)) for f in flats.values()]
        rows.append([key, *values, DIFFERS if len(set(values)) > 1 else ""])
    return pd.DataFrame(rows, columns=[*columns(["setting"], lang), *flats.keys(), *columns(["differs"], lang)])


def differing_rows(frame: pd.DataFrame) -> list[int]:
    return [i for i, mark in enumerate(frame.get("differs", [])) if mark == DIFFERS]


DIFFERS_STYLE = "background-color: #fde68a; color: #111827; font-weight: 600"
RIGHT_STYLE = "background-color: #bbf7d0; color: #111827; font-weight: 600"
WRONG_STYLE = "background-color: #fecaca; color: #111827; font-weight: 600"


def difference_styles(frame: pd.DataFrame) -> list[list[str]]:
    """CSS per cell: the rows whose runs disagree are tinted, whole."""
    marked = set(differing_rows(frame))
    return [[DIFFERS_STYLE if i in marked else ""] * len(frame.columns) for i in range(len(frame))]


def highlight_differences(frame: pd.DataFrame):
    """A pandas Styler with difference_styles (gr.Dataframe shows a Styler's colours)."""
    return _styled(frame, difference_styles(frame))


def _styled(frame: pd.DataFrame, styles: list[list[str]]):
    css = pd.DataFrame(styles, index=frame.index, columns=frame.columns) if len(frame) else None
    return frame.style.apply(lambda _: css, axis=None) if css is not None else frame.style


# -- exports ---------------------------------------------------------------------------------
def size_text(n_bytes) -> str:
    n = float(n_bytes or 0)
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def onnx_sentence(result: dict, lang: str = "en") -> str:
    """'ONNX parity: max |Δlogit| 3e-06 over 32 validation inputs, same top label 100%.'"""
    diff, n, same = result.get("max_abs_diff"), result.get("n_checked"), result.get("same_argmax_fraction")
    text = t("onnx.facts", lang, diff=_num(diff), n=n, same=percent(same) or '?')
    return t("onnx.mismatch" if result.get("parity_ok") is False else "onnx.parity", lang, text=text)


# -- evaluation ------------------------------------------------------------------------------
CONFUSION_CORNER = "true ↓ / predicted →"


def evaluation_markdown(result: dict | None, lang: str = "en") -> str:
    """Headline numbers of one evaluation, and what was left out."""
    if not result:
        return t("eval.none", lang)
    source = t("eval.its_validation", lang) if result.get("source") == "validation" else f"**{result.get('source')}**"
    supports = [c.get("support") or 0 for c in result.get("per_class") or []]
    majority = max(supports) / sum(supports) if sum(supports) else None
    measured = verdict.accuracy_sentence(result.get("accuracy"), result.get("n") or 0, len(result.get("labels") or []),
                                         majority, lang=lang)
    line = t("eval.line", lang, source=source, accuracy=measured or percent(result.get('accuracy')),
             macro=percent(result.get('macro_f1')), weighted=percent(result.get('weighted_f1')))
    unseen = result.get("unseen_labels") or {}
    if unseen:
        listed = ", ".join(f"`{k}` ({v})" for k, v in unseen.items())
        line += t("eval.left_out", lang, listed=listed)
    return line + t("eval.click_cell", lang)


def per_class_frame(per_class: list[dict] | None, lang: str = "en") -> pd.DataFrame:
    rows = [[c.get("label"), round(_num(c.get("precision")), 3), round(_num(c.get("recall")), 3),
             round(_num(c.get("f1")), 3), c.get("support")] for c in per_class or []]
    return pd.DataFrame(rows, columns=columns(["label", "precision", "recall", "F1", "support"], lang))


def confusion_frame(confusion: list[list[int]] | None, labels: list[str] | None, lang: str = "en") -> pd.DataFrame:
    """Rows = true label, columns = predicted label; the first column names the true label."""
    labels = [str(x) for x in labels or []]
    rows = [[label, *[int(v) for v in (confusion[i] if confusion and i < len(confusion) else [])]]
            for i, label in enumerate(labels)]
    return pd.DataFrame(rows, columns=[*columns([CONFUSION_CORNER], lang), *labels])


def confusion_styles(frame: pd.DataFrame) -> list[list[str]]:
    """CSS per cell of confusion_frame: correct predictions (the diagonal) green, mistakes that occur
    red, so the eye finds them at once; zeros and the label column stay plain."""
    out = []
    for i, row in enumerate(frame.itertuples(index=False)):
        styles = [""]
        for j, value in enumerate(row[1:]):
            styles.append("" if not value else RIGHT_STYLE if i == j else WRONG_STYLE)
        out.append(styles)
    return out


def style_confusion(frame: pd.DataFrame):
    return _styled(frame, confusion_styles(frame))


def cell_of(index, labels: list[str] | None) -> tuple[str, str] | None:
    """(true, predicted) for a click at [row, col] of confusion_frame; None for the label column."""
    labels = [str(x) for x in labels or []]
    if not isinstance(index, (list, tuple)) or len(index) != 2:
        return None
    row, col = index
    if not (isinstance(row, int) and isinstance(col, int)) or not (0 <= row < len(labels) and 1 <= col <= len(labels)):
        return None
    return labels[row], labels[col - 1]


def cell_markdown(true: str, pred: str, n: int, shown: int, lang: str = "en") -> str:
    kind = t("eval.correct", lang) if true == pred else t("eval.predicted_as", lang, pred=pred)
    more = t("eval.most_confident", lang, shown=shown) if shown < n else ""
    if not n:
        return t("eval.no_example", lang, true=true, kind=kind)
    return t("eval.one_example" if n == 1 else "eval.examples", lang, n=n, true=true, kind=kind, more=more)


def top_probabilities(probabilities: dict | None, k: int = 3) -> str:
    items = sorted((probabilities or {}).items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{label} {p * 100:.1f}%" for label, p in items)


def examples_frame(examples: list[dict], lang: str = "en") -> pd.DataFrame:
    """A confusion cell's examples, the answer first (a long text in the last column cannot push it away)."""
    rows = [[e.get("pred"), percent(e.get("confidence")), e.get("true"), top_probabilities(e.get("probabilities")),
             e.get("index"), e.get("input")] for e in examples]
    return pd.DataFrame(rows, columns=columns(["predicted", "confidence", "true", "probabilities", "#", "input"], lang))


def batch_preview(frame: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """The prediction CSV's first rows with the answer first and the (possibly long) input last."""
    first = [c for c in ("predicted", "confidence") if c in frame.columns]
    frame = frame[[*first, *(c for c in frame.columns if c not in first and c != "input"), "input"]] \
        if "input" in frame.columns else frame
    return frame.set_axis(columns(frame.columns, lang), axis=1)


def evaluation_choices(evaluations: list[dict], lang: str = "en") -> list[tuple[str, str]]:
    """(label, name) of a run's evaluations, newest first."""
    out = []
    for e in evaluations:
        where = t("eval.validation_split", lang) if e.get("source") == "validation" else str(e.get("source"))
        out.append((f"{where} · {percent(e.get('accuracy'))}", e.get("name")))
    return out


def batch_markdown(result: dict, lang: str = "en") -> str:
    skipped = result.get("skipped") or []
    line = t("batch.predicted", lang, n=result.get('n', 0), source=result.get('source', t("data.your_file", lang)))
    if skipped:
        line += t("batch.skipped", lang, n=len(skipped)) + "; ".join(
            f"{s.get('file') or s.get('name') or '?'} ({s.get('message') or s.get('code')})" for s in skipped[:5])
        line += "…" if len(skipped) > 5 else ""
    return line + t("batch.download", lang)
