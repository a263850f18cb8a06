"""Inspect once: an upload's reading (examples, summary, problems) is kept beside the upload.

An accepted upload never changes, and a reader only looks at the column choices (DataOptions'
text_column / label_column), so the result of `task.read` is a function of (upload, task, columns):
it is written once, next to the upload, and read back by start_run, the learning-rate test and a
second look at the same file. An image or sound ZIP is then decoded once to inspect it (and once more
by the run's own batches), not again when Train is pressed.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ftui.config import DataOptions
from ftui.data.examples import Examples
from ftui.errors import Issue
from ftui.runs.store import write_json_atomic

FORMAT = 1


def read_examples(task, path: Path, options: DataOptions | None) -> Examples:
    """task.read(path, options), computed on the first call for these columns and reused after."""
    options = options or DataOptions()
    key = json.dumps([FORMAT, task.name, options.text_column, options.label_column])
    # A folder beside the upload file (the store's upload_path lists files only, so it is never the upload)
    cache = Path(path).parent / "inspection" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    examples = _read(cache)
    if examples is None:
        examples = task.read(Path(path), options)  # a whole-file problem raises FtuiError: nothing is kept
        cache.parent.mkdir(exist_ok=True)
        write_json_atomic(cache, _to_dict(examples))
    return examples


def _read(cache: Path) -> Examples | None:
    """The kept reading, or None when there is none yet or it cannot be read (then the upload is read again)."""
    try:
        return _from_dict(json.loads(cache.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _to_dict(examples: Examples) -> dict:
    return {"inputs": list(examples.inputs), "labels": list(examples.labels), "summary": examples.summary,
            "issues": [{"code": i.code, "severity": i.severity, "detail": i.detail} for i in examples.issues],
            "validation": _to_dict(examples.validation) if examples.validation is not None else None}


def _from_dict(raw: dict) -> Examples:
    return Examples(inputs=list(raw["inputs"]), labels=list(raw["labels"]), summary=dict(raw["summary"]),
                    issues=[Issue(code=i["code"], severity=i["severity"], detail=dict(i["detail"])) for i in raw["issues"]],
                    validation=_from_dict(raw["validation"]) if raw.get("validation") else None)
