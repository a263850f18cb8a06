"""The public API: one typed function per user action, registered with `gr.api` in ftui.ui.page.

Each function is a thin edge over a Services method: it works out the owner from the request,
turns uploaded files (Gradio FileData) into private uploads, and turns FtuiError into a gr.Error
whose text is one plain sentence followed by "(error code: <code>)", so a client gets both.

Files arrive only as uploaded files (`gradio_client.handle_file(path)`), never as a path string
the server would open: Gradio checks that a FileData path lies in its upload folder, and
`uploaded_file` checks it again before anything is read.
"""
# No `from __future__ import annotations`: Gradio reads these hints at runtime to find gr.Request
# and to describe the endpoints, and string hints would hide them.
import contextlib
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from ftui.errors import FtuiError
from ftui.ui.files import accept, served_file, uploaded_file
from ftui.messages import describe
from ftui.ui.lang import lang_of
from ftui.runs.store import DEFAULT_OWNER
from ftui.vocab import TaskName, UPLOAD_ID

if TYPE_CHECKING:  # importing Services at runtime would pull the engine (and torch) into the UI
    from ftui.services import Services

log = logging.getLogger(__name__)
ERROR_CODE = re.compile(r"\(error code: ([a-z_]+)\)\s*$")
HEAVY_CONCURRENCY = 2  # inspect/start/predict share the 2 CPU cores with training; status calls are free
# What evaluate returns: the metrics, never the server paths evaluate_run adds (dir, *_path, ...).
EVALUATION_KEYS = ("name", "run_id", "source", "task", "created", "labels", "n", "n_total", "accuracy",
                   "macro_f1", "weighted_f1", "per_class", "confusion", "unseen_labels")


# -- shared with the tabs --------------------------------------------------------------------
def owner_of(request: gr.Request | None) -> str:
    """The signed-in user when auth is on, else the single local owner."""
    return getattr(request, "username", None) or DEFAULT_OWNER


def base_url(request: gr.Request | None) -> str:
    """scheme://host of the address the caller used (behind a proxy: what it forwarded), without a slash."""
    headers = getattr(request, "headers", None) or {}
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1"
    scheme = headers.get("x-forwarded-proto") or "http"
    return f"{scheme}://{host}"


def error_message(err: FtuiError, lang: str = "en") -> str:
    return describe(err.code, err.detail, lang)


def error_code(text: str) -> str | None:
    """The code at the end of an API error message (clients and tests use it)."""
    match = ERROR_CODE.search(str(text))
    return match.group(1) if match else None


@contextlib.contextmanager
def api_errors(request: gr.Request | None = None):
    """FtuiError -> gr.Error(sentence + code); anything else is a bug: log it with its traceback and
    still answer with one sentence, so the client learns something and the server keeps serving.
    The sentence follows the caller's Accept-Language (English or Simplified Chinese); codes never change."""
    try:
        yield
    except gr.Error:
        raise
    except FtuiError as err:
        raise gr.Error(f"{error_message(err, lang_of(request))} (error code: {err.code})",
                       print_exception=False) from err
    except Exception as err:
        log.exception("internal error in an API call")
        raise gr.Error(f"Something went wrong inside ftui ({type(err).__name__}: {err}). "
                       "(error code: internal)") from err


def _options(options: Any) -> dict:
    """The options argument: a dict, a JSON object string, or nothing (= defaults)."""
    if options in (None, "", {}):
        return {}
    if isinstance(options, str):
        try:
            options = json.loads(options)
        except json.JSONDecodeError:
            raise FtuiError("bad_option", name="options", value=options[:80], reason="not a JSON object") from None
    if not isinstance(options, dict):
        raise FtuiError("bad_option", name="options", value=str(options)[:80], reason="not a JSON object")
    return options


