"""Predictor: a finished (or stopped) run's model, ready to classify new inputs.

    Predictor.from_run(run_dir).predict(["free entry to win a prize"])
    -> [{"spam": 0.98, "ham": 0.02}]

It goes through the run's Task (the same preprocessing as training) and the files in
run_dir/model, so it works for any run on disk, including runs of a previous process.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch

from ftui.config import RunConfig, TrainOptions
from ftui.errors import FtuiError
from ftui.runs.store import read_json, read_status
from ftui.tasks import Task, get_task
from ftui.vocab import TaskName

PREDICT_BATCH = 32


class Predictor:
    def __init__(self, task: Task, model: Any, processor: Any, labels: list[str], options: TrainOptions):
        self.task = task
        self.model = model.eval()
        self.processor = processor
        self.labels = labels
        self.options = options
        # Concurrent requests share the CPU cores anyway; one at a time avoids oversubscribing them.
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        run_dir = Path(run_dir)
        model_dir = run_dir / "model"
        if not (model_dir / "config.json").is_file():
            raise FtuiError("run_not_ready", run_id=run_dir.name, state=read_status(run_dir).get("state"))
        raw = read_json(run_dir / "config.json", None)
        config = RunConfig.from_dict(raw) if raw else None
        return cls.from_model_dir(model_dir, task=config.task if config else TaskName.TEXT,
                                  options=config.train if config else None)

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, task: str = TaskName.TEXT, options: TrainOptions | None = None) -> Predictor:
        task_impl = get_task(task)
        model, processor, labels = task_impl.load(Path(model_dir))
        return cls(task_impl, model, processor, labels, options or TrainOptions())

    def predict(self, inputs: list, top_k: int = 5) -> list[dict[str, float]]:
        """For each input, {label: probability} of the top_k labels, most likely first."""
        inputs = list(inputs)
        if not inputs:
            return []
        k = max(1, min(int(top_k), len(self.labels)))
        probabilities = self.probabilities(inputs)
        out = []
        for row in probabilities:
            values, indices = row.topk(k)
            out.append({self.labels[i]: round(float(v), 6) for v, i in zip(values.tolist(), indices.tolist())})
        return out

    def probabilities(self, inputs: list) -> torch.Tensor:
        """(len(inputs), n_labels) softmax probabilities, in input order."""
        batches = self.task.batches(self.processor, inputs, None, self.options, batch_size=PREDICT_BATCH,
                                    shuffle=False)
        chunks = []
        with self._lock, torch.inference_mode():
            for batch in batches:
                output = self.model(**batch)
                logits = output if isinstance(output, torch.Tensor) else output.logits
                chunks.append(logits.float().softmax(-1))
        return torch.cat(chunks)
