"""The Runs tab's file actions on one run: export (model ZIP, ONNX with its parity check) and give disk
back (checkpoints, exports). Handlers at module level, each made for one kind."""
from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ftui.errors import FtuiError
from ftui.ui import render_runs
from ftui.ui.api import error_message, owner_of
from ftui.ui.lang import lang_of, t
from ftui.ui.tab_evaluate import downloadable

if TYPE_CHECKING:
    from ftui.services import Services


def need_run(run_id, lang: str = "en") -> bool:
    if not run_id:
        gr.Warning(t("files.choose_run", lang))
        return False
    return True


def freer(services: Services, kind: str):
    def on_free(run_id, request: gr.Request):
        """free_checkpoints / free_exports.click: [managed] -> [manage_text]. The disk column says the rest."""
        lang = lang_of(request)
        if not need_run(run_id, lang):
            return gr.skip()
        try:
            result = services.free_run_files(owner_of(request), run_id, kind)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return error_message(err, lang)
        return t(f"files.freed_{kind}", lang, run_id=run_id, freed=render_runs.size_text(result['freed_bytes']),
                 left=render_runs.size_text(result['disk_bytes']))
    return on_free

def exporter(services: Services, kind: str):
    def on_export(run_id, request: gr.Request):
        """export_zip/onnx/demo.click: [managed] -> [download, export_text]."""
        lang = lang_of(request)
        if not need_run(run_id, lang):
            return gr.skip(), gr.skip()
        try:
            result = services.export_run(owner_of(request), run_id, kind)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return gr.update(visible=False), error_message(err, lang)
        path = downloadable(result.get("zip") if kind == "onnx" else result["path"])
        size = render_runs.size_text(result.get("size_bytes"))
        kind_key = kind if kind in ("onnx", "demo") else "zip"
        text = t(f"files.ready_{kind_key}", lang, size=size)
        if kind == "onnx":
            text += " " + render_runs.onnx_sentence(result, lang)
        label = t(f"files.download_{kind_key}", lang)
        return gr.update(value=str(path), visible=True, label=label), text
    return on_export
