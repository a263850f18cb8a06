"""Evaluation of a tuned run on labelled data, and batch prediction of unlabelled files.

    result = evaluate_run(run_dir, predictor, inputs, true_labels, source="validation")
    cell_examples(run_dir, result["name"], "spam", "ham")     # the examples behind one confusion cell
    predict_batch(predictor, inputs, names, out_csv, progress)  # input, predicted, confidence, p_<label>...

On disk, next to the run (the UI, the API and the tests read the same files):

    run_dir/eval/<name>/evaluation.json    metrics, source, labels, unseen labels, time (written last)
    run_dir/eval/<name>/predictions.jsonl  one row per input: index, input, true, pred, probabilities
    run_dir/eval/<name>/confusion.png      the confusion matrix, counts in the cells
    run_dir/predictions/<file>.csv         batch predictions (written by Services.predict_batch)

<name> is "validation" for the run's own frozen validation split, "file-<hash>" for an uploaded
file (the same file evaluated again overwrites its own folder). torch comes in only through the
predictor; scikit-learn and matplotlib are imported on first use, so importing this is cheap.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ftui.atomic import replacing, write_text_atomic
from ftui.errors import FtuiError
from ftui.i18n import EN, t
from ftui.runs.store import read_json, read_jsonl, write_json_atomic
from ftui.vocab import TaskName

CHUNK = 64  # inputs per forward pass between progress calls
EVAL_NAME = re.compile(r"^(validation|file-[0-9a-f]{6,16})$")
Progress = Callable[[int, int], None]


# -- metrics ------------------------------------------------------------------------------
def metrics(true: list[str], pred: list[str], labels: list[str]) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support and the confusion matrix
    (rows = true, columns = predicted, both in `labels` order). `labels` must hold every value.

    Macro F1 averages over the labels that occur (in `true` or `pred`): a class absent from an
    evaluation file would otherwise count as F1 = 0 and drag the average down for no reason."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    true, pred, labels = [str(t) for t in true], [str(p) for p in pred], [str(x) for x in labels]
    if not true:
        return {"n": 0, "accuracy": None, "macro_f1": None, "weighted_f1": None,
                "per_class": [], "confusion": [[0] * len(labels) for _ in labels]}
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    occurring = [x for x in labels if x in set(true) | set(pred)]
    per_class = [{"label": label, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                 for label, p, r, f, s in zip(labels, precision, recall, f1, support)]
    return {
        "n": len(true),
        "accuracy": float(accuracy_score(true, pred)),
        "macro_f1": float(f1_score(true, pred, labels=occurring, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(true, pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": per_class,
        "confusion": confusion_matrix(true, pred, labels=labels).tolist(),
    }


# -- evaluation ---------------------------------------------------------------------------
def evaluate_run(run_dir: Path, predictor, inputs: list, true_labels: list[str], source: str, *,
                 display_names: list[str] | None = None, progress: Progress | None = None, lang: str = EN) -> dict:
    """Predict every input, score those whose label the run knows, write run_dir/eval/<name>/ (the
    confusion PNG's text in `lang`, the language of whoever asked).

    Labels the run never saw cannot be predicted: they are counted in `unseen_labels` and left out
    of the metrics (their predictions are still written, with "known": false). Returns the
    evaluation dict (what evaluation.json holds, plus the absolute paths of its files)."""
    run_dir = Path(run_dir)
    labels = [str(x) for x in predictor.labels]
    true_labels = [str(t) for t in true_labels]
    if len(inputs) != len(true_labels):
        raise ValueError("inputs and true_labels differ in length")
    known = set(labels)
    unseen = Counter(t for t in true_labels if t not in known)
    if sum(unseen.values()) == len(true_labels):  # also: no inputs at all
        raise FtuiError("no_known_labels", source=source, labels=", ".join(sorted(unseen)) or "none",
                        known=", ".join(labels))
    files = getattr(predictor.task, "name", TaskName.TEXT) != TaskName.TEXT
    names = list(display_names) if display_names is not None else [display_name(x, files) for x in inputs]
    probabilities = _probabilities(predictor, inputs, progress)
    rows = []
    for i, (item, name, true, probs) in enumerate(zip(inputs, names, true_labels, probabilities)):
        best = max(range(len(labels)), key=probs.__getitem__)
        row = {"index": i, "input": name, "true": true, "pred": labels[best], "confidence": round(probs[best], 6),
               "known": true in known, "probabilities": {label: round(p, 6) for label, p in zip(labels, probs)}}
        if files:
            row["path"] = str(item)  # the file itself, for thumbnails / players (inside the owner's upload)
        rows.append(row)
    scored = [r for r in rows if r["known"]]
    name = eval_name(source, inputs, true_labels)
    out = run_dir / "eval" / name
    out.mkdir(parents=True, exist_ok=True)
    result = {"name": name, "run_id": run_dir.name, "source": source, "created": time.time(),
              "task": getattr(predictor.task, "name", TaskName.TEXT), "labels": labels, "n_total": len(rows),
              "unseen_labels": dict(sorted(unseen.items())), "model_stamp": _model_stamp(run_dir),
              **metrics([r["true"] for r in scored], [r["pred"] for r in scored], labels),
              "files": {"predictions": "predictions.jsonl", "confusion": "confusion.png"}}
    _write_jsonl(out / "predictions.jsonl", rows)
    shown = t("chart.validation", lang) if source == "validation" else source
    plot_confusion(result["confusion"], labels, out / "confusion.png", lang=lang,
                   title=t("chart.confusion_title", lang, source=shown, accuracy=result["accuracy"], n=result["n"]))
    write_json_atomic(out / "evaluation.json", result)  # last: a listed evaluation is a complete one
    return _with_paths(result, out)


def eval_name(source: str, inputs: list, true_labels: list[str]) -> str:
    """"validation" for the run's split; else "file-" + a short hash of the file's name and content."""
    if source == "validation":
        return "validation"
    digest = hashlib.sha256(str(source).encode())
    for item, label in zip(inputs, true_labels):
        digest.update(f"\0{item}\0{label}".encode())
    return "file-" + digest.hexdigest()[:10]


def display_name(item, is_file: bool) -> str:
    """What a person recognises: the text, or a file's path inside its upload's extracted/ folder."""
    if not is_file:
        return str(item)
    parts = Path(str(item)).parts
    if "extracted" in parts:
        tail = parts[len(parts) - parts[::-1].index("extracted"):]
        return "/".join(tail) or Path(str(item)).name
    return Path(str(item)).name


def list_evaluations(run_dir: Path) -> list[dict]:
    """Every complete evaluation of a run, newest first."""
    out = []
    for file in sorted((Path(run_dir) / "eval").glob("*/evaluation.json")):
        result = read_json(file, None)
        if isinstance(result, dict) and EVAL_NAME.match(file.parent.name):
            out.append(_with_paths(result, file.parent))
    return sorted(out, key=lambda r: r.get("created") or 0, reverse=True)


def cell_examples(run_dir: Path, eval_name: str, true_label: str, pred_label: str, limit: int = 24) -> list[dict]:
    """The examples of one confusion cell (true_label predicted as pred_label), most confident first."""
    folder = _eval_dir(run_dir, eval_name)
    if not (folder / "predictions.jsonl").is_file():
        raise FtuiError("unknown_evaluation", name=eval_name, run_id=Path(run_dir).name)
    rows = [r for r in read_jsonl(folder / "predictions.jsonl")
            if r.get("known", True) and r["true"] == str(true_label) and r["pred"] == str(pred_label)]
    rows.sort(key=lambda r: (-r["confidence"], r["index"]))
    for row in rows:
        row["probabilities"] = dict(sorted(row["probabilities"].items(), key=lambda kv: -kv[1]))
    return rows[:max(0, int(limit))]


def _eval_dir(run_dir: Path, name: str) -> Path:
    name = str(name or "").strip()
    if not EVAL_NAME.match(name):  # names are ours: nothing else (no "..") is ever a folder to open
        raise FtuiError("unknown_evaluation", name=name, run_id=Path(run_dir).name)
    return Path(run_dir) / "eval" / name


def _with_paths(result: dict, folder: Path) -> dict:
    return {**result, "dir": str(folder), "confusion_png": str(folder / "confusion.png"),
            "predictions_path": str(folder / "predictions.jsonl")}


def _model_stamp(run_dir: Path) -> float | None:
    """When the evaluated model was written: an evaluation older than the model is stale (resume)."""
    try:
        return (run_dir / "model" / "config.json").stat().st_mtime
    except OSError:
        return None


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


# -- batch prediction ---------------------------------------------------------------------
def predict_batch(predictor, inputs: list, display_names: list[str], out_csv: Path,
                  progress: Progress | None = None) -> Path:
    """Write a CSV: input, predicted, confidence, then p_<label> for every label (in the run's order).
    `progress(done, total)` is called after each chunk of CHUNK inputs."""
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    labels = [str(x) for x in predictor.labels]
    with replacing(out_csv) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["input", "predicted", "confidence"] + [f"p_{label}" for label in labels])
        for start, probabilities in _chunks(predictor, inputs, progress):
            for name, probs in zip(display_names[start:], probabilities):
                best = max(range(len(labels)), key=probs.__getitem__)
                writer.writerow([name, labels[best], f"{probs[best]:.6f}"] + [f"{p:.6f}" for p in probs])
    return out_csv


def _chunks(predictor, inputs: list, progress: Progress | None):
    """(start, probability rows) per chunk; progress after each."""
    total = len(inputs)
    for start in range(0, total, CHUNK):
        chunk = inputs[start:start + CHUNK]
        yield start, predictor.probabilities(chunk).tolist()
        if progress is not None:
            progress(min(start + CHUNK, total), total)


def _probabilities(predictor, inputs: list, progress: Progress | None) -> list[list[float]]:
    return [row for _, rows in _chunks(predictor, inputs, progress) for row in rows]


# -- confusion matrix image ---------------------------------------------------------------
def plot_confusion(confusion: list[list[int]], labels: list[str], out_png: Path, title: str = "",
                   lang: str = EN) -> Path:
    """A readable PNG: counts in the cells, label names on both axes, sized for up to ~20 classes
    (more still renders, with smaller text and no counts past 30); axis names in `lang`. No pyplot: no
    global state."""
    from ftui.fonts import text_fonts

    with text_fonts():  # label names in Chinese (正面/负面), and the axes in Chinese, need a CJK font
        return _draw_confusion(confusion, labels, Path(out_png), title, lang)


def _draw_confusion(confusion: list[list[int]], labels: list[str], out_png: Path, title: str,
                    lang: str = EN) -> Path:
    fig = confusion_figure(confusion, labels, title, lang)
    out_png = Path(out_png)
    with replacing(out_png) as tmp:
        fig.savefig(tmp, format="png")
    return out_png


def confusion_figure(confusion: list[list[int]], labels: list[str], title: str = "", lang: str = EN):
    """The matplotlib Figure that _draw_confusion saves (tests read its axes); draw it inside text_fonts()."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = max(1, len(labels))
    side = min(14.0, max(4.5, 2.2 + 0.5 * k))
    font = 10 if k <= 8 else 8 if k <= 14 else 7 if k <= 24 else 6
    fig = Figure(figsize=(side + 1.2, side), dpi=110)
    FigureCanvasAgg(fig)  # the Agg renderer for this figure only; pyplot's global backend is untouched
    ax = fig.add_subplot()
    image = ax.imshow(confusion, cmap="Blues", vmin=0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    names = [x if len(x) <= 24 else x[:23] + "…" for x in labels]
    ax.set_xticks(range(len(labels)), names, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center",
                  fontsize=font)
    ax.set_yticks(range(len(labels)), names, fontsize=font)
    ax.set_xlabel(t("chart.predicted_label", lang))
    ax.set_ylabel(t("chart.true_label", lang))
    if title:  # wrapped to the figure's width: a long run name once ran off both edges
        ax.set_title(textwrap.fill(title, width=max(20, int((side + 1.2) * 7))), fontsize=11)
    top = max((max(row) for row in confusion if row), default=0)
    if k <= 30:
        for i, row in enumerate(confusion):
            for j, count in enumerate(row):
                ax.text(j, i, str(count), ha="center", va="center", fontsize=font,
                        color="white" if top and count > top / 2 else "black")
    fig.tight_layout()
    return fig
