"""Run actions: start (the split frozen into the run folder), follow, stop, resume, list, rename, delete,
export, and the learning-rate test that comes before a run."""
from __future__ import annotations

from pathlib import Path

from ftui.config import RunConfig
from ftui.data.split import label_names, write_split
from ftui.engine.jobs import JobManager
from ftui.engine.launch import gpus_refusal
from ftui.engine.local_backend import STOP_FILE
from ftui.errors import FtuiError
from ftui.models import catalog
from ftui.runs.store import RunStore, read_json, read_status, update_status, write_json_atomic
from ftui.services.data import DataActions
from ftui.services.predictors import PredictorCache
from ftui.tasks import get_task
from ftui.vocab import ACTIVE_STATES, RunState, TaskName

MAX_RUN_NAME = 80


class RunActions:
    def __init__(self, store: RunStore, jobs: JobManager, data: DataActions, predictors: PredictorCache,
                 allow_local_models: bool):
        self.store, self.jobs, self.data, self.predictors = store, jobs, data, predictors
        # On a shared box users must not name folders on the host: only the admin's choice allows it.
        self.allow_local_models = allow_local_models

    def start_run(self, owner: str | None, task: str, model: str, file: str | Path | None, learning_rate,
                  epochs, options: dict | None = None, upload_id: str | None = None) -> str:
        """Validate everything a person could get wrong, freeze the split, queue the job; returns at once."""
        task_impl = get_task(task)
        if upload_id:
            self.store.check_quota(owner)  # accept_upload checks it for a new file
        upload_id = upload_id or self.data.accept_upload(owner, file)
        config = RunConfig.build(task, model, upload_id, learning_rate, epochs, options)
        if (problem := gpus_refusal(config.train.gpus, self.jobs.slots)) is not None:
            raise problem  # before anything is written: no slot could ever train it
        self.resolve_model(owner, task, config.model)  # refused here; the worker finds it again
        upload = self.store.upload_path(owner, upload_id)
        inputs, labels, train_idx, val_idx = self.data.split(owner, task_impl, upload, config)
        run_id, run_dir = self.store.create(owner, config)
        write_json_atomic(run_dir / "labels.json", label_names([labels[i] for i in train_idx]))
        write_split(run_dir / "data", inputs, labels, train_idx, val_idx)
        update_status(run_dir, data_name=upload.name, n_train=len(train_idx), n_validation=len(val_idx))
        self.jobs.submit(run_dir)
        return run_id

    def suggest_learning_rate(self, owner: str | None, task: str, model: str, file: str | Path | None = None,
                              options: dict | None = None, upload_id: str | None = None) -> dict:
        """An LR range test on the upload's training part (~30 s on a CPU), in a worker process as training is:
        {learning_rate, curve, suggested (false: the curve said nothing usable and the catalog's rate is
        returned), ...}."""
        task_impl = get_task(task)
        upload_id = upload_id or self.data.accept_upload(owner, file)
        config = RunConfig.build(task, model, upload_id, 1e-4, 1, options)
        self.resolve_model(owner, task, config.model)
        inputs, labels, train_idx, _ = self.data.split(owner, task_impl, self.store.upload_path(owner, upload_id), config)
        train_labels = [labels[i] for i in train_idx]
        test = self.jobs.backend.lr_test(self.store.owner_dir(owner), self.jobs.slots[0], {
            "config": config.to_dict(), "labels": label_names(train_labels),
            "train_inputs": [inputs[i] for i in train_idx], "train_labels": train_labels})
        fallback = catalog.recommended_learning_rate(task, config.model)
        return {"learning_rate": test["learning_rate"] or fallback, "suggested": test["learning_rate"] is not None,
                "catalog_learning_rate": fallback, "curve": test["curve"], "steps": test["steps"],
                "seconds": round(test["seconds"], 1), "ended_by": test["ended_by"]}

    def resolve_model(self, owner: str | None, task: str, model: str):
        """catalog.resolve, plus: a local folder inside the runs folder must be one of the owner's own."""
        source = catalog.resolve(task, model, allow_local=self.allow_local_models)
        if source.kind == "local":
            folder = Path(source.location).resolve()
            if folder.is_relative_to(self.store.root) and not folder.is_relative_to(self.store.owner_dir(owner)):
                raise FtuiError("unknown_model", model=model)
        return source

    def run_status(self, owner: str | None, run_id: str, since: int = 0) -> dict:
        """State, progress and metric rows (from row `since` on) of one run; from row 0 also `settings`, what
        the run trains on and with (the page shows them beside its curves)."""
        run_dir = self.store.run_dir(owner, run_id)
        snap = {"run_id": run_id, **self.jobs.snapshot(run_dir, since=since)}
        if not since:
            summary = self.store.summary(run_dir, disk=False)
            snap["settings"] = {k: summary.get(k) for k in ("name", "task", "model", "data_name", "learning_rate",
                                                             "epochs", "batch_size")}
        return snap

    def stop_run(self, owner: str | None, run_id: str) -> dict:
        """Ask a run to stop; the model learned so far is kept. A run another process trains (the command line's,
        or the studio's seen from `ftui stop`) gets the STOP file its worker reads every second."""
        run_dir = self.store.run_dir(owner, run_id)
        if not self.jobs.cancel(run_dir) and read_status(run_dir).get("state") == RunState.RUNNING:
            (run_dir / STOP_FILE).touch()
        return self.run_status(owner, run_id, since=10**9)

    def resume_run(self, owner: str | None, run_id: str, extra_epochs: int = 0) -> str:
        """extra_epochs=0: continue a stopped, interrupted (or crashed) run from its last checkpoint, with
        the results it would have had uninterrupted. extra_epochs=N: train a finished or stopped run N
        more epochs. The run is queued again (same id); a damaged checkpoint changes nothing."""
        from ftui.engine import checkpoint
        from ftui.engine.run_view import whole_number

        run_dir = self.store.run_dir(owner, run_id)
        self.store.check_quota(owner)
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
        self.resolve_model(owner, config.task, config.model)  # the policy of today, not of when the run began
        self.jobs.resume(run_dir, config, extra_epochs=extra)
        return run_id

    def list_runs(self, owner: str | None) -> list[dict]:
        """The owner's runs, newest first; a queued one also says its place in the queue."""
        runs = self.store.list(owner)
        if any(run.get("state") == RunState.QUEUED for run in runs):
            places, folder = self.jobs.queue_places(), self.store.owner_dir(owner)
            for run in runs:
                if run.get("state") == RunState.QUEUED:
                    run["queue"] = places.get(folder / run["run_id"])
        return runs

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
        if state := self._active_state(run_dir):
            raise FtuiError("delete_active_run", run_id=run_id, state=state)
        self.predictors.forget(run_dir)
        self.store.delete(owner, run_id)
        return {"run_id": run_id, "deleted": True}

    def free_run_files(self, owner: str | None, run_id: str, kind: str) -> dict:
        """Give disk back: "checkpoints" (the resumable state, about 3x the model; the run then cannot be
        resumed or trained further, its model still predicts) or "exports" (the ZIP / ONNX downloads, made
        again on request). Refused while the run is queued or training."""
        import shutil

        from ftui.runs.store import disk_bytes

        run_dir = self.store.run_dir(owner, run_id)
        folder = {"checkpoints": run_dir / "checkpoints", "exports": run_dir / "exports"}.get(str(kind or "").strip())
        if folder is None:
            raise FtuiError("bad_option", name="kind", value=kind, reason="use checkpoints or exports")
        if state := self._active_state(run_dir):
            raise FtuiError("run_active", run_id=run_id, state=state)
        freed = disk_bytes(folder) if folder.is_dir() else 0
        shutil.rmtree(folder, ignore_errors=True)
        return {"run_id": run_id, "kind": folder.name, "freed_bytes": freed, "disk_bytes": disk_bytes(run_dir)}

    def _active_state(self, run_dir: Path) -> str | None:
        """The run's state while it is queued or training (in this process's jobs or by its status), else None."""
        self.jobs.wait_exit(run_dir)
        state = read_status(run_dir).get("state")
        return (state or RunState.QUEUED) if self.jobs.is_active(run_dir) or state in ACTIVE_STATES else None

    def export_run(self, owner: str | None, run_id: str, format: str = "zip") -> dict:
        """A download of the tuned model: "zip" (the ecosystem's own format + model card), "onnx"
        (ONNX + an automatic parity check against PyTorch on validation inputs) or "demo" (a Gradio app
        bundle that runs without ftui: ftui/export_demo.py)."""
        from ftui import export

        run_dir = self.store.run_dir(owner, run_id)
        kind = str(format or "").strip().lower()
        if kind == "zip":
            path = export.export_zip(run_dir)
            return {"format": "zip", "path": str(path), "size_bytes": path.stat().st_size}
        if kind == "onnx":
            return {"format": "onnx", **export.export_onnx(run_dir)}
        if kind == "demo":
            from ftui.export_demo import export_demo

            path = export_demo(run_dir)
            return {"format": "demo", "path": str(path), "size_bytes": path.stat().st_size}
        raise FtuiError("bad_export_format", format=format)
