"""The exported card's metadata: huggingface_hub.ModelCardData (base model, license, pipeline tag, library,
tags, the saved model's validation accuracy), written as the YAML front matter of README.md so the hub
reads it when the folder is uploaded. What is known, nothing guessed.
"""
from __future__ import annotations

import os
from pathlib import Path

from ftui.config import RunConfig
from ftui.runs.store import read_json, read_jsonl, read_status
from ftui.vocab import TaskName

PIPELINE_TAGS = {TaskName.TEXT: "text-classification", TaskName.IMAGE: "image-classification",
                 TaskName.AUDIO: "audio-classification"}


def card_data(run_dir: str | Path):
    """The card's metadata (huggingface_hub.ModelCardData): what is known, nothing guessed. base_model
    only as a hub id (a local folder has none); license: the base model's, from the catalog; metrics:
    the saved model's validation accuracy."""
    from huggingface_hub import EvalResult, ModelCardData

    run_dir = Path(run_dir)
    config = RunConfig.from_dict(read_json(run_dir / "config.json"))
    status = read_status(run_dir)
    base_model, license_ = _base_facts(config.task, config.model)
    plain_torch = (read_json(run_dir / "model" / "config.json", {}) or {}).get("format") == "ftui-image-classifier"
    name = config.name or f"ftui {config.task} classifier {run_dir.name}"
    accuracy = _saved_accuracy(status, read_jsonl(run_dir / "metrics.jsonl"))
    results = None if accuracy is None else [EvalResult(
        task_type=PIPELINE_TAGS[config.task], dataset_type="custom",  # the user's own upload: no hub dataset id
        dataset_name=str(status.get("data_name") or config.upload), dataset_split="validation",
        metric_type="accuracy", metric_name="Validation accuracy", metric_value=round(float(accuracy), 4))]
    return ModelCardData(
        model_name=name, base_model=base_model, license=license_, pipeline_tag=PIPELINE_TAGS[config.task],
        # torchvision / efficientnet_lite_pytorch weights load with plain torch: no library the hub lists
        library_name=None if plain_torch else "transformers", tags=["ftui"],
        metrics=["accuracy"] if accuracy is not None else None, eval_results=results)


def _base_facts(task: str, model: str) -> tuple[str | None, str | None]:
    """(hub id, license) of the base model where known: a catalog entry's, or a hub id typed as is."""
    from ftui.models.catalog import HUB_ID, entry_of

    entry = entry_of(task, model)
    if entry is not None:
        return entry.get("hub") or entry.get("base_model"), entry.get("license")
    is_hub_id = HUB_ID.match(model) and ".." not in model and not os.path.isabs(model) and not Path(model).is_dir()
    return (model if is_hub_id else None), None


def _saved_accuracy(status: dict, records: list[dict]) -> float | None:
    """The validation accuracy of the model in model/, else the best seen during training, else None."""
    saved = saved_eval([r for r in records if r.get("event") == "EvalLogged"])
    return saved["accuracy"] if saved else status.get("best_accuracy")


def saved_eval(evals: list[dict]) -> dict | None:
    """model/ holds the best evaluation (higher accuracy, a tie to the lower loss), flagged is_best."""
    if not evals:
        return None
    flagged = [r for r in evals if r.get("is_best")]
    return flagged[-1] if flagged else max(evals, key=lambda r: (r["accuracy"], -r["loss"]))
