"""Presets: a run's settings kept under a name, to start later runs from (on any data).

    <runs-dir>/<owner>/presets/<name>.json = {name, task, model, learning_rate, epochs, options, created}

`options` is the flat options dict RunConfig.build takes, without what belongs to one data file (its
columns, its validation upload) or to one run (its display name): a preset starts a run on other data.
Every lookup goes through the owner's own folder, and a name is a plain slug (no path separators, no
leading dot), so one user can neither see nor reach another's presets.
"""
from __future__ import annotations

import re
import time
import unicodedata

from ftui.config import RunConfig
from ftui.errors import FtuiError
from ftui.runs.store import RunStore, read_json, write_json_atomic

MAX_PRESET_NAME = 64
# \w is Unicode-aware: letters and digits of any script (Chinese names too), and "_".
PRESET_NAME = re.compile(r"^\w[\w.-]*$")
RUN_ONLY = ("text_column", "label_column", "validation_upload", "name")  # not carried over to other data


def preset_name(name) -> str:
    """The name as it is stored, or FtuiError("bad_preset_name")."""
    clean = unicodedata.normalize("NFC", str(name or "").strip())
    if not PRESET_NAME.match(clean) or len(clean) > MAX_PRESET_NAME:
        raise FtuiError("bad_preset_name", name=str(name or "")[:80], limit=MAX_PRESET_NAME)
    return clean


class PresetActions:
    def __init__(self, store: RunStore):
        self.store = store

    def _folder(self, owner: str | None):
        return self.store.owner_dir(owner) / "presets"

    def save_preset(self, owner: str | None, run_id: str, name: str) -> dict:
        """Keep the settings of one of the owner's runs as preset `name` (an existing one is replaced)."""
        name = preset_name(name)
        run_dir = self.store.run_dir(owner, run_id)
        config = RunConfig.from_dict(read_json(run_dir / "config.json", {}) or {})
        options = {key: value for key, value in config.options().items() if key not in RUN_ONLY}
        preset = {"name": name, "task": str(config.task), "model": config.model,
                  "learning_rate": config.learning_rate, "epochs": config.epochs, "options": options,
                  "created": time.time()}
        folder = self._folder(owner)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / f"{name}.json", preset)
        return preset

    def list_presets(self, owner: str | None) -> list[dict]:
        """The owner's presets, by name. A damaged file is left out (preset() on it says it is damaged)."""
        folder = self._folder(owner)
        presets = []
        for path in folder.glob("*.json") if folder.is_dir() else []:  # sorted by name below
            if not PRESET_NAME.match(path.stem):
                continue
            try:
                preset = read_json(path, None)
            except FtuiError:
                continue
            if isinstance(preset, dict):
                presets.append(preset)
        return sorted(presets, key=lambda p: str(p.get("name", "")).casefold())

    def preset(self, owner: str | None, name: str) -> dict:
        """The settings kept as `name`: {name, task, model, learning_rate, epochs, options, created}."""
        name = preset_name(name)
        preset = read_json(self._folder(owner) / f"{name}.json", None)
        if not isinstance(preset, dict):
            raise FtuiError("preset_not_found", name=name)
        return preset

    def delete_preset(self, owner: str | None, name: str) -> dict:
        name = preset_name(name)
        path = self._folder(owner) / f"{name}.json"
        if not path.is_file():
            raise FtuiError("preset_not_found", name=name)
        path.unlink()
        return {"name": name, "deleted": True}
