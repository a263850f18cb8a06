"""The Runs tab's file actions on one run: export (model ZIP, ONNX with its parity check) and give disk
back (checkpoints, exports). Handlers at module level, each made for one kind."""
from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ftui.errors import FtuiError
from ftui.ui import render_runs
from ftui.ui.api import error_message, owner_of
from ftui.ui.tab_evaluate import downloadable

if TYPE_CHECKING:
    from ftui.services import Services


def need_run(run_id) -> bool:
    if not run_id:
        gr.Warning("Choose a run first (click its row in the table, or pick it under Manage one run).")
        return False
    return True


def freer(services: Services, kind: str):
    def on_free(run_id, request: gr.Request):
        """free_checkpoints / free_exports.click: [managed] -> [manage_text]. The disk column says the rest."""
        if not need_run(run_id):
            return gr.skip()
        try:
            result = services.free_run_files(owner_of(request), run_id, kind)
        except FtuiError as err:
            gr.Warning(error_message(err))
            return error_message(err)
        after = (" It can no longer be resumed or trained further; its model still predicts."
                 if kind == "checkpoints" else " Export again whenever you need a download.")
        return (f"Run `{run_id}`: {kind} deleted, {render_runs.size_text(result['freed_bytes'])} freed "
                f"({render_runs.size_text(result['disk_bytes'])} left).{after}")
    return on_free

def exporter(services: Services, kind: str):
    def on_export(run_id, request: gr.Request):
        """export_zip/onnx.click: [managed] -> [download, export_text]."""
        if not need_run(run_id):
            return gr.skip(), gr.skip()
        try:
            result = services.export_run(owner_of(request), run_id, kind)
        except FtuiError as err:
            gr.Warning(error_message(err))
            return gr.update(visible=False), error_message(err)
        path = downloadable(result.get("zip") if kind == "onnx" else result["path"])
        size = render_runs.size_text(result.get("size_bytes"))
        if kind == "onnx":
            text = (f"ONNX model ready ({size}; the download is a ZIP with the .onnx file, labels and a README). "
                    + render_runs.onnx_sentence(result))
        else:
            text = f"Model ZIP ready ({size}): loads with plain transformers / torch, see its README.md."
        label = "Download ONNX (ZIP)" if kind == "onnx" else "Download model ZIP"
        return gr.update(value=str(path), visible=True, label=label), text
    return on_export
