"""Predict tab: pick a finished (or stopped) run, type a text, give a picture (file or webcam) or a
sound (file or microphone), see the top labels; plus all runs. The input shown follows the run's task."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ftui.errors import FtuiError
from ftui.ui import render, render_runs
from ftui.ui.api import error_message, owner_of
from ftui.ui.lang import L, lang_of, t
from ftui.ui.tab_train import TrainTab
from ftui.vocab import TaskName

if TYPE_CHECKING:
    from ftui.services import Services

TOP_K = 5


@dataclass
class PredictTab:
    tab: gr.Tab
    refresh: object  # refresh(current_run, request) -> outputs of `refresh_outputs`
    refresh_outputs: list


def build_predict_tab(services: Services, train: TrainTab, tabs: gr.Tabs) -> PredictTab:
    with gr.Tab(L("predict.tab"), id="predict", elem_id="tab-predict") as tab:
        with gr.Row():
            run = gr.Dropdown(label=L("predict.run"), choices=[], elem_id="predict-run", scale=5,
                              info=L("predict.run_info"))
            with gr.Column(scale=0, min_width=140):
                refresh = gr.Button(L("predict.refresh"), elem_id="refresh-runs", size="sm")
        with gr.Row():
            with gr.Column(scale=3):
                # lines=1 (growing to max_lines): Enter predicts, Shift+Enter starts a new line
                text = gr.Textbox(label=L("predict.text"), lines=1, max_lines=8, elem_id="predict-text",
                                  placeholder=L("predict.text_hint"))
                image = gr.Image(label=L("predict.image"), type="filepath", sources=["upload", "webcam"],
                                 visible=False, elem_id="predict-image", height=300)
                sound = gr.Audio(label=L("predict.sound"), type="filepath",
                                 sources=["upload", "microphone"], visible=False, elem_id="predict-audio")
                predict = gr.Button(L("predict.predict"), variant="primary", elem_id="predict-btn")
                status = gr.Markdown("", elem_id="predict-status")
            label = gr.Label(label=L("predict.top"), num_top_classes=TOP_K, elem_id="predict-label", scale=2)
        with gr.Accordion(L("predict.all_runs"), open=False, elem_id="runs-accordion"):
            gr.Markdown(L("predict.click_run"))
            runs_table = gr.Dataframe(render_runs.runs_table([]), interactive=False, elem_id="runs-table", max_height=360,
                                      wrap=True)  # as on the Runs tab: every column in view, headers wrap

    def on_refresh(current_run, request: gr.Request):
        """tab.select / refresh.click / demo.load: [current_run] -> [run, runs_table, status]. Keeps the
        chosen run if it is still there, else the current one, else the newest."""
        try:
            runs = services.list_runs(owner_of(request))
        except FtuiError as err:
            return gr.skip(), gr.skip(), error_message(err, lang_of(request))
        lang = lang_of(request)
        choices = render.predict_choices(runs, lang)
        ids = [run_id for _, run_id in choices]
        value = current_run if current_run in ids else (ids[0] if ids else None)
        hint = "" if ids else t("predict.no_runs", lang)
        return gr.update(choices=choices, value=value), render_runs.runs_table(runs, lang=lang), hint

    def task_of_run(owner: str, run_id) -> str:
        try:
            return services.run_config(owner, run_id).get("task", TaskName.TEXT) if run_id else TaskName.TEXT
        except FtuiError:
            return TaskName.TEXT

    def on_run(run_id, request: gr.Request):
        """run.change: [run] -> [text, image, sound]: the input that fits the run's task."""
        task = task_of_run(owner_of(request), run_id)
        return gr.update(visible=task == TaskName.TEXT), gr.update(visible=task == TaskName.IMAGE), gr.update(visible=task == TaskName.AUDIO)

    def on_predict(run_id, text_value, image_path, sound_path, request: gr.Request):
        """predict.click / text.submit / image.change / sound.change: [run, text, image, sound] -> [label, status]."""
        lang = lang_of(request)
        if not run_id:
            gr.Warning(t("predict.choose_run", lang))
            return gr.skip(), t("predict.choose_run", lang)
        owner = owner_of(request)
        task = task_of_run(owner, run_id)
        value = {TaskName.IMAGE: image_path, TaskName.AUDIO: sound_path}.get(task, text_value)
        if not value:
            return None, t({TaskName.IMAGE: "predict.give_picture", TaskName.AUDIO: "predict.give_sound"}.get(
                task, "predict.type_text"), lang)
        try:
            probabilities = services.predict(owner, run_id, value, top_k=TOP_K)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return None, error_message(err, lang)
        return probabilities, ""

    def on_pick_run(runs, event: gr.SelectData):
        """runs_table.select: [runs_table] -> [current_run]: the clicked row's run becomes the one
        this browser follows (the Train tab then shows its charts)."""
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        try:
            return str(runs.iloc[row]["run"])
        except (IndexError, KeyError, AttributeError):
            return gr.skip()

    def to_train_tab():
        """After picking a run: [] -> [tabs], showing the Train tab with its charts."""
        return gr.Tabs(selected="train")

    private = {"api_visibility": "private"}
    refreshed = [run, runs_table, status]
    tab.select(on_refresh, [train.current_run], refreshed, **private)
    refresh.click(on_refresh, [train.current_run], refreshed, **private)
    inputs = [run, text, image, sound]
    predict.click(on_predict, inputs, [label, status], **private)
    text.submit(on_predict, inputs, [label, status], **private)
    image.change(on_predict, inputs, [label, status], **private)  # a new picture predicts at once
    sound.change(on_predict, inputs, [label, status], **private)  # so does a new sound or recording
    run.change(on_run, [run], [text, image, sound], **private)
    runs_table.select(on_pick_run, [runs_table], [train.current_run], **private).then(
        train.attach, [train.current_run], train.attach_outputs, **private).then(
        to_train_tab, None, [tabs], **private)
    return PredictTab(tab=tab, refresh=on_refresh, refresh_outputs=refreshed)
