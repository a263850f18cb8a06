"""Runs tab: every run of this user in one table; compare several (curves overlaid, configs side by
side with the differing settings marked); rename, delete, clone into Train, resume / train more,
export (model ZIP, or ONNX with its parity check against PyTorch).

The table refreshes when the tab is opened, on Refresh, after every action here, and every few
seconds (page-level timer) while one of the runs is still queued or training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ftui.messages import count
from ftui.errors import FtuiError
from ftui.ui.charts import NO_COMPARISON, comparison
from ftui.ui import render, render_runs
from ftui.ui.api import error_message, owner_of
from ftui.ui.tab_data import DataTab
from ftui.ui.run_files import exporter, freer, need_run
from ftui.ui.share_panel import build_share_panel
from ftui.ui.tab_train import TrainTab
from ftui.vocab import TaskName

if TYPE_CHECKING:
    from ftui.services import Services

POLL_SECONDS = 3.0  # the runs table while a run is active: a listing of small JSON files, cheap
MAX_COMPARED = 8
MAX_NAME = 80  # Services.MAX_RUN_NAME (not imported: services pulls in the engine)


@dataclass
class RunsTab:
    tab: gr.Tab
    refresh: object  # refresh(selected, managed, request) -> refresh_outputs
    refresh_outputs: list


def build_runs_tab(services: Services, data: DataTab, train: TrainTab, tabs: gr.Tabs, timer: gr.Timer) -> RunsTab:
    """`timer` polls this table; it is made at page level by build_app (a Timer inside a tab that is
    not shown never ticks). The Train tab's own timer is started by train.attach (in attach_outputs)."""
    with gr.Tab("5 · Runs", id="runs", elem_id="tab-runs") as tab:
        with gr.Row():
            gr.Markdown("All your runs, newest first. Click a row to manage that run; pick several below "
                        "to compare them.", elem_id="runs-intro")
            with gr.Column(scale=0, min_width=140):
                refresh = gr.Button("↻ Refresh", elem_id="runs-refresh", size="sm")
        # Empty frames with the real headers: a Dataframe without a value shows the columns "1 2 3".
        table = gr.Dataframe(render_runs.runs_table([]), interactive=False, elem_id="runs-list", max_height=360,
                             wrap=True)

        gr.Markdown("### Compare runs")
        compare = gr.Dropdown(label="Runs to compare", choices=[], multiselect=True, max_choices=MAX_COMPARED,
                              elem_id="runs-compare", info="Their curves are overlaid and their settings "
                              "listed side by side; settings that differ are marked ≠ and highlighted.")
        # Matplotlib, not gr.LinePlot: the native chart only swaps its data on an update and keeps the colour
        # domain of its first value, so a run added to the selection later was drawn without a colour.
        with gr.Row():
            loss_plot = gr.Plot(label="Training loss", elem_id="compare-loss", format="png")
            acc_plot = gr.Plot(label="Validation accuracy", elem_id="compare-accuracy", format="png")
        config_table = gr.Dataframe(NO_COMPARISON, interactive=False, elem_id="compare-config", wrap=True,
                                    max_height=520, label="Settings side by side")

        gr.Markdown("### Manage one run")
        managed = gr.Dropdown(label="Run", choices=[], elem_id="manage-run")
        with gr.Row():
            new_name = gr.Textbox(label="Name", placeholder="e.g. baseline, lr 1e-4", elem_id="rename-text",
                                  scale=3, max_length=MAX_NAME)
            rename = gr.Button("Rename", elem_id="rename-btn", scale=1)
            clone = gr.Button("Clone into Train", elem_id="clone-btn", scale=1)
        with gr.Row():
            more_epochs = gr.Number(0, label="More epochs", precision=0, minimum=0, maximum=100, elem_id="more-epochs",
                                    scale=2, info="0: continue a stopped or interrupted run where it left off; "
                                    "N: train a finished run N more epochs.")
            resume = gr.Button("Resume / train more", elem_id="resume-btn", scale=1)
            # Any run of this user, not only the one the Train tab follows (that one has its own Stop):
            # a run started from another browser, the API, or before a second run was queued.
            stop = gr.Button("Stop", variant="stop", elem_id="manage-stop-btn", scale=0, min_width=120)
        with gr.Row(equal_height=True):
            export_zip = gr.Button("Export model ZIP", elem_id="export-zip-btn")
            export_onnx = gr.Button("Export ONNX", elem_id="export-onnx-btn")
            download = gr.DownloadButton("Download", visible=False, elem_id="export-download", variant="primary")
        export_text = gr.Markdown("", elem_id="export-status")
        with gr.Row():
            free_checkpoints = gr.Button("Delete checkpoints", elem_id="free-checkpoints-btn", scale=0, min_width=180)
            free_exports = gr.Button("Delete exports", elem_id="free-exports-btn", scale=0, min_width=160)
            delete = gr.Button("Delete…", variant="stop", elem_id="delete-btn", scale=0, min_width=160)
        with gr.Column(visible=False, elem_id="delete-confirm-row") as confirm_row:
            confirm_text = gr.Markdown("", elem_id="delete-confirm-text")
            with gr.Row():
                confirm = gr.Button("Yes, delete it and its files", variant="stop", elem_id="delete-confirm",
                                    scale=0, min_width=240)
                cancel = gr.Button("Cancel", elem_id="delete-cancel", scale=0, min_width=120)
        manage_text = gr.Markdown("", elem_id="manage-status")
        build_share_panel(services, managed)

    refreshed = [table, compare, managed, timer]

    def on_refresh(selected, chosen, request: gr.Request):
        """tab.select / refresh.click / after actions: [compare, managed] -> [table, compare, managed, timer].
        Keeps the selections that still exist; the timer runs only while a run is queued or training."""
        try:
            runs = services.list_runs(owner_of(request))  # summaries: config + status, read once each
        except FtuiError as err:
            gr.Warning(error_message(err))
            return gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False)
        choices = render_runs.run_choices(runs)
        ids = [run_id for _, run_id in choices]
        active = any(r.get("state") in render.ACTIVE_STATES for r in runs)
        return (render_runs.runs_table(runs),
                gr.update(choices=choices, value=render_runs.keep_choices(selected, runs)),
                gr.update(choices=choices, value=chosen if chosen in ids else None),
                gr.Timer(active=active))

    def on_tick(selected, chosen, request: gr.Request):
        """timer.tick: like on_refresh, without the dropdowns (they would close under the user's pointer)."""
        table_value, _, _, timer_update = on_refresh(selected, chosen, request)
        return table_value, timer_update

    def on_compare(selected, request: gr.Request):
        """compare.change: [compare] -> [loss_plot, acc_plot, config_table]."""
        return comparison(services, owner_of(request), selected or [])

    def on_pick_row(frame, event: gr.SelectData):
        """table.select: [table] -> [managed]: the clicked row's run is the one to manage."""
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        try:
            return str(frame.iloc[row]["run"])
        except (IndexError, KeyError, AttributeError, TypeError):
            return gr.skip()

    def on_managed(run_id, request: gr.Request):
        """managed.change: [managed] -> [new_name, download, export_text, confirm_row, manage_text]."""
        name = ""
        if run_id:
            try:
                name = services.run_config(owner_of(request), run_id).get("name") or ""
            except FtuiError as err:
                return "", gr.update(visible=False), "", gr.update(visible=False), error_message(err)
        chosen = f"Run `{run_id}` chosen: rename, clone, resume, export or delete it below." if run_id else gr.skip()
        return name, gr.update(visible=False, value=None), "", gr.update(visible=False), chosen  # (none: keep the last word)

    # -- actions -------------------------------------------------------------------------

    def on_rename(run_id, name, request: gr.Request):
        """rename.click / new_name.submit: [managed, new_name] -> [manage_text]; then the table refreshes."""
        if not need_run(run_id):
            return gr.skip()
        try:
            services.rename_run(owner_of(request), run_id, name)
        except FtuiError as err:
            gr.Warning(error_message(err))
            return error_message(err)
        clean = " ".join(str(name or "").split())
        return f"Run `{run_id}` is now called **{clean}**." if clean else f"Run `{run_id}` has no name now."

    def on_delete_ask(run_id, request: gr.Request):
        """delete.click: [managed] -> [confirm_row, confirm_text]: a second, explicit step."""
        if not need_run(run_id):
            return gr.skip(), gr.skip()
        try:
            state = services.run_status(owner_of(request), run_id, since=10**9).get("state")
        except FtuiError as err:
            gr.Warning(error_message(err))
            return gr.update(visible=False), gr.skip()
        if state in render.ACTIVE_STATES:
            gr.Warning(f"Run {run_id} is {state}: stop it first (Stop, above), then delete it.")
            return gr.update(visible=False), gr.skip()
        return (gr.update(visible=True), f"Delete run `{run_id}` with its model, checkpoints, evaluations and "
                "exports? This cannot be undone. (An active run must be stopped first.)")

    def on_delete(run_id, current, request: gr.Request):
        """confirm.click: [managed, current_run] -> [confirm_row, manage_text, managed, current_run]."""
        if not need_run(run_id):
            return gr.update(visible=False), gr.skip(), gr.skip(), gr.skip()
        try:
            services.delete_run(owner_of(request), run_id)
        except FtuiError as err:
            gr.Warning(error_message(err))
            return gr.update(visible=False), error_message(err), gr.skip(), gr.skip()
        gr.Info(f"Run {run_id} was deleted, with all its files.")
        return (gr.update(visible=False), f"Run `{run_id}` was deleted, with all its files.", None,
                None if current == run_id else gr.skip())

    def on_stop(run_id, request: gr.Request):
        """stop.click: [managed] -> [manage_text]; then the table refreshes (its timer shows the end)."""
        if not need_run(run_id):
            return gr.skip()
        owner = owner_of(request)
        try:
            state = services.run_status(owner, run_id, since=10**9).get("state")
            if state not in render.ACTIVE_STATES:
                return f"Run `{run_id}` is {state or 'not active'}: there is nothing to stop."
            snap = services.stop_run(owner, run_id)
        except FtuiError as err:
            gr.Warning(error_message(err))
            return error_message(err)
        if snap.get("state") in render.ACTIVE_STATES:
            return f"Stopping run `{run_id}` after the current step…"
        return f"Run `{run_id}` was stopped before it started."

    def on_clone(run_id, request: gr.Request):
        """clone.click: [managed] -> [upload, validation_upload, val_fraction, tabs, manage_text]. The Data
        tab then re-inspects the run's upload and the Train tab takes its settings (chained events)."""
        skip = (gr.skip(),) * 5
        if not need_run(run_id):
            return skip
        owner = owner_of(request)
        try:
            config = services.run_config(owner, run_id)
        except FtuiError as err:
            gr.Warning(error_message(err))
            return skip
        data_options = config.get("data") or {}
        upload_id = config.get("upload")
        try:
            name = services.store.upload_path(owner, upload_id).name
        except FtuiError:
            gr.Warning(f"The data of run {run_id} is no longer kept; its settings are copied, "
                       "choose the data again on the Data tab.")
            return (gr.skip(), gr.skip(), gr.skip(), gr.Tabs(selected="train"),
                    f"Settings of `{run_id}` copied into Train; its data is gone.")
        upload = {"upload_id": upload_id, "name": name, "task": config.get("task") or TaskName.TEXT, "ok": True,
                  "error": None, "text_column": data_options.get("text_column"),
                  "label_column": data_options.get("label_column")}
        return (upload, data_options.get("validation_upload"), data_options.get("val_fraction", gr.skip()),
                gr.Tabs(selected="train"), f"Settings and data of `{run_id}` copied into Train.")

    def on_resume(run_id, extra, request: gr.Request):
        """resume.click: [managed, more_epochs] -> [current_run, tabs, manage_text]; then the Train tab
        attaches to the run (its timer polls it) and shows its settings."""
        if not need_run(run_id):
            return gr.skip(), gr.skip(), gr.skip()
        try:
            services.resume_run(owner_of(request), run_id, extra_epochs=int(extra or 0))
        except (FtuiError, ValueError, TypeError) as err:
            message = error_message(err) if isinstance(err, FtuiError) else f"Not a number of epochs: {extra}"
            gr.Warning(message)
            return gr.skip(), gr.skip(), message
        what = f"{count(int(extra), 'more epoch')}" if extra else "where it left off"
        return run_id, gr.Tabs(selected="train"), f"Run `{run_id}` continues ({what})."

    # -- wiring --------------------------------------------------------------------------
    private = {"api_visibility": "private"}
    cheap = {"concurrency_limit": None, "show_progress": "hidden", **private}
    tab.select(on_refresh, [compare, managed], refreshed, **private)
    refresh.click(on_refresh, [compare, managed], refreshed, **private)
    timer.tick(on_tick, [compare, managed], [table, timer], **cheap)
    # One comparison at a time, the newest selection last: two overlapping answers could land out of order.
    compare.change(on_compare, [compare], [loss_plot, acc_plot, config_table], trigger_mode="always_last",
                   **private)
    table.select(on_pick_row, [table], [managed], **private)
    managed.change(on_managed, [managed], [new_name, download, export_text, confirm_row, manage_text], **private)
    for event in (rename.click, new_name.submit):
        event(on_rename, [managed, new_name], [manage_text], **private).then(
            on_refresh, [compare, managed], refreshed, **private).then(
            on_compare, [compare], [loss_plot, acc_plot, config_table], **private)
    delete.click(on_delete_ask, [managed], [confirm_row, confirm_text], **private)
    cancel.click(lambda: gr.update(visible=False), None, [confirm_row], **private)
    confirm.click(on_delete, [managed, train.current_run], [confirm_row, manage_text, managed, train.current_run],
                  **private).then(on_refresh, [compare, managed], refreshed, **private)
    clone.click(on_clone, [managed], [data.upload, data.validation_upload, data.val_fraction, tabs, manage_text],
                **private).then(data.restore, [data.upload], data.restore_outputs, **private).then(
        train.restore, [managed], train.restore_outputs, **private).then(
        lambda: gr.Accordion(open=True), None, [train.advanced], **private).then(  # mounted before it is set
        train.restore_advanced, [managed], train.advanced_outputs, **private)
    resume.click(on_resume, [managed, more_epochs], [train.current_run, tabs, manage_text], **private).then(
        train.attach, [train.current_run], train.attach_outputs, **private).then(
        train.restore, [train.current_run], train.restore_outputs, **private).then(
        on_refresh, [compare, managed], refreshed, **private)
    stop.click(on_stop, [managed], [manage_text], concurrency_limit=None, **private).then(
        on_refresh, [compare, managed], refreshed, **private)
    export_zip.click(exporter(services, "zip"), [managed], [download, export_text], **private)
    for button, kind in ((free_checkpoints, "checkpoints"), (free_exports, "exports")):
        button.click(freer(services, kind), [managed], [manage_text], **private).then(
            on_refresh, [compare, managed], refreshed, **private)
    export_onnx.click(exporter(services, "onnx"), [managed], [download, export_text], **private)
    return RunsTab(tab=tab, refresh=on_refresh, refresh_outputs=refreshed)
