"""The public API: one typed function per user action, registered with `gr.api` in ftui.ui.app.

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
from gradio.utils import get_upload_folder

from ftui.errors import FtuiError
from ftui.messages import describe
from ftui.runs.store import DEFAULT_OWNER

if TYPE_CHECKING:  # importing Services at runtime would pull the engine (and torch) into the UI
    from ftui.services import Services

log = logging.getLogger(__name__)
UPLOAD_ID = re.compile(r"^u-[0-9a-f]{16}$")
ERROR_CODE = re.compile(r"\(error code: ([a-z_]+)\)\s*$")
HEAVY_CONCURRENCY = 2  # inspect/start/predict share the 2 CPU cores with training; status calls are free


# -- shared with the tabs --------------------------------------------------------------------
def owner_of(request: gr.Request | None) -> str:
    """The signed-in user when auth is on, else the single local owner."""
    return getattr(request, "username", None) or DEFAULT_OWNER


def error_message(err: FtuiError) -> str:
    return describe(err.code, err.detail)


def error_code(text: str) -> str | None:
    """The code at the end of an API error message (clients and tests use it)."""
    match = ERROR_CODE.search(str(text))
    return match.group(1) if match else None


@contextlib.contextmanager
def api_errors():
    """FtuiError -> gr.Error(sentence + code); anything else is a bug: log it with its traceback and
    still answer with one sentence, so the client learns something and the server keeps serving."""
    try:
        yield
    except gr.Error:
        raise
    except FtuiError as err:
        raise gr.Error(f"{error_message(err)} (error code: {err.code})", print_exception=False) from err
    except Exception as err:
        log.exception("internal error in an API call")
        raise gr.Error(f"Something went wrong inside ftui ({type(err).__name__}: {err}). "
                       "(error code: internal)") from err


def uploaded_file(value: Any) -> tuple[Path, str]:
    """(path, original name) of a file a client uploaded through Gradio; anything else is refused."""
    if isinstance(value, str) and value.strip():
        raise FtuiError("not_an_upload", value=value[:80])
    if not (isinstance(value, dict) and isinstance(value.get("path"), str)
            and (value.get("meta") or {}).get("_type") == "gradio.FileData"):
        raise FtuiError("no_file")
    path = Path(value["path"]).resolve()
    upload_root = Path(get_upload_folder()).resolve()
    if not path.is_relative_to(upload_root) or not path.is_file():
        raise FtuiError("not_an_upload", value=value["path"][:80])
    return path, value.get("orig_name") or path.name


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
        return self.services.accept_upload(owner, path, name)

    def list_models(self, task: str = "text", request: gr.Request = None) -> list[dict]:
        """Backbones offered for `task` ("text"); the one with "default": true is used when unsure."""
        with api_errors():
            return self.services.list_models(task)

    def inspect_dataset(self, task: str, file: dict | str, options: dict | None = None,
                        request: gr.Request = None) -> dict:
        """Check an uploaded file (handle_file(path)), or an upload_id again (e.g. with other columns).
        Returns its summary, problems ("issues", each with a "message") and an "upload_id" that
        start_run accepts in place of the file.
        options: {"text_column", "label_column", "validation_upload", ...}; {} detects the columns."""
        with api_errors():
            owner = owner_of(request)
            upload_id = self._upload_id(owner, file)
            return self.services.inspect_dataset(owner, task, None, _options(options), upload_id=upload_id)

    def start_run(self, task: str, model: str, dataset: dict | str, learning_rate: float, epochs: int,
                  options: dict | None = None, request: gr.Request = None) -> str:
        """Queue a fine-tuning run and return its id at once. model: a list_models id, a local model
        folder or a hub id; dataset: an uploaded file or an upload_id from inspect_dataset;
        options: {} for defaults, or e.g. {"batch_size": 16, "val_fraction": 0.2, "seed": 42}."""
        with api_errors():
            owner = owner_of(request)
            options = _options(options)
            upload_id = self._upload_id(owner, dataset)
            return self.services.start_run(owner, task, model, None, learning_rate, epochs, options,
                                           upload_id=upload_id)

    def run_status(self, run_id: str, since: int = 0, request: gr.Request = None) -> dict:
        """State, progress (0..1), ETA, throughput and the metric rows from row `since` on
        (each row has "split": "train" or "validation", "step", "loss"; validation rows "accuracy")."""
        with api_errors():
            return self.services.run_status(owner_of(request), run_id, since=int(since or 0))

    def stop_run(self, run_id: str, request: gr.Request = None) -> dict:
        """Ask a run to stop after its current step; the model learned so far is kept."""
        with api_errors():
            return self.services.stop_run(owner_of(request), run_id)

    def list_runs(self, request: gr.Request = None) -> list[dict]:
        """The caller's runs, newest first."""
        with api_errors():
            return self.services.list_runs(owner_of(request))

    # `input` shadows a builtin, but it is the argument name clients use: predict(run_id, input)
    def predict(self, run_id: str, input: str | dict, request: gr.Request = None) -> dict[str, float]:  # noqa: A002
        """Label -> probability (highest first, top 5) from a finished or stopped run's model.
        input: the text for a text run; an uploaded picture (handle_file(path)) for an image run."""
        with api_errors():
            if isinstance(input, dict) and "path" in input:
                input = uploaded_file(input)[0]  # only a file Gradio received, never a server path
            # A string is text, never a path to open: an image run refuses it (wrong_input_kind).
            return self.services.predict(owner_of(request), run_id, input, allow_paths=False)

    ENDPOINTS = ("list_models", "inspect_dataset", "start_run", "run_status", "stop_run", "list_runs", "predict")
    CHEAP = ("list_models", "run_status", "stop_run", "list_runs")  # never queue behind training-side work


def register(api: PublicApi) -> None:
    """Register every endpoint with gr.api (inside a gr.Blocks context) under its own name."""
    for name in PublicApi.ENDPOINTS:
        limit = None if name in PublicApi.CHEAP else HEAVY_CONCURRENCY
        gr.api(getattr(api, name), api_name=name, concurrency_limit=limit,
               concurrency_id=None if limit is None else "ftui-heavy")
