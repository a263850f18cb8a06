"""The Train form without Gradio: what the widgets mean. A run's options from the widgets' values,
a run's options back into widget values (clone), the catalog's choices and recommendations, and the
sentence that says which data Train will use. Pure functions: unit-tested on plain values."""
from __future__ import annotations

import dataclasses

from ftui.config import TrainOptions
from ftui.i18n import marker, t
from ftui.ui import render
from ftui.vocab import DEFAULT_CLIP_SECONDS, DEFAULT_EPOCHS, TaskName

# The one place the UI's starting values live. A catalog entry's own "learning_rate" (recommended for
# that backbone) replaces the rate when that model is picked.
DEFAULT_LEARNING_RATE = 5e-5
TRAIN_DEFAULTS = TrainOptions()  # batch size, max length, ... : the config's own defaults

RECIPES = [("Head first, then everything (recommended)", "head_first"),
           ("Head only: a useful model in seconds", "head_only"),
           ("Everything from the start", "full")]
AUTO_CHOICES = [("auto", "auto"), ("yes", "yes"), ("no", "no")]
SMOOTHING_CHOICES = [("auto", "auto"), ("off", "0"), ("0.05", "0.05"), ("0.1", "0.1"), ("0.2", "0.2")]


def build_options(task: str, data: dict, values: dict) -> dict:
    """A run's flat options dict from the Data tab's part and the typed widgets' values, keyed by option
    name (only those that apply to the task). Values go through as the widgets give them (a cleared
    box is None, which means "auto" where an option has one): RunConfig checks and coerces them, and
    explains a bad one in a sentence."""
    recipe = values.get("recipe") or "head_first"
    options = {**data, "head_first": recipe != "full", "train_head_only": recipe == "head_only"}
    for key in ("batch_size", "weight_decay", "warmup_ratio", "seed"):
        options[key] = values.get(key)
    options["head_lr_multiplier"] = values.get("head_lr_multiplier") or None  # 0 in the form: auto
    smoothing = values.get("label_smoothing")
    options["label_smoothing"] = None if smoothing in (None, "", "auto") else smoothing
    options["early_stopping_patience"] = values.get("early_stopping_patience") or 0
    options["gpus"] = values.get("gpus") or 1
    if task == TaskName.IMAGE:
        options.update(image_size=values.get("image_size"), augment=values.get("augment", True),
                       crop_scale=values.get("crop_scale") or None,
                       freeze_batchnorm={"yes": True, "no": False}.get(values.get("freeze_batchnorm")))
    elif task == TaskName.AUDIO:
        options.update(clip_seconds=values.get("clip_seconds"), augment=values.get("augment", True))
    else:
        options.update(max_length=values.get("max_length"), pooling=values.get("pooling") or "auto")
    if task != TaskName.TEXT:
        options.pop("text_column", None), options.pop("label_column", None)
    return options


def chosen_model(catalog_choice, custom) -> str:
    """A typed local folder / hub id wins over the dropdown."""
    return (custom or "").strip() or (catalog_choice or "")


def model_choices(models: list[dict]) -> tuple[list[tuple[str, str]], str | None]:
    # The browser shows " · default" / " · needs internet" in its language (only one marker fits a label).
    choices = [(render.model_label(m).replace(" · default", " · " + marker("model.default"))
                .replace(" · needs internet", " · " + marker("model.needs_internet")), m["id"]) for m in models]
    default = next((m["id"] for m in models if m.get("default")), choices[0][1] if choices else None)
    return choices, default


def recommended(models: list[dict], model_id) -> tuple[float, int]:
    """(learning rate, epochs) for a catalog model: its own recommendation, else the defaults above."""
    entry = next((m for m in models if m.get("id") == model_id), {})
    return (entry.get("learning_rate") or DEFAULT_LEARNING_RATE, entry.get("epochs") or DEFAULT_EPOCHS)


def data_sentence(upload: dict | None, validation_upload: str | None, lang: str = "en") -> str:
    """What Train will use, so nobody trains on the wrong file."""
    if not upload:
        return t("train.no_data", lang)
    name = upload.get("name") or t("data.your_file", lang)
    if not upload.get("ok"):
        return t("train.data_problems", lang, name=name)
    held_out = t("train.held_out_file" if validation_upload else "train.held_out_share", lang)
    return t("train.using", lang, name=name, held_out=held_out)


def widget_values(t: dict, names: list[str]) -> tuple:
    """A run's train options -> the form's widget values, in `names` order (auto shows as empty / "auto")."""
    recipe = "head_only" if t.get("train_head_only") else ("head_first" if t.get("head_first", True) else "full")
    freeze = t.get("freeze_batchnorm")
    smoothing = t.get("label_smoothing")
    special = {"recipe": recipe, "freeze_batchnorm": "auto" if freeze is None else ("yes" if freeze else "no"),
               "clip_seconds": t.get("clip_seconds") or DEFAULT_CLIP_SECONDS, "pooling": t.get("pooling") or "auto",
               "label_smoothing": "auto" if smoothing is None else f"{smoothing:g}",
               "head_lr_multiplier": t.get("head_lr_multiplier") or 0, "crop_scale": t.get("crop_scale") or 0,
               "gpus": t.get("gpus") or 1}
    return tuple(special[name] if name in special else t.get(name) for name in names)


def preset_values(preset: dict, names: list[str]) -> tuple:
    """A preset's options -> the form's widget values, in `names` order; an option the preset lacks (kept
    by an older ftui) shows its default."""
    return widget_values({**dataclasses.asdict(TRAIN_DEFAULTS), **(preset.get("options") or {})}, names)
