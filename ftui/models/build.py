"""Load a pretrained transformers backbone with a fresh classification head.

Shared by the text task now and by the image/audio tasks later (they pass their own Auto class).
Safety: remote code is never run, and safetensors are used whenever the folder has them (a
pickled pytorch_model.bin is loaded by transformers with torch.load(weights_only=True)).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ftui.errors import FtuiError
from ftui.models.catalog import ModelSource


def build_classifier(auto_class: Any, source: ModelSource, labels: list[str]) -> tuple[Any, frozenset[str]]:
    """(model, names of newly initialised parameters) for `labels`.

    ignore_mismatched_sizes lets a folder that already has a head of another size (e.g. a
    previous run's model) be fine-tuned on a new label set: that head is re-initialised. When
    the head already fits (same number of classes), it is kept and the new-parameter set is empty.
    """
    id2label = {i: name for i, name in enumerate(labels)}
    label2id = {name: i for i, name in enumerate(labels)}
    try:
        model, info = auto_class.from_pretrained(
            source.location, num_labels=len(labels), id2label=id2label, label2id=label2id,
            ignore_mismatched_sizes=True, output_loading_info=True, trust_remote_code=False,
            **safetensors_kwargs(source.location))
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise FtuiError("model_load_failed", model=source.id, reason=_short(exc)) from exc
    # For single-label classification transformers would infer this from the label dtype; saying it
    # makes the saved config explicit for anyone loading the model with plain transformers.
    model.config.problem_type = "single_label_classification"
    new = set(info.get("missing_keys", ())) | {item[0] for item in info.get("mismatched_keys", ())}
    names = {name for name, _ in model.named_parameters()}
    return model, frozenset(new & names)


def load_tuned(auto_class: Any, model_dir: Path) -> tuple[Any, list[str]]:
    """(model in eval mode, labels in class-id order) of a tuned transformers model folder (a run's model/)."""
    model_dir = Path(model_dir)
    try:
        model = auto_class.from_pretrained(model_dir, trust_remote_code=False, **safetensors_kwargs(str(model_dir)))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise FtuiError("model_load_failed", model=model_dir.name, reason=_short(exc)) from exc
    id2label = model.config.id2label
    return model.eval(), [str(id2label[i]) for i in range(len(id2label))]


def load_processor(auto_class: Any, source_or_folder: ModelSource | str | Path) -> Any:
    location = source_or_folder.location if isinstance(source_or_folder, ModelSource) else str(source_or_folder)
    model_id = source_or_folder.id if isinstance(source_or_folder, ModelSource) else location
    try:
        return auto_class.from_pretrained(location, trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FtuiError("model_load_failed", model=model_id, reason=_short(exc)) from exc


def safetensors_kwargs(location: str) -> dict:
    """use_safetensors=True for folders that have them; hub ids let transformers prefer them."""
    folder = Path(location)
    if folder.is_dir() and any(folder.glob("*.safetensors")):
        return {"use_safetensors": True}
    return {}


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def readable_config(folder: str | Path) -> None:
    """Rewrite a save_pretrained config.json with its label names as written (transformers escapes every
    non-ASCII character: "正面" became "\\u6b63\\u9762", right for a parser, unreadable for a person)."""
    import json

    path = Path(folder) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
