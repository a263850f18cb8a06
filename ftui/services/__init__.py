"""Services: every user action, keyed by owner. The one object the UI, the API and the tests call.

Built once in ftui.server.main and passed to the UI (no globals). Each action is one public API
endpoint's body and raises FtuiError with a code. The actions live in three parts, by what a user does:

    data.py       DataActions       accept_upload, upload_task, inspect_dataset (and a run's split)
    runs.py       RunActions        start_run, suggest_learning_rate, run_status, stop_run, resume_run,
                                    list_runs, run_config, rename_run, delete_run, export_run, free_run_files
    inference.py  InferenceActions  predict, evaluate, evaluation_examples, list_evaluations, predict_batch
    predictors.py PredictorCache    the few loaded models prediction keeps in memory
"""
from __future__ import annotations

import threading

from ftui.engine.jobs import JobManager
from ftui.models import catalog
from ftui.runs.store import RunStore
from ftui.services.data import DataActions
from ftui.services.inference import InferenceActions
from ftui.services.predictors import PredictorCache
from ftui.services.runs import RunActions
from ftui.tasks import get_task

ACTIONS = {
    "data": ("accept_upload", "upload_task", "inspect_dataset"),
    "runs": ("start_run", "suggest_learning_rate", "run_status", "stop_run", "resume_run", "list_runs", "run_config",
             "rename_run", "delete_run", "export_run", "free_run_files"),
    "inference": ("predict", "evaluate", "evaluation_examples", "list_evaluations", "predict_batch"),
}


class Services:
    def __init__(self, runs_dir, *, max_upload_mb: float = 50, max_concurrent_runs: int = 1,
                 cached_predictors: int = 2, allow_local_models: bool = True):
        self.store = RunStore(runs_dir)
        self.interrupted = self.store.recover()  # runs a previous process left running
        self.jobs = JobManager(self.store, max_concurrent=max_concurrent_runs)
        self.predictors = PredictorCache(cached_predictors)
        self.data = DataActions(self.store, max_upload_mb)
        self.runs = RunActions(self.store, self.jobs, self.data, self.predictors, allow_local_models)
        self.inference = InferenceActions(self.store, self.data, self.predictors)
        for part, names in ACTIONS.items():  # services.start_run is services.runs.start_run, and so on
            for name in names:
                setattr(self, name, getattr(getattr(self, part), name))

    @property
    def max_upload_bytes(self) -> int:
        return self.data.max_upload_bytes

    @max_upload_bytes.setter
    def max_upload_bytes(self, value: int) -> None:
        self.data.max_upload_bytes = int(value)

    @property
    def allow_local_models(self) -> bool:
        return self.runs.allow_local_models

    def list_models(self, task: str) -> list[dict]:
        get_task(task)  # unknown task -> FtuiError
        return catalog.list_models(task)

    def warm_up(self) -> threading.Thread:
        """Import the training stack (torch, transformers: ~5 s) in the background after start-up, so
        the page answers at once and the first Train press does not wait for the imports. A run queued
        meanwhile waits for it (jobs.ready): transformers' lazy imports are not safe across threads."""
        self.jobs.ready.clear()

        def load():
            try:
                import ftui.engine.loop  # noqa: F401 - imported for its side effect: loading torch
                from ftui.models.text_classifier import load_encoder

                load_encoder(str(catalog.minilm_folder()))  # the first from_pretrained pays ~2 s of lazy imports
            finally:
                self.jobs.ready.set()

        thread = threading.Thread(target=load, name="ftui-warm-up", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.jobs.shutdown()
