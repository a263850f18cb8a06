"""Data actions: accept an upload, tell its task, inspect it, and freeze a run's split from it."""
from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from pathlib import Path

from ftui.config import DataOptions, RunConfig
from ftui.data.inspection import read_examples
from ftui.data.language import CJK_SHARE
from ftui.data.split import split_examples
from ftui.errors import FtuiError, Issue
from ftui.models.catalog import CJK_HUB_MODEL, suggested_model
from ftui.runs.store import RunStore
from ftui.tasks import get_task
from ftui.vocab import TaskName

MB = 1024 * 1024


class DataActions:
    def __init__(self, store: RunStore, max_upload_mb: float):
        self.store = store
        self.max_upload_bytes = int(max_upload_mb * MB)
        self._accepted: OrderedDict[tuple, str] = OrderedDict()  # (owner, removed source path) -> upload id
        self._accepted_lock = threading.Lock()

    def accept_upload(self, owner: str | None, path: str | Path | None, name: str | None = None, *,
                      remove_source: bool = False) -> str:
        """Check size, then keep a private copy of an uploaded file; returns its upload id.

        remove_source: the file is a raw upload in the web server's shared temporary folder (which another
        instance on the host could serve): it is removed once copied, and the same path given again (a
        widget that still shows it) answers with the upload id it got."""
        if not path:
            raise FtuiError("no_file")
        path = Path(path)
        key = (owner, str(path))
        with self._accepted_lock:
            if key in self._accepted and not path.exists():
                return self._accepted[key]
        name = name or path.name
        size = path.stat().st_size
        if size == 0:
            raise FtuiError("empty_file", name=name)
        if size > self.max_upload_bytes:
            raise FtuiError("file_too_large", name=name, size_mb=size / MB, limit_mb=self.max_upload_bytes / MB)
        self.store.check_quota(owner)
        upload_id = self.store.save_upload(owner, path, name)
        if remove_source:
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # Gradio's one folder per upload, now empty
            with self._accepted_lock:
                self._accepted[key] = upload_id
                while len(self._accepted) > 1024:
                    self._accepted.popitem(last=False)
        return upload_id

    def upload_task(self, owner: str | None, upload_id: str) -> str:
        """The task an upload is for, told from the file itself: a ZIP of sounds is audio, any other ZIP
        is images (its reader then says what is wrong), everything else a table of texts."""
        from ftui.data.archive import media_kind

        path = self.store.upload_path(owner, upload_id)
        if path.suffix.lower() != ".zip":
            return TaskName.TEXT
        return TaskName.AUDIO if media_kind(path) == TaskName.AUDIO else TaskName.IMAGE

    def inspect_dataset(self, owner: str | None, task: str, file: str | Path | None, options: dict | None = None,
                        upload_id: str | None = None) -> dict:
        """Summary + problems of an upload. Returns the upload id to start a run from it."""
        task_impl = get_task(task)
        data = data_options(options)
        upload_id = upload_id or self.accept_upload(owner, file)
        examples = read_examples(task_impl, self.store.upload_path(owner, upload_id), data)
        val = self._validation(owner, task_impl, examples, data)
        issues = [*examples.issues, *unseen_labels(examples, val)]
        suggested = suggested_model(task, examples.summary)
        if suggested:
            issues.append(Issue("cjk_text", "warning", {"model": suggested}))
        elif float(examples.summary.get("cjk_share") or 0) >= CJK_SHARE:  # the multilingual package is missing
            issues.append(Issue("cjk_text_english_default", "warning", {"model": CJK_HUB_MODEL}))
        return {"upload_id": upload_id, **examples.summary, "issues": [i.to_dict() for i in issues],
                "ok": not any(i.severity == "error" for i in issues), "suggested_model": suggested}

    def split(self, owner: str | None, task_impl, upload: Path, config: RunConfig):
        """(inputs, labels, train indices, validation indices) of a run's data, as start_run freezes it.
        The upload was inspected already: its reading is read back, nothing is decoded again."""
        examples = read_examples(task_impl, upload, config.data)
        raise_first_error(examples.issues)
        val = self._validation(owner, task_impl, examples, config.data)
        if val is None:
            train_idx, val_idx = split_examples(examples.labels, config.data.val_fraction, config.train.seed,
                                                config.data.max_examples, inputs=examples.inputs)
            return examples.inputs, examples.labels, train_idx, val_idx
        raise_first_error(val.issues)
        inputs, labels = examples.inputs + val.inputs, examples.labels + val.labels
        train_idx = list(range(len(examples.inputs)))
        if config.data.max_examples:
            train_idx = split_examples(examples.labels, 0, config.train.seed, config.data.max_examples)[0]
        return inputs, labels, train_idx, list(range(len(examples.inputs), len(inputs)))

    def _validation(self, owner: str | None, task_impl, examples, data: DataOptions):
        """The validation examples an upload comes with: a separate validation upload, else an image or
        sound ZIP's own val/ folder, else None (a share of the training file is held out)."""
        if data.validation_upload:
            return read_examples(task_impl, self.store.upload_path(owner, data.validation_upload), data)
        return examples.validation


def data_options(options: dict | None) -> DataOptions:
    """The data part of an options dict (inspect ignores training options, but rejects unknown keys).
    Image inputs are absolute paths inside the upload's extracted/ folder, which lives as long as the
    upload, so a run's data/*.jsonl stays readable after a restart."""
    return RunConfig.build(TaskName.TEXT, "x", "u", 1e-3, 1, options).data


def unseen_labels(examples, val) -> list[Issue]:
    unseen = sorted(set(val.labels) - set(examples.labels)) if val is not None else []
    return [Issue(code="unseen_validation_labels", severity="warning", detail={"labels": ", ".join(unseen)})] if unseen else []


def raise_first_error(issues) -> None:
    for issue in issues:
        if issue.severity == "error":
            raise FtuiError(issue.code, **issue.detail)


def read_labelled(task, path: Path, data: DataOptions):
    """A labelled evaluation file, read as the run's training file was (same column choices), or with
    the columns detected afresh when this file names them differently. Dataset warnings (one class,
    few examples) do not matter here: any labelled examples can be scored."""
    try:
        return read_examples(task, path, data)
    except FtuiError as err:
        if err.code != "missing_column":
            raise
        return read_examples(task, path, DataOptions())
