"""Services: every user action, keyed by owner. The one object the UI, the API and the tests call.

Built once in ftui.server.main and passed to the UI (no globals). Each action is one public API
endpoint's body and raises FtuiError with a code. The actions live in three parts, by what a user does:

    data.py       DataActions       accept_upload, upload_task, inspect_dataset (and a run's split)
    runs.py       RunActions        start_run, suggest_learning_rate, run_status, stop_run, resume_run,
                                    list_runs, run_config, rename_run, delete_run, export_run, free_run_files
    inference.py  InferenceActions  predict, evaluate, evaluation_examples, list_evaluations, predict_batch
    sharing.py    ShareActions      share_run, unshare_run: read-only live links (shared_view, shared_predict)
    presets.py    PresetActions     save_preset, list_presets, preset, delete_preset: settings kept by name
    box.py        BoxActions        box_status, stop_any_run: the whole box, for admins
    predictors.py PredictorCache    the few loaded models prediction keeps in memory
"""
from __future__ import annotations

import logging

from ftui.engine.jobs import JobManager
from ftui.engine.launch import slot_gpus
from ftui.engine.local_backend import Slot
from ftui.errors import FtuiError
from ftui.messages import describe
from ftui.models import catalog
from ftui.runs.store import RunStore
from ftui.services.box import BoxActions
from ftui.services.data import DataActions
from ftui.services.inference import InferenceActions
from ftui.services.predictors import PredictorCache
from ftui.services.presets import PresetActions
from ftui.services.runs import RunActions
from ftui.services.sharing import ShareActions
from ftui.tasks import get_task

log = logging.getLogger(__name__)
ACTIONS = {
    "data": ("accept_upload", "upload_task", "inspect_dataset"),
    "runs": ("start_run", "suggest_learning_rate", "run_status", "stop_run", "resume_run", "list_runs", "run_config",
             "rename_run", "delete_run", "export_run", "free_run_files"),
    "inference": ("predict", "evaluate", "evaluation_examples", "list_evaluations", "predict_batch"),
    "sharing": ("share_run", "unshare_run", "shared_view", "shared_predict"),
    "box": ("box_status", "stop_any_run", "is_admin"),
    "presets": ("save_preset", "list_presets", "preset", "delete_preset"),
}


class Services:
    def __init__(self, runs_dir, *, max_upload_mb: float = 50, max_concurrent_runs: int = 1,
                 cached_predictors: int = 2, allow_local_models: bool = True, slots: list[Slot] | None = None,
                 max_disk_gb_per_user: float = 0, admins: frozenset[str] = frozenset(), backend=None,
                 job_manager: type[JobManager] = JobManager, **limits):
        """backend: where runs train (LocalBackend by default, or a RayBackend); limits: JobManager's
        max_active_per_user, max_queued_per_user, stop_grace_s, hang_timeout_s. job_manager: the command line's
        own kind, which leaves the studio's runs alone (ftui/cli/jobs.py)."""
        self.store = RunStore(runs_dir, max_gb_per_owner=max_disk_gb_per_user)
        self.jobs = job_manager(self.store, slots=slots, max_concurrent=max_concurrent_runs, backend=backend, **limits)
        self.interrupted = self.jobs.interrupted  # runs whose worker died with a previous server
        self.predictors = PredictorCache(cached_predictors)
        self.data = DataActions(self.store, max_upload_mb)
        self.runs = RunActions(self.store, self.jobs, self.data, self.predictors, allow_local_models)
        self.inference = InferenceActions(self.store, self.data, self.predictors)
        self.sharing = ShareActions(self.store, self.jobs, self.inference)
        self.box = BoxActions(self.store, self.jobs, admins)
        self.presets = PresetActions(self.store)
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

    @property
    def max_gpus_per_run(self) -> int:
        """The most GPUs one run may ask for here: the largest slot's (`--gpus 0+1` plans 2-GPU slots)."""
        return max((len(slot_gpus(slot)) for slot in self.jobs.slots), default=0) or 1

    def list_models(self, task: str, lang: str = "en") -> list[dict]:
        get_task(task)  # unknown task -> FtuiError
        return catalog.list_models(task, lang)

    def warm_up(self) -> None:
        """Keep one training worker waiting with torch and transformers imported (~5 s on a CPU), so a Train
        press does not pay for the imports; another one warms up 20 s after each start (jobs.WARM_AFTER_S)."""
        self.jobs.backend.keep_warm = True
        self.jobs.backend.prepare_warm(self.jobs.slots[0].env())

    def resume_interrupted(self) -> list[str]:
        """--auto-resume: queue again the runs whose worker died with the previous server (from their
        checkpoints); one that cannot resume stays interrupted, with its reason in the log."""
        resumed = []
        for run_dir in self.interrupted:
            try:
                resumed.append(self.runs.resume_run(run_dir.parent.name, run_dir.name))
            except FtuiError as err:
                log.warning("run %s was not resumed: %s", run_dir.name, describe(err.code, err.detail))
        return resumed

    def close(self) -> None:
        self.jobs.shutdown()
