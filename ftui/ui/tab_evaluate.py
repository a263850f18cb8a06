"""Evaluate tab: score a finished run on its validation split or on a labelled file (accuracy, macro-F1,
per-class table, a clickable confusion matrix whose cells open their examples), and predict a whole
unlabelled file into a downloadable CSV.

Files from a run folder never go to the browser as paths: pictures are decoded here into small
thumbnails, sounds into (rate, samples), and downloads are handed over through `downloadable`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import pandas as pd

from ftui.errors import FtuiError
from ftui.ui import media, render_runs
from ftui.ui.api import error_message, owner_of, served_file
from ftui.ui.files import accept
from ftui.ui.lang import L, lang_of, t
from ftui.vocab import TaskName

if TYPE_CHECKING:
    from ftui.services import Services

EXAMPLES_SHOWN = 24
AUDIO_PLAYERS = 4
AUDIO_SECONDS = 10.0
PREVIEW_ROWS = 20
NO_CONFUSION = render_runs.confusion_frame(None, None)  # the tables' headers, before any evaluation
NO_PER_CLASS = render_runs.per_class_frame(None)


@dataclass
class EvaluateTab:
    tab: gr.Tab
    refresh: object  # refresh(run, current_run, request) -> refresh_outputs
    refresh_outputs: list


def downloadable(path: str | Path) -> Path:
    """A private copy of a run's file that Gradio may hand to the browser (ui/api.py served_file): the
    runs folder itself is never served, since it also holds other users' runs."""
    return Path(served_file(path)["path"])


