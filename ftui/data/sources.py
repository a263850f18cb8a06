"""Uploaded files -> pandas DataFrames of strings.

Formats: CSV, TSV, plain "label text" lines (.txt/.label, e.g. TREC), JSONL/JSON, XLSX.
Text encodings are detected (UTF-8, UTF-16 with a BOM, GB18030 when it reads as Chinese, then
Windows-1252 / Latin-1), because real files are not all UTF-8 (TREC's training file is Latin-1).
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pandas as pd

from ftui.data.language import looks_like_gb18030
from ftui.errors import FtuiError

TEXT_SUFFIXES = {".csv", ".tsv", ".tab", ".txt", ".label", ".jsonl", ".ndjson", ".json"}
SUFFIXES = TEXT_SUFFIXES | {".xlsx"}
SUPPORTED = "CSV, TSV, JSONL, JSON, XLSX or 'label text' lines (.txt)"

# File signatures of common binary formats: a user who renames photo.png to data.csv gets told.
MAGIC = {b"\x89PNG": "PNG image", b"\xff\xd8\xff": "JPEG image", b"GIF8": "GIF image", b"%PDF": "PDF",
         b"PK\x03\x04": "ZIP archive", b"\x1f\x8b": "gzip archive", b"\x7fELF": "program",
         b"RIFF": "RIFF (audio/video)", b"ID3": "MP3 audio", b"OggS": "Ogg audio", b"fLaC": "FLAC audio"}


def read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """(table of strings, encoding). Raises FtuiError for whole-file problems."""
    path = Path(path)
    name, suffix = path.name, path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FtuiError("unsupported_format", suffix=suffix or name, supported=SUPPORTED)
    raw = path.read_bytes()
    if not raw.strip():
        raise FtuiError("empty_file", name=name)
    if suffix == ".xlsx":
        return _read_xlsx(raw, name), "xlsx"
    kind = _binary_kind(raw)
    if kind:
        raise FtuiError("binary_file", name=name, kind=suffix.lstrip(".").upper(), found=kind)
    text, encoding = decode(raw)
    try:
        if suffix in (".jsonl", ".ndjson", ".json"):
            frame = _read_json(text)
        elif suffix in (".txt", ".label") and _delimiter(text) is None:
            frame = _read_label_lines(text)
        else:
            frame = _read_delimited(text, "\t" if suffix in (".tsv", ".tab") else None)
    except (ValueError, pd.errors.ParserError, csv.Error, json.JSONDecodeError) as exc:
        raise FtuiError("unreadable_table", name=name, reason=_first_line(exc)) from None
    if frame.empty or len(frame.columns) == 0:
        raise FtuiError("empty_file", name=name)
    frame.columns = [str(c).strip() or f"column_{i + 1}" for i, c in enumerate(frame.columns)]
    return frame, encoding


def decode(raw: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding name): UTF-8 (with or without a BOM), then GB18030 when the bytes read as
    Chinese (Excel's "CSV" on a Chinese Windows), then Windows-1252. Latin-1 is the last resort: it never
    fails."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    chinese = looks_like_gb18030(raw)
    if chinese is not None:
        return chinese, "gb18030"
    for encoding in ("cp1252", "latin-1"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _binary_kind(raw: bytes) -> str | None:
    head = raw[:8192]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16 text has NUL bytes but is text
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary data"
    return None


def _delimiter(text: str) -> str | None:
    """The delimiter of a table, or None when the lines are not consistently delimited."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return None


def _read_delimited(text: str, delimiter: str | None) -> pd.DataFrame:
    delimiter = delimiter or _delimiter(text) or ","
    common = dict(sep=delimiter, dtype=str, keep_default_na=False, skip_blank_lines=True)
    if delimiter == "\t":
        # Tab files rarely quote, and quotes inside messages (SMS Spam) would swallow lines if honoured.
        try:
            return pd.read_csv(io.StringIO(text), quoting=csv.QUOTE_NONE, **common)
        except pd.errors.ParserError:
            pass  # not consistently unquoted: read it as a quoted table below
    return pd.read_csv(io.StringIO(text), **common)


def _read_label_lines(text: str) -> pd.DataFrame:
    """'LABEL the text' per line (fastText's __label__x or TREC's COARSE:fine)."""
    rows = []
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            rows.append((parts[0].removeprefix("__label__"), parts[1]))
    if not rows:
        raise ValueError("no line has a label followed by a text")
    frame = pd.DataFrame(rows, columns=["label", "text"])
    if frame["label"].str.contains(":").all():  # TREC: coarse class before the colon
        frame["fine_label"] = frame["label"]
        frame["label"] = frame["label"].str.split(":").str[0]
    return frame


def _read_json(text: str) -> pd.DataFrame:
    stripped = text.lstrip()
    if stripped.startswith("["):
        records = json.loads(stripped)
    elif stripped.startswith("{") and "\n" not in stripped.strip():
        data = json.loads(stripped)
        records = next((v for v in data.values() if isinstance(v, list)), [data])
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not all(isinstance(r, dict) for r in records):
        raise ValueError("expected one JSON object per line")
    return pd.DataFrame.from_records(records).astype(str).replace({"nan": "", "None": ""})


def _read_xlsx(raw: bytes, name: str) -> pd.DataFrame:
    if not raw.startswith(b"PK\x03\x04"):
        raise FtuiError("binary_file", name=name, kind="XLSX", found="not an Excel workbook")
    try:
        frame = pd.read_excel(io.BytesIO(raw), engine="openpyxl", dtype=str)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:  # openpyxl's errors for broken workbooks
        raise FtuiError("unreadable_table", name=name, reason=_first_line(exc)) from None
    return frame.fillna("")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
