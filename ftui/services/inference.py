"""Inference actions: predict one input, evaluate a run (metrics, confusion, the examples of a cell),
and classify a whole file. Files: run_dir/eval/<validation | file-<hash>>/{evaluation.json,
predictions.jsonl, confusion.png} and run_dir/predictions/<file>-<upload>.csv (see ftui/evaluation.py)."""
from __future__ import annotations

from pathlib import Path

from ftui.config import RunConfig
from ftui.errors import FtuiError
from ftui.runs.store import RunStore, read_json, read_status
from ftui.services.data import DataActions, read_labelled
from ftui.services.predictors import PredictorCache
from ftui.tasks import get_task
from ftui.vocab import DONE_STATES, MEDIA_TASKS, TaskName


class InferenceActions:
    def __init__(self, store: RunStore, data: DataActions, predictors: PredictorCache):
        self.store, self.data, self.predictors = store, data, predictors

    def predict(self, owner: str | None, run_id: str, input, top_k: int = 5, *,
                allow_paths: bool = True) -> dict[str, float]:
        """Label -> probability (top_k, highest first) from the run's tuned model.

        Text runs take a string. Image runs take a picture: a Path (the API passes only checked
        uploads as Path), a PIL image or an HxWx3 array, or a path string when `allow_paths` (the UI's
        own upload components; the API passes allow_paths=False, so a client's string is never opened)."""
        return self.predict_in(self.store.run_dir(owner, run_id), input, top_k, allow_paths=allow_paths)

    def predict_in(self, run_dir: Path, input, top_k: int = 5, *, allow_paths: bool = False) -> dict[str, float]:
        """predict, for a run folder already looked up (by owner, or by a shared link's token)."""
        if input is None or (isinstance(input, str) and not input.strip()):
            raise FtuiError("empty_input")
        task = (read_json(run_dir / "config.json", {}) or {}).get("task", TaskName.TEXT)
        check_input_kind(task, input, allow_paths)
        return self.predictors.get(run_dir).predict([input], top_k=top_k)[0]

    def evaluate(self, owner: str | None, run_id: str, file: str | Path | None = None,
                 upload_id: str | None = None, progress=None, lang: str = "en") -> dict:
        """Metrics, confusion matrix and per-example predictions of a finished run: on its own frozen
        validation split (no file), or on an uploaded labelled file read with the run's task. `lang`: the
        language of the confusion matrix picture's text ("en" or "zh-CN")."""
        from ftui import evaluation
        from ftui.data.split import read_split

        run_dir, config = self._ready_run(owner, run_id)
        if file is None and upload_id is None:
            inputs, labels = read_split(run_dir / "data", "validation")
            if not inputs:
                raise FtuiError("no_validation_split", run_id=run_id)
            source = "validation"
        else:
            upload_id = upload_id or self.data.accept_upload(owner, file)
            path = self.store.upload_path(owner, upload_id)
            examples = read_labelled(get_task(config.task), path, config.data)
            inputs, labels = list(examples.inputs), list(examples.labels)
            if examples.validation is not None:  # an image ZIP's val/ folder is test data here too
                inputs += examples.validation.inputs
                labels += examples.validation.labels
            if not inputs:
                raise FtuiError("empty_batch", name=path.name, skipped=0)
            source = path.name
        return evaluation.evaluate_run(run_dir, self.predictors.get(run_dir), inputs, labels, source,
                                       progress=progress, lang=lang)

    def evaluation_examples(self, owner: str | None, run_id: str, eval_name: str, true_label: str,
                            pred_label: str, limit: int = 24) -> list[dict]:
        """The examples behind one confusion-matrix cell, most confident first."""
        from ftui import evaluation

        return evaluation.cell_examples(self.store.run_dir(owner, run_id), eval_name, true_label, pred_label,
                                        limit=limit)

    def list_evaluations(self, owner: str | None, run_id: str) -> list[dict]:
        """Every evaluation of a run (full results, with file paths), newest first."""
        return self.list_evaluations_of(self.store.run_dir(owner, run_id))

    @staticmethod
    def list_evaluations_of(run_dir: Path) -> list[dict]:
        from ftui import evaluation

        return evaluation.list_evaluations(run_dir)

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
        upload_id = upload_id or self.data.accept_upload(owner, file)
        path = self.store.upload_path(owner, upload_id)
        column = config.data.text_column if config.task == TaskName.TEXT else None
        try:
            batch = read_unlabelled(config.task, path, text_column=column)
        except FtuiError as err:
            if err.code != "missing_column":
                raise
            batch = read_unlabelled(config.task, path)  # the training file's column name is not in this one
        predictor = self.predictors.get(run_dir)
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


def check_input_kind(task: str, value, allow_paths: bool) -> None:
    """A text run needs a string; an image run a picture, an audio run a sound (see predict)."""
    if task in MEDIA_TASKS:
        if isinstance(value, Path):
            return  # a checked upload
        if task == TaskName.IMAGE and (hasattr(value, "__array_interface__") or hasattr(value, "getpixel")):
            return  # a numpy array or a PIL image
        if task == TaskName.AUDIO and isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
            return  # (sample rate, samples): a microphone recording
        if isinstance(value, str) and allow_paths and _is_file(value):
            return
        given = "a text" if isinstance(value, str) else f"a {type(value).__name__}"
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