def build_evaluate_tab(services: Services, current_run: gr.BrowserState) -> EvaluateTab:
    with gr.Tab(L("eval.tab"), id="evaluate", elem_id="tab-evaluate") as tab:
        with gr.Row():
            run = gr.Dropdown(label=L("predict.run"), choices=[], elem_id="eval-run", scale=4,
                              info=L("eval.run_info"))
            history = gr.Dropdown(label=L("eval.history"), choices=[], elem_id="eval-history",
                                  scale=3)
            with gr.Column(scale=0, min_width=140):
                refresh = gr.Button(L("predict.refresh"), elem_id="eval-refresh", size="sm")
        with gr.Row(equal_height=True):
            on_validation = gr.Button(L("eval.on_validation"), variant="primary",
                                      elem_id="eval-validation-btn", scale=1)
            eval_file = gr.File(label=L("eval.file"),
                                elem_id="eval-file", height=110, scale=2)
        summary = gr.Markdown(L("eval.none"), elem_id="eval-summary")
        with gr.Row():
            with gr.Column(scale=3):
                # Empty frames with the real headers: a Dataframe without a value shows the columns "1 2 3".
                confusion = gr.Dataframe(NO_CONFUSION, interactive=False, elem_id="eval-confusion", wrap=True,
                                         max_height=420,
                                         label=L("eval.confusion"))
                per_class = gr.Dataframe(NO_PER_CLASS, interactive=False, elem_id="eval-per-class", max_height=320,
                                         label=L("eval.per_class"))
            # no label box: it covered the start of the picture's title
            confusion_png = gr.Image(label=L("eval.confusion_png"), show_label=False, type="pil",
                                     elem_id="eval-confusion-png", scale=2, height=380, interactive=False,
                                     buttons=["download"])
        cell_text = gr.Markdown("", elem_id="eval-cell")
        examples = gr.Dataframe(interactive=False, elem_id="eval-examples", wrap=True, max_height=420,
                                label=L("eval.examples_label"), visible=False)
        gallery = gr.Gallery(label=L("eval.pictures"), columns=8, height=260, visible=False,
                             elem_id="eval-gallery", object_fit="cover")
        with gr.Row(visible=False) as audio_row:
            players = [gr.Audio(label=f"{L('data.player')} {i + 1}", interactive=False, elem_id=f"eval-audio-{i}",
                                visible=False) for i in range(AUDIO_PLAYERS)]
        shown = gr.State(None)  # the evaluation on screen: {"run_id", "name", "labels", "confusion", "task"}

        gr.Markdown(L("eval.batch_title"))
        with gr.Row(equal_height=True):
            batch_file = gr.File(label=L("eval.batch_file"), elem_id="batch-file", height=110,
                                 scale=3)
            with gr.Column(scale=1, min_width=200):
                batch = gr.Button(L("eval.batch_btn"), variant="primary", elem_id="batch-btn")
                batch_download = gr.DownloadButton(L("eval.download"), visible=False, elem_id="batch-download")
        batch_text = gr.Markdown("", elem_id="batch-status")
        batch_preview = gr.Dataframe(interactive=False, elem_id="batch-preview", wrap=True, max_height=360,
                                     label=L("data.first_rows"), visible=False)

    result_outputs = [shown, summary, confusion, per_class, confusion_png, cell_text, examples, gallery, audio_row,
                      *players]

    def cleared_cell() -> tuple:
        return ("", gr.update(visible=False, value=None), gr.update(visible=False, value=None),
                gr.update(visible=False), *[gr.update(visible=False, value=None) for _ in players])

    def show_result(result: dict | None, lang: str = "en") -> tuple:
        """result_outputs for one evaluation dict (or none)."""
        if not result:
            return (None, render_runs.evaluation_markdown(None, lang), render_runs.confusion_frame(None, None, lang),
                    render_runs.per_class_frame(None, lang), None, *cleared_cell())
        frame = render_runs.confusion_frame(result.get("confusion"), result.get("labels"), lang)
        state = {"run_id": result.get("run_id"), "name": result.get("name"), "labels": result.get("labels"),
                 "confusion": result.get("confusion"), "task": result.get("task") or TaskName.TEXT}
        return (state, render_runs.evaluation_markdown(result, lang), render_runs.style_confusion(frame),
                render_runs.per_class_frame(result.get("per_class"), lang), picture(result.get("confusion_png")),
                *cleared_cell())

    def on_refresh(chosen, current, request: gr.Request):
        """tab.select / refresh.click: [run, current_run] -> [run]. Keeps the chosen run, else the one
        this browser follows, else the newest."""
        try:
            runs = services.list_runs(owner_of(request))
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return gr.skip()
        choices = render_runs.run_choices(runs, done_only=True, lang=lang_of(request))
        ids = [run_id for _, run_id in choices]
        value = chosen if chosen in ids else current if current in ids else (ids[0] if ids else None)
        return gr.update(choices=choices, value=value)

    def on_run(run_id, request: gr.Request):
        """run.change: [run] -> [history, *result_outputs]: the run's newest evaluation, if any."""
        lang = lang_of(request)
        if not run_id:
            return (gr.update(choices=[], value=None), *show_result(None, lang))
        try:
            evaluations = services.list_evaluations(owner_of(request), run_id)
        except FtuiError as err:
            return (gr.update(choices=[], value=None), *show_result(None, lang)[:1], error_message(err, lang),
                    *show_result(None, lang)[2:])
        choices = render_runs.evaluation_choices(evaluations, lang)
        newest = evaluations[0] if evaluations else None
        return (gr.update(choices=choices, value=newest["name"] if newest else None), *show_result(newest, lang))

    def on_history(run_id, name, state, request: gr.Request):
        """history.input: [run, history, shown] -> result_outputs: an earlier evaluation again."""
        if not run_id or not name or (state and state.get("name") == name and state.get("run_id") == run_id):
            return tuple(gr.skip() for _ in result_outputs)
        try:
            evaluations = services.list_evaluations(owner_of(request), run_id)
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return tuple(gr.skip() for _ in result_outputs)
        return show_result(next((e for e in evaluations if e.get("name") == name), None), lang_of(request))

    def evaluate(run_id, path, request: gr.Request, progress) -> tuple:
        lang = lang_of(request)
        if not run_id:
            gr.Warning(t("predict.choose_run", lang))
            return (gr.skip(), *[gr.skip() for _ in result_outputs])
        owner = owner_of(request)

        def report(done, total):
            progress((done, total), desc=t("eval.evaluating", lang), unit=t("eval.unit_examples", lang))

        try:
            upload_id = accept(services, owner, path, Path(path).name) if path else None
            result = services.evaluate(owner, run_id, upload_id=upload_id, progress=report, lang=lang)
            evaluations = services.list_evaluations(owner, run_id)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return (gr.skip(), gr.skip(), error_message(err, lang), *[gr.skip() for _ in result_outputs[2:]])
        history_update = gr.update(choices=render_runs.evaluation_choices(evaluations, lang), value=result["name"])
        return (history_update, *show_result(result, lang))

    def on_validation_click(run_id, request: gr.Request, progress=gr.Progress()):
        """on_validation.click: [run] -> [history, *result_outputs]."""
        return evaluate(run_id, None, request, progress)

    def on_eval_file(run_id, path, request: gr.Request, progress=gr.Progress()):
        """eval_file.upload: [run, eval_file] -> [history, *result_outputs]."""
        if not path:
            return (gr.skip(), *[gr.skip() for _ in result_outputs])
        return evaluate(run_id, path, request, progress)

    def on_cell(state, event: gr.SelectData, request: gr.Request):
        """confusion.select: [shown] -> [cell_text, examples, gallery, audio_row, *players]."""
        cell = render_runs.cell_of(event.index, (state or {}).get("labels"))
        if not state or cell is None:
            return tuple(gr.skip() for _ in range(4 + len(players)))
        true, pred = cell
        owner, lang = owner_of(request), lang_of(request)
        try:
            rows = services.evaluation_examples(owner, state["run_id"], state["name"], true, pred,
                                                limit=EXAMPLES_SHOWN)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return (error_message(err, lang), *[gr.skip() for _ in range(3 + len(players))])
        labels = state["labels"]
        count = state["confusion"][labels.index(true)][labels.index(pred)]
        text = render_runs.cell_markdown(true, pred, count, len(rows), lang)
        table = gr.update(value=render_runs.examples_frame(rows, lang), visible=True)
        task = state.get("task")
        pictures = pictures_of(owner, rows) if task == TaskName.IMAGE else None
        sounds = sounds_of(owner, rows) if task == TaskName.AUDIO else []
        players_updates = [gr.update(visible=i < len(sounds), value=sounds[i][0] if i < len(sounds) else None,
                                     label=sounds[i][1] if i < len(sounds) else None) for i in range(len(players))]
        return (text, table, gr.update(visible=task == TaskName.IMAGE, value=pictures), gr.update(visible=bool(sounds)),
                *players_updates)

    def inside_owner(owner: str, path) -> Path | None:
        """The example's file, only if it lies inside this owner's folder (uploads are there)."""
        if not path:
            return None
        file = Path(path).resolve()
        return file if file.is_relative_to(services.store.owner_dir(owner).resolve()) and file.is_file() else None

    def pictures_of(owner: str, rows: list[dict]) -> list[tuple]:
        files = [(inside_owner(owner, row.get("path")), row) for row in rows]
        pictures = [(media.thumbnail(file), row) for file, row in files if file is not None]
        return [(image, caption(row)) for image, row in pictures if image is not None]

    def sounds_of(owner: str, rows: list[dict]) -> list[tuple]:
        out = []
        for row in rows:
            file = inside_owner(owner, row.get("path"))
            sound = media.playable(file, AUDIO_SECONDS) if file is not None else None
            if sound is not None:
                out.append((sound, caption(row)))
            if len(out) == AUDIO_PLAYERS:
                break
        return out

    def caption(row: dict) -> str:
        return f"{row.get('input')} · {render_runs.percent(row.get('confidence'))}"

    def on_batch(run_id, path, request: gr.Request, progress=gr.Progress()):
        """batch.click / batch_file.upload: [run, batch_file] -> [batch_text, batch_download, batch_preview]."""
        skip, lang = (gr.skip(), gr.skip(), gr.skip()), lang_of(request)
        if not run_id:
            gr.Warning(t("predict.choose_run", lang))
            return skip
        if not path:
            return t("eval.choose_file", lang), gr.skip(), gr.skip()
        owner = owner_of(request)

        def report(done, total):
            progress((done, total), desc=t("eval.predicting", lang), unit=t("eval.unit_inputs", lang))

        try:
            upload_id = accept(services, owner, path, Path(path).name)
            result = services.predict_batch(owner, run_id, upload_id=upload_id, progress=report)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return error_message(err, lang), gr.update(visible=False), gr.update(visible=False)
        preview = render_runs.batch_preview(pd.read_csv(result["csv"], nrows=PREVIEW_ROWS), lang)
        return (render_runs.batch_markdown(result, lang),
                gr.update(value=str(downloadable(result["csv"])), visible=True,
                          label=t("eval.download_file", lang, name=Path(result['csv']).name)),
                gr.update(value=preview, visible=True))

    private = {"api_visibility": "private"}
    tab.select(on_refresh, [run, current_run], [run], **private)
    refresh.click(on_refresh, [run, current_run], [run], **private)
    run.change(on_run, [run], [history, *result_outputs], **private)
    history.input(on_history, [run, history, shown], result_outputs, **private)
    on_validation.click(on_validation_click, [run], [history, *result_outputs], **private)
    eval_file.upload(on_eval_file, [run, eval_file], [history, *result_outputs], **private)
    confusion.select(on_cell, [shown], [cell_text, examples, gallery, audio_row, *players], **private)
    batch.click(on_batch, [run, batch_file], [batch_text, batch_download, batch_preview], **private)
    return EvaluateTab(tab=tab, refresh=on_refresh, refresh_outputs=[run])


def picture(path) -> object:
    """The confusion PNG as an image object (Gradio re-encodes it into its cache: no run path is served)."""
    if not path or not Path(path).is_file():
        return None
    from PIL import Image

    with Image.open(path) as image:
        return image.copy()
