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

from ftui.errors import FtuiError
from ftui.ui.charts import NO_COMPARISON, comparison
from ftui.ui import render, render_runs
from ftui.ui.api import error_message, owner_of
from ftui.ui.lang import L, lang_of, t
from ftui.ui.tab_data import DataTab
from ftui.ui.run_files import exporter, freer, need_run
from ftui.ui.presets_panel import build_run_presets
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
    with gr.Tab(L("runs.tab"), id="runs", elem_id="tab-runs") as tab:
        with gr.Row():
            gr.Markdown(L("runs.intro"), elem_id="runs-intro")
            with gr.Column(scale=0, min_width=140):
                refresh = gr.Button(L("runs.refresh"), elem_id="runs-refresh", size="sm")
        # Empty frames with the real headers: a Dataframe without a value shows the columns "1 2 3".
        table = gr.Dataframe(render_runs.runs_table([]), interactive=False, elem_id="runs-list", max_height=360,
                             wrap=True)

        gr.Markdown(L("runs.compare_title"))
        compare = gr.Dropdown(label=L("runs.compare"), choices=[], multiselect=True, max_choices=MAX_COMPARED,
                              elem_id="runs-compare", info=L("runs.compare_info"))
        # Matplotlib, not gr.LinePlot: the native chart only swaps its data on an update and keeps the colour
        # domain of its first value, so a run added to the selection later was drawn without a colour.
        with gr.Row():
            # No label badge: it covered the figure's top-left ticks; the y axis names the curve.
            loss_plot = gr.Plot(label=L("live.loss"), show_label=False, elem_id="compare-loss", format="png")
            acc_plot = gr.Plot(label=L("runs.val_accuracy"), show_label=False, elem_id="compare-accuracy", format="png")
        with gr.Accordion(L("runs.more_charts"), open=False,
                          elem_id="compare-more"):
            steps_plot = gr.Plot(show_label=False, elem_id="compare-steps", format="png")
        config_table = gr.Dataframe(NO_COMPARISON, interactive=False, elem_id="compare-config", wrap=True,
                                    max_height=520, label=L("runs.settings"))

        gr.Markdown(L("runs.manage_title"))
        managed = gr.Dropdown(label=L("runs.run"), choices=[], elem_id="manage-run")
        with gr.Row():
            new_name = gr.Textbox(label=L("runs.name"), placeholder=L("runs.name_hint"), elem_id="rename-text",
                                  scale=3, max_length=MAX_NAME)
            rename = gr.Button(L("runs.rename"), elem_id="rename-btn", scale=1)
            clone = gr.Button(L("runs.clone"), elem_id="clone-btn", scale=1)
        with gr.Row():
            more_epochs = gr.Number(0, label=L("runs.more_epochs"), precision=0, minimum=0, maximum=100,
                                    elem_id="more-epochs", scale=2, info=L("runs.more_epochs_info"))
            resume = gr.Button(L("runs.resume"), elem_id="resume-btn", scale=1)
            # Any run of this user, not only the one the Train tab follows (that one has its own Stop):
            # a run started from another browser, the API, or before a second run was queued.
            stop = gr.Button(L("train.stop"), variant="stop", elem_id="manage-stop-btn", scale=0, min_width=120)
        with gr.Row(equal_height=True):
            export_zip = gr.Button(L("runs.export_zip"), elem_id="export-zip-btn")
            export_onnx = gr.Button(L("runs.export_onnx"), elem_id="export-onnx-btn")
            export_demo = gr.Button(L("runs.export_demo"), elem_id="export-demo-btn")
            download = gr.DownloadButton(L("runs.download"), visible=False, elem_id="export-download", variant="primary")
        export_text = gr.Markdown("", elem_id="export-status")
        with gr.Row():
            free_checkpoints = gr.Button(L("runs.free_checkpoints"), elem_id="free-checkpoints-btn", scale=0,
                                         min_width=180)
            free_exports = gr.Button(L("runs.free_exports"), elem_id="free-exports-btn", scale=0, min_width=160)
            delete = gr.Button(L("runs.delete"), variant="stop", elem_id="delete-btn", scale=0, min_width=160)
        with gr.Column(visible=False, elem_id="delete-confirm-row") as confirm_row:
            confirm_text = gr.Markdown("", elem_id="delete-confirm-text")
            with gr.Row():
                confirm = gr.Button(L("runs.confirm_delete"), variant="stop", elem_id="delete-confirm",
                                    scale=0, min_width=240)
                cancel = gr.Button(L("train.cancel"), elem_id="delete-cancel", scale=0, min_width=120)
        manage_text = gr.Markdown("", elem_id="manage-status")
        build_run_presets(services, managed, train)
        build_share_panel(services, managed)

    refreshed = [table, compare, managed, timer]

    def on_refresh(selected, chosen, request: gr.Request):
        """tab.select / refresh.click / after actions: [compare, managed] -> [table, compare, managed, timer].
        Keeps the selections that still exist; the timer runs only while a run is queued or training."""
        try:
            runs = services.list_runs(owner_of(request))  # summaries: config + status, read once each
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False)
        lang = lang_of(request)
        choices = render_runs.run_choices(runs, lang=lang)
        ids = [run_id for _, run_id in choices]
        active = any(r.get("state") in render.ACTIVE_STATES for r in runs)
        return (render_runs.runs_table(runs, lang=lang),
                gr.update(choices=choices, value=render_runs.keep_choices(selected, runs)),
                gr.update(choices=choices, value=chosen if chosen in ids else None),
                gr.Timer(active=active))

    def on_tick(selected, chosen, request: gr.Request):
        """timer.tick: like on_refresh, without the dropdowns (they would close under the user's pointer)."""
        table_value, _, _, timer_update = on_refresh(selected, chosen, request)
        return table_value, timer_update

    def on_compare(selected, request: gr.Request):
        """compare.change: [compare] -> [loss_plot, acc_plot, steps_plot, config_table]."""
        return comparison(services, owner_of(request), selected or [], lang_of(request))

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
                return "", gr.update(visible=False), "", gr.update(visible=False), error_message(err, lang_of(request))
        chosen = t("manage.chosen", lang_of(request), run_id=run_id) if run_id else gr.skip()
        return name, gr.update(visible=False, value=None), "", gr.update(visible=False), chosen  # (none: keep the last word)

    # -- actions -------------------------------------------------------------------------

    def on_rename(run_id, name, request: gr.Request):
        """rename.click / new_name.submit: [managed, new_name] -> [manage_text]; then the table refreshes."""
        if not need_run(run_id, lang_of(request)):
            return gr.skip()
        try:
            services.rename_run(owner_of(request), run_id, name)
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return error_message(err, lang_of(request))
        clean = " ".join(str(name or "").split())
        return t("manage.renamed" if clean else "manage.unnamed", lang_of(request), run_id=run_id, name=clean)

    def on_delete_ask(run_id, request: gr.Request):
        """delete.click: [managed] -> [confirm_row, confirm_text]: a second, explicit step."""
        if not need_run(run_id, lang_of(request)):
            return gr.skip(), gr.skip()
        try:
            state = services.run_status(owner_of(request), run_id, since=10**9).get("state")
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return gr.update(visible=False), gr.skip()
        if state in render.ACTIVE_STATES:
            gr.Warning(t("manage.stop_first", lang_of(request), run_id=run_id, state=render.state_name(state, lang_of(request))))
            return gr.update(visible=False), gr.skip()
        return gr.update(visible=True), t("manage.confirm", lang_of(request), run_id=run_id)

    def on_delete(run_id, current, request: gr.Request):
        """confirm.click: [managed, current_run] -> [confirm_row, manage_text, managed, current_run]."""
        if not need_run(run_id, lang_of(request)):
            return gr.update(visible=False), gr.skip(), gr.skip(), gr.skip()
        try:
            services.delete_run(owner_of(request), run_id)
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return gr.update(visible=False), error_message(err, lang_of(request)), gr.skip(), gr.skip()
        gr.Info(t("manage.deleted_toast", lang_of(request), run_id=run_id))
        return (gr.update(visible=False), t("manage.deleted", lang_of(request), run_id=run_id), None,
                None if current == run_id else gr.skip())

    def on_stop(run_id, request: gr.Request):
        """stop.click: [managed] -> [manage_text]; then the table refreshes (its timer shows the end)."""
        if not need_run(run_id, lang_of(request)):
            return gr.skip()
        owner, lang = owner_of(request), lang_of(request)
        try:
            state = services.run_status(owner, run_id, since=10**9).get("state")
            if state not in render.ACTIVE_STATES:
                return t("manage.not_active", lang, run_id=run_id, state=render.state_name(state, lang) or "—")
            snap = services.stop_run(owner, run_id)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return error_message(err, lang)
        if snap.get("state") in render.ACTIVE_STATES:
            return t("live.stopping", lang, run_id=run_id)
        return t("manage.stopped_early", lang, run_id=run_id)

    def on_clone(run_id, request: gr.Request):
        """clone.click: [managed] -> [upload, validation_upload, val_fraction, tabs, manage_text]. The Data
        tab then re-inspects the run's upload and the Train tab takes its settings (chained events)."""
        skip = (gr.skip(),) * 5
        if not need_run(run_id, lang_of(request)):
            return skip
        owner, lang = owner_of(request), lang_of(request)
        try:
            config = services.run_config(owner, run_id)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return skip
        data_options = config.get("data") or {}
        upload_id = config.get("upload")
        try:
            name = services.store.upload_path(owner, upload_id).name
        except FtuiError:
            gr.Warning(t("manage.data_gone_toast", lang, run_id=run_id))
            return (gr.skip(), gr.skip(), gr.skip(), gr.Tabs(selected="train"),
                    t("manage.data_gone", lang, run_id=run_id))
        upload = {"upload_id": upload_id, "name": name, "task": config.get("task") or TaskName.TEXT, "ok": True,
                  "error": None, "text_column": data_options.get("text_column"),
                  "label_column": data_options.get("label_column")}
        return (upload, data_options.get("validation_upload"), data_options.get("val_fraction", gr.skip()),
                gr.Tabs(selected="train"), t("manage.cloned", lang, run_id=run_id))

    def on_resume(run_id, extra, request: gr.Request):
        """resume.click: [managed, more_epochs] -> [current_run, tabs, manage_text]; then the Train tab
        attaches to the run (its timer polls it) and shows its settings."""
        if not need_run(run_id, lang_of(request)):
            return gr.skip(), gr.skip(), gr.skip()
        try:
            services.resume_run(owner_of(request), run_id, extra_epochs=int(extra or 0))
        except (FtuiError, ValueError, TypeError) as err:
            lang = lang_of(request)
            message = error_message(err, lang) if isinstance(err, FtuiError) else t("manage.bad_epochs", lang, value=extra)
            gr.Warning(message)
            return gr.skip(), gr.skip(), message
        lang = lang_of(request)
        what = t("manage.more_epochs", lang, n=int(extra)) if extra else t("manage.left_off", lang)
        return run_id, gr.Tabs(selected="train"), t("manage.continues", lang, run_id=run_id, what=what)

    # -- wiring --------------------------------------------------------------------------
    private = {"api_visibility": "private"}
    cheap = {"concurrency_limit": None, "show_progress": "hidden", **private}
    tab.select(on_refresh, [compare, managed], refreshed, **private)
    refresh.click(on_refresh, [compare, managed], refreshed, **private)
    timer.tick(on_tick, [compare, managed], [table, timer], **cheap)
    # One comparison at a time, the newest selection last: two overlapping answers could land out of order.
    compare.change(on_compare, [compare], [loss_plot, acc_plot, steps_plot, config_table],
                   trigger_mode="always_last", **private)
    table.select(on_pick_row, [table], [managed], **private)
    managed.change(on_managed, [managed], [new_name, download, export_text, confirm_row, manage_text], **private)
    for event in (rename.click, new_name.submit):
        event(on_rename, [managed, new_name], [manage_text], **private).then(
            on_refresh, [compare, managed], refreshed, **private).then(
            on_compare, [compare], [loss_plot, acc_plot, steps_plot, config_table], **private)
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
    export_demo.click(exporter(services, "demo"), [managed], [download, export_text], **private)
    return RunsTab(tab=tab, refresh=on_refresh, refresh_outputs=refreshed)