# -- the endpoints -----------------------------------------------------------------------------
class PublicApi:
    """Methods named like the endpoints; their signatures are the API (argument order matters)."""

    def __init__(self, services: "Services"):
        self.services = services

    def _upload_id(self, owner: str, dataset: Any) -> str:
        """An upload id from an uploaded file, or one returned earlier by inspect_dataset."""
        if isinstance(dataset, str) and UPLOAD_ID.match(dataset.strip()):
            return dataset.strip()  # the store checks it belongs to this owner
        path, name = uploaded_file(dataset)
        return accept(self.services, owner, path, name)

    def list_models(self, task: str = TaskName.TEXT, request: gr.Request = None) -> list[dict]:
        """Backbones offered for `task` ("text"); the one with "default": true is used when unsure."""
        with api_errors(request):
            return self.services.list_models(task, lang_of(request))

    def inspect_dataset(self, task: str, file: dict | str, options: dict | None = None,
                        request: gr.Request = None) -> dict:
        """Check an uploaded file (handle_file(path)), or an upload_id again (e.g. with other columns).
        Returns its summary, problems ("issues", each with a "message") and an "upload_id" that
        start_run accepts in place of the file.
        options: {"text_column", "label_column", "validation_upload", ...}; {} detects the columns."""
        with api_errors(request):
            owner = owner_of(request)
            upload_id = self._upload_id(owner, file)
            return self.services.inspect_dataset(owner, task, None, _options(options), upload_id=upload_id)

    def start_run(self, task: str, model: str, dataset: dict | str, learning_rate: float, epochs: int,
                  options: dict | None = None, request: gr.Request = None) -> str:
        """Queue a fine-tuning run and return its id at once. model: a list_models id, a local model
        folder or a hub id; dataset: an uploaded file or an upload_id from inspect_dataset;
        options: {} for defaults, or e.g. {"batch_size": 16, "val_fraction": 0.2, "seed": 42}."""
        with api_errors(request):
            owner = owner_of(request)
            options = _options(options)
            upload_id = self._upload_id(owner, dataset)
            return self.services.start_run(owner, task, model, None, learning_rate, epochs, options,
                                           upload_id=upload_id)

    def suggest_learning_rate(self, task: str, model: str, dataset: dict | str, options: dict | None = None,
                              request: gr.Request = None) -> dict:
        """An LR range test (~30 s on a CPU): real training steps on the dataset's training part with the
        rate growing from 1e-7 to 0.1, after fitting the new head on frozen features as a run does.
        Returns learning_rate (pass it to start_run), curve [{learning_rate, loss}] (smoothed loss per
        step), suggested (false: the curve said nothing usable and learning_rate is the catalog's),
        catalog_learning_rate, steps, seconds, ended_by ("diverged" | "time" | "steps")."""
        with api_errors(request):
            owner = owner_of(request)
            upload_id = self._upload_id(owner, dataset)
            return self.services.suggest_learning_rate(owner, task, model, None, _options(options),
                                                       upload_id=upload_id)

    def run_status(self, run_id: str, since: int = 0, request: gr.Request = None) -> dict:
        """State, progress (0..1), ETA, throughput and the metric rows from row `since` on
        (each row has "split": "train" or "validation", "step", "loss"; validation rows "accuracy")."""
        with api_errors(request):
            return self.services.run_status(owner_of(request), run_id, since=int(since or 0))

    def stop_run(self, run_id: str, request: gr.Request = None) -> dict:
        """Ask a run to stop after its current step; the model learned so far is kept."""
        with api_errors(request):
            return self.services.stop_run(owner_of(request), run_id)

    def list_runs(self, request: gr.Request = None) -> list[dict]:
        """The caller's runs, newest first."""
        with api_errors(request):
            return self.services.list_runs(owner_of(request))

    # `input` shadows a builtin, but it is the argument name clients use: predict(run_id, input)
    def predict(self, run_id: str, input: str | dict, request: gr.Request = None) -> dict[str, float]:  # noqa: A002
        """Label -> probability (highest first, top 5) from a finished or stopped run's model.
        input: the text for a text run; an uploaded picture (handle_file(path)) for an image run."""
        with api_errors(request):
            if isinstance(input, dict) and "path" in input:
                input = uploaded_file(input)[0]  # only a file Gradio received, never a server path
            # A string is text, never a path to open: an image run refuses it (wrong_input_kind).
            return self.services.predict(owner_of(request), run_id, input, allow_paths=False)

    # -- evaluation, batch prediction, export and run management ---------------------------------
    def evaluate(self, run_id: str, file: dict | str | None = None, request: gr.Request = None) -> dict:
        """Score a finished or stopped run: on its own validation split (no file), or on an uploaded
        labelled file (handle_file(path), or an upload_id) read like the training file. Returns
        accuracy, macro_f1, weighted_f1, per_class [{label, precision, recall, f1, support}],
        confusion (rows = true, columns = predicted, in `labels` order), n (examples scored),
        unseen_labels {label: count} (labels the run never saw: left out of the metrics), name (for
        evaluation_examples), source, and confusion_png (the matrix as a picture, downloaded)."""
        with api_errors(request):
            owner = owner_of(request)
            upload_id = None if file in (None, "", {}) else self._upload_id(owner, file)
            result = self.services.evaluate(owner, run_id, upload_id=upload_id, lang=lang_of(request))
            out = {key: result.get(key) for key in EVALUATION_KEYS}
            png = Path(result.get("confusion_png") or "")
            name = f"{run_id}-{result['name']}-confusion.png"
            out["confusion_png"] = served_file(png, name) if png.is_file() else None
            return out

    def evaluation_examples(self, run_id: str, eval_name: str, true_label: str, pred_label: str,
                            request: gr.Request = None) -> list[dict]:
        """The examples of one confusion-matrix cell (true_label predicted as pred_label) of evaluation
        `eval_name` (the "name" evaluate returned), most confident first: [{index, input (the text or
        the file's name in its ZIP), true, pred, confidence, probabilities}]."""
        with api_errors(request):
            rows = self.services.evaluation_examples(owner_of(request), run_id, eval_name, true_label, pred_label)
            return [{k: v for k, v in row.items() if k != "path"} for row in rows]  # no server paths

    def predict_batch(self, run_id: str, file: dict | str, request: gr.Request = None) -> dict:
        """Classify every input of an unlabelled upload (texts: a table or one text per line; images:
        a ZIP). Returns csv (the predictions, downloaded: input, predicted, confidence, p_<label>...),
        n (inputs classified), skipped [{item, reason, code, message}] and labels."""
        with api_errors(request):
            owner = owner_of(request)
            result = self.services.predict_batch(owner, run_id, upload_id=self._upload_id(owner, file))
            return {"csv": served_file(result["csv"]), "n": result["n"], "skipped": result["skipped"],
                    "labels": result["labels"], "source": result["source"]}

    def export_run(self, run_id: str, format: str = "zip", request: gr.Request = None) -> dict:  # noqa: A002
        """The tuned model as a download (file). format "zip": the model in its ecosystem's own format
        plus a model card (README.md). "onnx": a ZIP of the .onnx file, labels, preprocessing files and
        a README, with the parity check against PyTorch (max_abs_diff, mean_abs_diff,
        same_argmax_fraction, n_checked, parity_ok, tolerance, opset, inputs). "demo": a ZIP that runs as a
        Gradio app without ftui (unzip, pip install -r requirements.txt, python app.py)."""
        with api_errors(request):
            result = self.services.export_run(owner_of(request), run_id, format)
            if result["format"] in ("zip", "demo"):
                return {"format": result["format"], "file": served_file(result["path"]), "size_bytes": result["size_bytes"]}
            bundle = Path(result["zip"])
            keep = ("max_abs_diff", "mean_abs_diff", "same_argmax_fraction", "n_checked", "opset", "inputs",
                    "exporter", "parity_ok", "tolerance", "issues")
            return {"format": "onnx", "file": served_file(bundle), "size_bytes": bundle.stat().st_size,
                    "onnx_size_bytes": result.get("size_bytes"), **{k: result.get(k) for k in keep}}

    def resume_run(self, run_id: str, extra_epochs: int = 0, request: gr.Request = None) -> str:
        """Queue a run again (same id): extra_epochs=0 continues a stopped or interrupted run from its
        last checkpoint; extra_epochs=N trains a finished or stopped run N more epochs."""
        with api_errors(request):
            return self.services.resume_run(owner_of(request), run_id, extra_epochs=extra_epochs)

    def rename_run(self, run_id: str, name: str, request: gr.Request = None) -> dict:
        """Give a run a display name (the id stays); "" clears it. Returns the run's summary."""
        with api_errors(request):
            return self.services.rename_run(owner_of(request), run_id, name)

    def free_run_files(self, run_id: str, kind: str, request: gr.Request = None) -> dict:
        """Give disk back: kind "checkpoints" (the run can then no longer be resumed or trained further;
        its model still predicts) or "exports" (made again on request). Returns freed_bytes, disk_bytes."""
        with api_errors(request):
            return self.services.free_run_files(owner_of(request), run_id, kind)

    def delete_run(self, run_id: str, request: gr.Request = None) -> dict:
        """Remove a run and all its files. A queued or running run is refused: stop it first."""
        with api_errors(request):
            return self.services.delete_run(owner_of(request), run_id)

    def share_run(self, run_id: str, days: float = 7, allow_predict: bool = False, request: gr.Request = None) -> dict:
        """A read-only live link to the run for people without an account: {url, expires (epoch s),
        allow_predict}. Anyone with the link sees the run's name, task, model, classes, settings, state,
        curves and latest evaluation, and (allow_predict) may try predictions; never files or actions. A new
        link replaces the run's earlier one; it stops working after `days` or unshare_run."""
        with api_errors(request):
            shared = self.services.share_run(owner_of(request), run_id, days, allow_predict)
            # no "path" key: gradio_client would take the answer for a file to download
            return {"url": base_url(request) + shared.pop("path"), **shared}

    def unshare_run(self, run_id: str, request: gr.Request = None) -> dict:
        """Withdraw the run's live link at once (it then answers 404)."""
        with api_errors(request):
            return self.services.unshare_run(owner_of(request), run_id)

    def box_status(self, request: gr.Request = None) -> dict:
        """Admins only: every slot (GPU or CPU share) with the run holding it, its process's memory_mb and
        gpu_memory_mb; the queue in start order; every user's active runs."""
        with api_errors(request):
            return self.services.box_status(owner_of(request))

    def stop_any_run(self, owner: str, run_id: str, request: gr.Request = None) -> dict:
        """Admins only: stop any user's run (or take it out of the queue); its owner keeps the model so far."""
        with api_errors(request):
            return self.services.stop_any_run(owner_of(request), owner, run_id)

    ENDPOINTS = ("list_models", "inspect_dataset", "start_run", "run_status", "stop_run", "list_runs", "predict",
                 "evaluate", "evaluation_examples", "predict_batch", "export_run", "resume_run", "rename_run",
                 "delete_run", "suggest_learning_rate", "free_run_files", "share_run", "unshare_run", "box_status",
                 "stop_any_run")
    # Never queue behind training-side work: these only read or write a few small files.
    CHEAP = ("list_models", "run_status", "stop_run", "list_runs", "evaluation_examples", "rename_run", "delete_run",
             "free_run_files", "share_run", "unshare_run", "box_status", "stop_any_run")


def register(api: PublicApi) -> None:
    """Register every endpoint with gr.api (inside a gr.Blocks context) under its own name."""
    for name in PublicApi.ENDPOINTS:
        limit = None if name in PublicApi.CHEAP else HEAVY_CONCURRENCY
        gr.api(getattr(api, name), api_name=name, concurrency_limit=limit,
               concurrency_id=None if limit is None else "ftui-heavy")
