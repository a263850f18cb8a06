"""The preset endpoints of the public API (services/presets.py): save_preset, list_presets, delete_preset.

Apart from api.py only to keep each module short; the same rules: the owner comes from the request, so a
user reaches only their own presets, and a problem answers with a sentence and "(error code: <code>)".
A preset starts a run through start_run: client.predict(p["task"], p["model"], handle_file(path),
p["learning_rate"], p["epochs"], p["options"], api_name="/start_run").
"""
# No `from __future__ import annotations`: Gradio reads these hints at runtime (see api.py).
from typing import TYPE_CHECKING

import gradio as gr

from ftui.ui.api import api_errors, owner_of

if TYPE_CHECKING:
    from ftui.services import Services


class PresetApi:
    ENDPOINTS = ("save_preset", "list_presets", "delete_preset")  # all cheap: a few small JSON files

    def __init__(self, services: "Services"):
        self.services = services

    def save_preset(self, run_id: str, name: str, request: gr.Request = None) -> dict:
        """Keep the settings of one of your runs as preset `name` (letters, digits, - _ .; Chinese too; at
        most 64): {name, task, model, learning_rate, epochs, options, created}. The options leave out the
        run's data columns and validation file. Saving an existing name replaces that preset."""
        with api_errors(request):
            return self.services.save_preset(owner_of(request), run_id, name)

    def list_presets(self, request: gr.Request = None) -> list[dict]:
        """Your presets by name, each {name, task, model, learning_rate, epochs, options, created}."""
        with api_errors(request):
            return self.services.list_presets(owner_of(request))

    def delete_preset(self, name: str, request: gr.Request = None) -> dict:
        """Remove one of your presets: {name, deleted: true}."""
        with api_errors(request):
            return self.services.delete_preset(owner_of(request), name)


def register_presets(api: PresetApi) -> None:
    """Register the endpoints with gr.api (inside a gr.Blocks context), as api.register does."""
    for name in PresetApi.ENDPOINTS:
        gr.api(getattr(api, name), api_name=name, concurrency_limit=None)
