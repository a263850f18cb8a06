"""Labelled text tables -> Examples: pick the text and label columns, drop empty rows, summarise."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ftui.config import DataOptions
from ftui.data.examples import Examples
from ftui.data.language import cjk_share
from ftui.data.sources import read_table
from ftui.data.validate import check_labels
from ftui.errors import FtuiError, Issue

TEXT_NAMES = ("text", "sentence", "sms", "message", "content", "review", "comment", "body", "question",
              "utterance", "document", "tweet", "input", "title", "query", "prompt")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "y", "sentiment", "intent", "tag", "topic",
               "emotion", "coarse_label", "output")
PREVIEW_ROWS = 20


def load_text_examples(path: Path, options: DataOptions) -> Examples:
    frame, encoding = read_table(path)
    text_col, label_col = choose_columns(frame, options.text_column, options.label_column)
    texts = frame[text_col].astype(str).str.strip()
    labels = frame[label_col].astype(str).str.strip()
    keep = (texts != "") & (labels != "")
    issues: list[Issue] = []
    dropped = int((~keep).sum())
    if dropped:
        issues.append(Issue("empty_texts_dropped", "warning", {"count": dropped}))
    texts, labels = texts[keep].tolist(), labels[keep].tolist()
    issues += check_labels(texts, labels, label_col)
    counts = pd.Series(labels, dtype=str).value_counts()
    summary = {
        "file": Path(path).name, "encoding": encoding, "n_rows": len(frame), "n_examples": len(texts),
        "columns": list(frame.columns), "text_column": text_col, "label_column": label_col,
        "n_classes": int(counts.size), "class_counts": {str(k): int(v) for k, v in counts.items()},
        "dropped_empty": dropped, "preview": _preview(frame),
        "cjk_share": round(cjk_share(texts), 3),  # Chinese/Japanese/Korean letters: the model to suggest
    }
    return Examples(inputs=texts, labels=labels, summary=summary, issues=issues)


def choose_columns(frame: pd.DataFrame, text_column: str | None, label_column: str | None) -> tuple[str, str]:
    """The user's choice when given (checked), else detected: names first, then the shape of the values."""
    columns = list(frame.columns)
    for chosen in (text_column, label_column):
        if chosen and chosen not in columns:
            raise FtuiError("missing_column", column=chosen, columns=", ".join(columns), column_list=columns)
    label = label_column or _by_name(columns, LABEL_NAMES, exclude=text_column) or _label_by_shape(frame, text_column)
    if label is None:
        raise FtuiError("no_label_column", columns=", ".join(columns), column_list=columns)
    text = text_column or _by_name(columns, TEXT_NAMES, exclude=label) or _text_by_shape(frame, label)
    if text is None:
        raise FtuiError("no_text_column", columns=", ".join(columns), column_list=columns)
    if text == label:
        raise FtuiError("same_column", column=text)
    return text, label


def _by_name(columns: list[str], names: tuple[str, ...], exclude: str | None) -> str | None:
    lowered = {c.lower().strip(): c for c in columns if c != exclude}
    return next((lowered[n] for n in names if n in lowered), None)


def _mean_length(series: pd.Series) -> float:
    return float(series.astype(str).str.len().mean() or 0.0)


def _label_by_shape(frame: pd.DataFrame, exclude: str | None) -> str | None:
    """A column of few distinct, short values."""
    n = len(frame)
    best = None
    for column in frame.columns:
        if column == exclude:
            continue
        distinct = frame[column].nunique()
        if 2 <= distinct <= max(2, min(100, n // 2)) and _mean_length(frame[column]) < 40:
            if best is None or distinct < frame[best].nunique():
                best = column
    return best


def _text_by_shape(frame: pd.DataFrame, label: str) -> str | None:
    """The column with the longest values that are mostly not numbers."""
    candidates = []
    for column in frame.columns:
        if column == label:
            continue
        values = frame[column].astype(str)
        numeric = pd.to_numeric(values, errors="coerce").notna().mean()
        if numeric < 0.5 and _mean_length(values) >= 3:
            candidates.append((_mean_length(values), column))
    return max(candidates)[1] if candidates else None


def _preview(frame: pd.DataFrame) -> list[dict]:
    head = frame.head(PREVIEW_ROWS).astype(str)
    return [{c: (v if len(v) <= 300 else v[:297] + "...") for c, v in row.items()} for row in head.to_dict("records")]
