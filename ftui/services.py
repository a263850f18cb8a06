"""Services: everything the UI and the API do, as plain methods keyed by owner.

Built once in ftui.app.main and passed to the UI (no globals). Each public method is one user
action and the body of one public API endpoint; errors are FtuiError with a code.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from ftui.config import RunConfig, DataOptions
from ftui.data.inspection import read_examples
from ftui.data.split import label_names, split_examples, write_split
from ftui.engine.jobs import JobManager
from ftui.errors import FtuiError
from ftui.models import catalog
from ftui.runs.store import RunStore, read_json, read_status, update_status, write_json_atomic
from ftui.tasks import get_task
from ftui.vocab import ACTIVE_STATES, DONE_STATES, RunState, TaskName

MB = 1024 * 1024
MAX_RUN_NAME = 80


class Services:
    def __init__(self, runs_dir, *, max_upload_mb: float = 50, max_concurrent_runs: int = 1,
                 cached_predictors: int = 2, allow_local_models: bool = True):
        self.store = RunStore(runs_dir)
        self.interrupted = self.store.recover()  # runs a previous process left running
        self.jobs = JobManager(self.store, max_concurrent=max_concurrent_runs)
        self.max_upload_bytes = int(max_upload_mb * MB)
        self._predictors: OrderedDict[Path, object] = OrderedDict()
        self._predictors_lock = threading.Lock()
        self._cached_predictors = cached_predictors
        # On a shared box users must not name folders on the host: only the admin's choice allows it.
        self.allow_local_models = allow_local_models

    def warm_up(self) -> threading.Thread:
        """Import the training stack (torch, transformers: ~5 s) in the background after start-up, so
        the page answers at once and the first Train press does not wait for the imports."""
        def load():
            import ftui.engine.loop  # noqa: F401 - imported for its side effect: loading torch
            from transformers import AutoModelForSequenceClassification

            # The first from_pretrained pays ~2 s of transformers' lazy imports; pay it now.
            AutoModelForSequenceClassification.from_pretrained(catalog.minilm_folder(), num_labels=2)

        thread = threading.Thread(target=load, name="ftui-warm-up", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.jobs.shutdown()

    # -- catalog --------------------------------------------------------------------
    def list_models(self, task: str) -> list[dict]:
        get_task(task)  # unknown task -> FtuiError
        return catalog.list_models(task)

    # -- data -----------------------------------------------------------------------
    def accept_upload(self, owner: str | None, path: str | Path | None, name: str | None = None) -> str:
        """Check size, then keep a private copy of an uploaded file; returns its upload id."""
        if not path:
            raise FtuiError("no_file")
        path = Path(path)
        name = name or path.name
        size = path.stat().st_size
        if size == 0:
            raise FtuiError("empty_file", name=name)
        if size > self.max_upload_bytes:
            raise FtuiError("file_too_large", name=name, size_mb=size / MB, limit_mb=self.max_upload_bytes / MB)
        return self.store.save_upload(owner, path, name)

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
        data = _data_options(options)
        upload_id = upload_id or self.accept_upload(owner, file)
        examples = read_examples(task_impl, self.store.upload_path(owner, upload_id), data)
        issues = list(examples.issues)
        val = examples.validation  # an image ZIP's own val/ folder
        if data.validation_upload:
            val = read_examples(task_impl, self.store.upload_path(owner, data.validation_upload), data)
        if val is not None:
            unseen = sorted(set(val.labels) - set(examples.labels))
            if unseen:
                issues.append(_issue("unseen_validation_labels", "warning", labels=", ".join(unseen)))
        return {"upload_id": upload_id, **examples.summary, "issues": [i.to_dict() for i in issues],
                "ok": not any(i.severity == "error" for i in issues)}

    # -- runs -----------------------------------------------------------------------
    def start_run(self, owner: str | None, task: str, model: str, file: str | Path | None, learning_rate,
                  epochs, options: dict | None = None, upload_id: str | None = None) -> str:
        """Validate everything a person could get wrong, freeze the split, queue the job; returns at once."""
        task_impl = get_task(task)
        upload_id = upload_id or self.accept_upload(owner, file)
        config = RunConfig.build(task, model, upload_id, learning_rate, epochs, options)
        source = self._resolve_model(owner, task, config.model)
        upload = self.store.upload_path(owner, upload_id)
        inputs, labels, train_idx, val_idx = self._split(owner, task_impl, upload, config)
        run_id, run_dir = self.store.create(owner, config)
        names = label_names([labels[i] for i in train_idx])
        write_json_atomic(run_dir / "labels.json", names)
        write_split(run_dir / "data", inputs, labels, train_idx, val_idx)
        update_status(run_dir, data_name=upload.name, n_train=len(train_idx), n_validation=len(val_idx))
        self.jobs.submit(run_dir, config, source)
        return run_id

    def _split(self, owner: str | None, task_impl, upload: Path, config: RunConfig):
        """(inputs, labels, train indices, validation indices) of a run's data, as start_run freezes it."""
        examples = read_examples(task_impl, upload, config.data)  # inspected already: read back, not decoded again
        _raise_first_error(examples.issues)
        val = examples.validation  # an image ZIP's own val/ folder acts as a separate validation file
        if config.data.validation_upload:
            val = read_examples(task_impl, self.store.upload_path(owner, config.data.validation_upload), config.data)
        if val is None:
            train_idx, val_idx = split_examples(examples.labels, config.data.val_fraction, config.train.seed,
                                                config.data.max_examples, inputs=examples.inputs)
            return examples.inputs, examples.labels, train_idx, val_idx
        _raise_first_error(val.issues)
        inputs, labels = examples.inputs + val.inputs, examples.labels + val.labels
        train_idx = list(range(len(examples.inputs)))
        if config.data.max_examples:
            train_idx = split_examples(examples.labels, 0, config.train.seed, config.data.max_examples)[0]
        return inputs, labels, train_idx, list(range(len(examples.inputs), len(inputs)))

    def suggest_learning_rate(self, owner: str | None, task: str, model: str, file: str | Path | None = None,
                              options: dict | None = None, upload_id: str | None = None) -> dict:
        """An LR range test on the upload's training part (~30 s on a CPU): {learning_rate, curve,
        suggested (false: the curve said nothing usable and the catalog's rate is returned), ...}."""
        from ftui.engine.loop import TrainData
        from ftui.engine.lr_range import range_test

        task_impl = get_task(task)
        upload_id = upload_id or self.accept_upload(owner, file)
        config = RunConfig.build(task, model, upload_id, 1e-4, 1, options)
        source = self._resolve_model(owner, task, config.model)
        inputs, labels, train_idx, _ = self._split(owner, task_impl, self.store.upload_path(owner, upload_id), config)
        train_labels = [labels[i] for i in train_idx]
        data = TrainData(labels=label_names(train_labels), train_inputs=[inputs[i] for i in train_idx],
                         train_labels=train_labels, val_inputs=[], val_labels=[])
        test = range_test(config, task_impl, source, data)
        fallback = catalog.recommended_learning_rate(task, config.model)
        return {"learning_rate": test.learning_rate or fallback, "suggested": test.learning_rate is not None,
                "catalog_learning_rate": fallback, "curve": test.curve, "steps": test.steps,
                "seconds": round(test.seconds, 1), "ended_by": test.stopped}

    def _resolve_model(self, owner: str | None, task: str, model: str):
        """catalog.resolve, plus: a local folder inside the runs folder must be one of the owner's own."""
        source = catalog.resolve(task, model, allow_local=self.allow_local_models)
        if source.kind == "local":
            folder = Path(source.location).resolve()
            if folder.is_relative_to(self.store.root) and not folder.is_relative_to(self.store.owner_dir(owner)):
                raise FtuiError("unknown_model", model=model)
        return source

    def run_status(self, owner: str | None, run_id: str, since: int = 0) -> dict:
        """State, progress and metric rows (from row `since` on) of one run."""
        run_dir = self.store.run_dir(owner, run_id)
        snap = self.jobs.snapshot(run_dir, since=since)
        return {"run_id": run_id, **snap}

    def stop_run(self, owner: str | None, run_id: str) -> dict:
        run_dir = self.store.run_dir(owner, run_id)
        self.jobs.cancel(run_dir)
        return self.run_status(owner, run_id, since=10**9)

    def resume_run(self, owner: str | None, run_id: str, extra_epochs: int = 0) -> str:
        """extra_epochs=0: continue a stopped, interrupted (or crashed) run from its last checkpoint, with
        the results it would have had uninterrupted. extra_epochs=N: train a finished or stopped run N
        more epochs. The run is queued again (same id); a damaged checkpoint changes nothing."""
        from ftui.engine import checkpoint
        from ftui.engine.jobs import whole_number

        run_dir = self.store.run_dir(owner, run_id)
        state = read_status(run_dir).get("state")
        if state in ACTIVE_STATES:
            raise FtuiError("run_active", run_id=run_id, state=state)
        extra = whole_number(extra_epochs)  # a bad value is refused by jobs.resume (bad_epochs)
        config = RunConfig.from_dict(read_json(run_dir / "config.json", {}))
        if state == RunState.FINISHED and extra == 0:
            raise FtuiError("run_not_resumable", run_id=run_id, state=state, how="ask for more epochs to train it further")
        if state == RunState.FAILED and checkpoint.find(run_dir) is None:
            raise FtuiError("no_checkpoint", run_id=run_id)
        if config.task == TaskName.TEXT and (run_dir / "model").is_dir() and not (run_dir / "model" / "ftui_text.json").is_file():
            raise FtuiError("checkpoint_too_old", run_id=run_id)  # a BertForSequenceClassification checkpoint
        source = self._resolve_model(owner, config.task, config.model)
        self.jobs.resume(run_dir, config, source, extra_epochs=extra)
        return run_id

    def list_runs(self, owner: str | None) -> list[dict]:
        return self.store.list(owner)

    def run_config(self, owner: str | None, run_id: str) -> dict:
        return read_json(self.store.run_dir(owner, run_id) / "config.json", {})

    def rename_run(self, owner: str | None, run_id: str, name: str) -> dict:
        """A display name for a run (config.json's `name`; the id stays). Empty clears it."""
        run_dir = self.store.run_dir(owner, run_id)
        name = " ".join(str(name or "").split())
        if len(name) > MAX_RUN_NAME:
            raise FtuiError("bad_run_name", limit=MAX_RUN_NAME)
        config = read_json(run_dir / "config.json", {})
        write_json_atomic(run_dir / "config.json", {**config, "name": name})
        return self.store.summary(run_dir)

    def delete_run(self, owner: str | None, run_id: str) -> dict:
        """Remove a run and all its files. An active (queued or running) run is refused, not stopped:
        deleting should never be the way a training ends by surprise; stop it first."""
        run_dir = self.store.run_dir(owner, run_id)
        state = read_status(run_dir).get("state")
        if self.jobs.is_active(run_dir) or state in ACTIVE_STATES:
            raise FtuiError("delete_active_run", run_id=run_id, state=state)
        with self._predictors_lock:
            self._predictors.pop(run_dir / "model", None)
        self.store.delete(owner, run_id)
        return {"run_id": run_id, "deleted": True}

    def export_run(self, owner: str | None, run_id: str, format: str = "zip") -> dict:
        """A download of the tuned model: "zip" (the ecosystem's own format + model card) or "onnx"
        (ONNX + an automatic parity check against PyTorch on validation inputs)."""
        from ftui import export

        run_dir = self.store.run_dir(owner, run_id)
        kind = str(format or "").strip().lower()
        if kind == "zip":
            path = export.export_zip(run_dir)
            return {"format": "zip", "path": str(path), "size_bytes": path.stat().st_size}
        if kind == "onnx":
            return {"format": "onnx", **export.export_onnx(run_dir)}
        raise FtuiError("bad_export_format", format=format)

    # -- prediction -----------------------------------------------------------------
    def predict(self, owner: str | None, run_id: str, input, top_k: int = 5, *,
                allow_paths: bool = True) -> dict[str, float]:
        """Label -> probability (top_k, highest first) from the run's tuned model.

        Text runs take a string. Image runs take a picture: a Path (the API passes only checked
        uploads as Path), a PIL image or an HxWx3 array, or a path string when `allow_paths` (the UI's
        own upload components; the API passes allow_paths=False, so a client's string is never opened)."""
        if input is None or (isinstance(input, str) and not input.strip()):
            raise FtuiError("empty_input")
        run_dir = self.store.run_dir(owner, run_id)
        task = (read_json(run_dir / "config.json", {}) or {}).get("task", TaskName.TEXT)
        _check_input_kind(task, input, allow_paths)
        predictor = self._predictor(run_dir)
        return predictor.predict([input], top_k=top_k)[0]

    def _predictor(self, run_dir: Path):
        from ftui.predict import Predictor  # torch-heavy: imported on first use

        model_dir = run_dir / "model"
        state = read_status(run_dir).get("state")
        if not (model_dir / "config.json").is_file():
            raise FtuiError("run_not_ready", run_id=run_dir.name, state=state)
        key = model_dir
        stamp = (model_dir / "config.json").stat().st_mtime
        with self._predictors_lock:
            cached = self._predictors.get(key)
            if cached is not None and cached[0] == stamp:
                self._predictors.move_to_end(key)
                return cached[1]
        predictor = Predictor.from_run(run_dir)
        with self._predictors_lock:
            self._predictors[key] = (stamp, predictor)
            while len(self._predictors) > self._cached_predictors:
                self._predictors.popitem(last=False)
        return predictor

    # -- evaluation and batch prediction --------------------------------------------------
    # Files: run_dir/eval/<validation | file-<hash>>/{evaluation.json, predictions.jsonl, confusion.png}
    # and run_dir/predictions/<file>-<upload>.csv (see ftui/evaluation.py).
    def evaluate(self, owner: str | None, run_id: str, file: str | Path | None = None,
                 upload_id: str | None = None, progress=None) -> dict:
        """Metrics, confusion matrix and per-example predictions of a finished run: on its own frozen
        validation split (no file), or on an uploaded labelled file read with the run's task."""
        from ftui import evaluation
        from ftui.data.split import read_split

        run_dir, config = self._ready_run(owner, run_id)
        if file is None and upload_id is None:
            inputs, labels = read_split(run_dir / "data", "validation")
            if not inputs:
                raise FtuiError("no_validation_split", run_id=run_id)
            source = "validation"
        else:
            upload_id = upload_id or self.accept_upload(owner, file)
            path = self.store.upload_path(owner, upload_id)
            examples = _read_labelled(get_task(config.task), path, config.data)
            inputs, labels = list(examples.inputs), list(examples.labels)
            if examples.validation is not None:  # an image ZIP's val/ folder is test data here too
                inputs += examples.validation.inputs
                labels += examples.validation.labels
            if not inputs:
                raise FtuiError("empty_batch", name=path.name, skipped=0)
            source = path.name
        return evaluation.evaluate_run(run_dir, self._predictor(run_dir), inputs, labels, source,
                                       progress=progress)

    def evaluation_examples(self, owner: str | None, run_id: str, eval_name: str, true_label: str,
                            pred_label: str, limit: int = 24) -> list[dict]:
        """The examples behind one confusion-matrix cell, most confident first."""
        from ftui import evaluation

        run_dir = self.store.run_dir(owner, run_id)
        return evaluation.cell_examples(run_dir, eval_name, true_label, pred_label, limit=limit)

    def list_evaluations(self, owner: str | None, run_id: str) -> list[dict]:
        """Every evaluation of a run (full results, with file paths), newest first."""
        from ftui import evaluation

        return evaluation.list_evaluations(self.store.run_dir(owner, run_id))

    def predict_batch(self, owner: str | None, run_id: str, file: str | Path | None = None,
                      upload_id: str | None = None, progress=None) -> dict:
        """Classify every input of an unlabelled file (texts: a table or lines; images/audio: a ZIP)
        into run_dir/predictions/<file>-<upload>.csv. progress(done, total) after each chunk."""
        from ftui import evaluation
        from ftui.data.images import MAX_PIXELS
        from ftui.data.unlabelled import read_unlabelled
        from ftui.messages import describe
        from ftui.runs.store import safe_filename

        run_dir, config = self._ready_run(owner, run_id)
        upload_id = upload_id or self.accept_upload(owner, file)
        path = self.store.upload_path(owner, upload_id)
        column = config.data.text_column if config.task == TaskName.TEXT else None
        try:
            batch = read_unlabelled(config.task, path, text_column=column)
        except FtuiError as err:
            if err.code != "missing_column":
                raise
            batch = read_unlabelled(config.task, path)  # the training file's column name is not in this one
        predictor = self._predictor(run_dir)
        out = run_dir / "predictions" / f"{Path(safe_filename(path.name)).stem}-{upload_id[2:10]}.csv"
        evaluation.predict_batch(predictor, batch.inputs, batch.names, out, progress)
        limit = {"limit_mp": MAX_PIXELS // 1_000_000}
        skipped = [{**s, "message": describe(s["code"], limit)} for s in batch.skipped]
        return {"csv": str(out), "n": len(batch.inputs), "skipped": skipped, "labels": list(predictor.labels),
                "source": path.name}

    def _ready_run(self, owner: str | None, run_id: str) -> tuple[Path, RunConfig]:
        """(run folder, config) of a run that ended with a model; else run_not_ready."""
        run_dir = self.store.run_dir(owner, run_id)
        state = read_status(run_dir).get("state")
        if state not in DONE_STATES or not (run_dir / "model" / "config.json").is_file():
            raise FtuiError("run_not_ready", run_id=run_id, state=state)
        return run_dir, RunConfig.from_dict(read_json(run_dir / "config.json", {}))


def _data_options(options: dict | None) -> DataOptions:
    """The data part of an options dict (inspect ignores training options, but rejects unknown keys).
    Image inputs are absolute paths inside the upload's extracted/ folder, which lives as long as the
    upload, so a run's data/*.jsonl stays readable after a restart."""
    config = RunConfig.build(TaskName.TEXT, "x", "u", 1e-3, 1, options)
    return config.data


def _check_input_kind(task: str, value, allow_paths: bool) -> None:
    """A text run needs a string; an image run a picture, an audio run a sound (see Services.predict)."""
    if task in (TaskName.IMAGE, TaskName.AUDIO):
        if isinstance(value, Path):
            return  # a checked upload
        if task == TaskName.IMAGE and (hasattr(value, "__array_interface__") or hasattr(value, "getpixel")):
            return  # a numpy array or a PIL image
        if task == TaskName.AUDIO and isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
            return  # (sample rate, samples): a microphone recording
        if isinstance(value, str) and allow_paths and _is_file(value):
            return
        given = TaskName.TEXT if isinstance(value, str) else f"a {type(value).__name__}"
        what = "a picture" if task == TaskName.IMAGE else "a sound file (WAV, FLAC, OGG or MP3)"
        raise FtuiError("wrong_input_kind", expected=f"{task}s" if task == TaskName.IMAGE else task, given=given,
                        how=f"send {what} (from a script: gradio_client.handle_file(path))")
    if not isinstance(value, str):
        given = "a file" if isinstance(value, (Path, dict)) else f"a {type(value).__name__}"
        raise FtuiError("wrong_input_kind", expected=task, given=given, how="send the text itself as a string")


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except (OSError, ValueError):  # a long text or one with a NUL byte is no file name
        return False


def _issue(code, severity, **detail):
    from ftui.errors import Issue

    return Issue(code=code, severity=severity, detail=detail)


def _raise_first_error(issues) -> None:
    for issue in issues:
        if issue.severity == "error":
            raise FtuiError(issue.code, **issue.detail)


def _read_labelled(task, path: Path, data: DataOptions):
    """A labelled evaluation file, read as the run's training file was (same column choices), or with
    the columns detected afresh when this file names them differently. Dataset warnings (one class,
    few examples) do not matter here: any labelled examples can be scored."""
    try:
        return read_examples(task, path, data)
    except FtuiError as err:
        if err.code != "missing_column":
            raise
        return read_examples(task, path, DataOptions())
