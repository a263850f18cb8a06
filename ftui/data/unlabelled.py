"""Unlabelled batch files -> the inputs to classify (batch prediction). No torch.

    batch = read_unlabelled("text", path)     # a table (CSV/TSV/JSON/XLSX) or a .txt of one text per line
    batch = read_unlabelled("image", path)    # a ZIP of pictures, flat or in folders (or one picture)
    batch.inputs, batch.names, batch.skipped

Texts: the text column is found as for training (by name, then by the shape of the values); a label
column, if present, is ignored; one column of texts is fine. Images and audio: every file in the
ZIP, in any folder, is checked once; what cannot be read is skipped and listed with its reason,
the rest is classified. Names are what a person recognises: the text, or the file's path in the ZIP.
"""
from __future__ import annotations

import os
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ftui.data.archive import ignored, image_root
from ftui.data.sources import decode, read_table
from ftui.data.tabular import LABEL_NAMES, TEXT_NAMES, _by_name, _text_by_shape
from ftui.errors import FtuiError
from ftui.vocab import TaskName

TREC_LABEL = re.compile(r"^[A-Za-z]+:[A-Za-z_]+$")  # "DESC:manner How did ..." (a labelled TREC line)


class UnlabelledBatch(NamedTuple):
    inputs: list  # texts, or absolute file paths (images, audio)
    names: list[str]  # display names, one per input: the text itself, or the path inside the ZIP
    skipped: list[dict]  # {"item", "reason", "code"}: empty rows, unreadable files; code: its message


def read_unlabelled(task, path: Path, text_column: str | None = None) -> UnlabelledBatch:
    """`task`: a Task or its name. Raises FtuiError for whole-file problems (empty_batch when nothing
    is left to classify)."""
    name = str(getattr(task, "name", task) or "").strip().lower()
    path = Path(path)
    if name == TaskName.TEXT:
        batch = _texts(path, text_column)
    elif name in (TaskName.IMAGE, TaskName.AUDIO):
        batch = _files(path, name)
    else:
        raise FtuiError("unknown_task", task=name, tasks="text, image, audio")
    if not batch.inputs:
        raise FtuiError("empty_batch", name=path.name, skipped=len(batch.skipped))
    return batch


# -- texts --------------------------------------------------------------------------------
def _texts(path: Path, text_column: str | None) -> UnlabelledBatch:
    if path.suffix.lower() in (".txt", ".label"):
        lines = _text_lines(path)
        if lines is not None:
            return _kept(lines)
    frame, _ = read_table(path)
    column = choose_text_column(frame, text_column)
    values = frame[column].astype(str).tolist()
    if len(frame.columns) == 1 and _looks_like_a_text(column):
        values.insert(0, column)  # a header-less file of texts: its first text became the header
    return _kept(values)


def choose_text_column(frame: pd.DataFrame, chosen: str | None = None) -> str:
    """The user's column, the only column, a column named like text, else the longest non-numeric one
    that is not named like a label."""
    columns = list(frame.columns)
    if chosen:
        if chosen not in columns:
            raise FtuiError("missing_column", column=chosen, columns=", ".join(columns), column_list=columns)
        return chosen
    if len(columns) == 1:
        return columns[0]
    label = _by_name(columns, LABEL_NAMES, exclude=None)
    text = _by_name(columns, TEXT_NAMES, exclude=label) or _text_by_shape(frame, label)
    if text is None:
        raise FtuiError("no_text_column", columns=", ".join(columns), column_list=columns)
    return text


def _text_lines(path: Path) -> list[str] | None:
    """A .txt holds one text per line (a leading fastText/TREC label is dropped); None when it is a
    tab-separated table instead (read_table reads those)."""
    raw = path.read_bytes()
    if not raw.strip():
        raise FtuiError("empty_file", name=path.name)
    text, _ = decode(raw)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and all("\t" in line for line in lines):
        return None
    firsts = [line.split(None, 1)[0] for line in lines]
    if lines and (all(f.startswith("__label__") for f in firsts) or all(TREC_LABEL.match(f) for f in firsts)):
        lines = [(line.split(None, 1) + [""])[1] for line in lines]
    return lines


def _looks_like_a_text(header: str) -> bool:
    """A header that is a sentence, not a column name (four or more words)."""
    return header.lower() not in TEXT_NAMES and len(header.split()) >= 4


def _kept(values: list[str]) -> UnlabelledBatch:
    inputs, skipped = [], []
    for row, value in enumerate(values, start=1):
        value = str(value).strip()
        if value:
            inputs.append(value)
        else:
            skipped.append({"item": f"row {row}", "reason": "empty_text", "code": "skip_empty_text"})
    return UnlabelledBatch(inputs, list(inputs), skipped)


# -- files (images, audio) ----------------------------------------------------------------
def _files(path: Path, kind: str) -> UnlabelledBatch:
    if path.is_file() and not zipfile.is_zipfile(path):
        root, files = path.parent, [path]  # a single picture or clip
    else:
        root = image_root(path)  # safe extraction (same checks and caps as training uploads)
        files = _walk(root)
    check = _problem_finder(kind)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        problems = list(pool.map(check, files))
    inputs, names, skipped = [], [], []
    for file, problem in zip(files, problems):
        name = file.relative_to(root).as_posix() if file.is_relative_to(root) else file.name
        if problem is None:
            inputs.append(str(file.resolve()))
            names.append(name)
        else:
            skipped.append({"item": name, "reason": problem, "code": _skip_code(kind, problem)})
    return UnlabelledBatch(inputs, names, skipped)


def _skip_code(kind: str, reason: str) -> str:
    """The message code of a skip reason: the training upload's table for the kind (audio's corrupt and
    duplicate have their own sentences)."""
    if kind == TaskName.AUDIO:
        from ftui.data.audio import SKIP_CODES
    else:
        from ftui.data.images import SKIP_CODES
    return SKIP_CODES[reason]


def _walk(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not ignored([d]))
        files += [Path(dirpath) / f for f in sorted(filenames) if not ignored([f])]
    return files


def _problem_finder(kind: str):
    """file -> None, or why it cannot be predicted: the same check a training upload of `kind` gets."""
    from ftui.data.files import SkipFile

    if kind == TaskName.IMAGE:
        from ftui.data.images import IMAGES as checked
    else:
        from ftui.data.audio import SOUNDS as checked

    def problem(file: Path) -> str | None:
        try:
            checked.check(file)
        except SkipFile as skip:
            return skip.reason
        except OSError:  # unreadable on disk
            return "corrupt"
        return None

    return problem
