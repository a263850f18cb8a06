"""Data tab: upload (or an example), see what was understood, fix columns, choose the validation data.

The task follows the file: a ZIP of pictures is an image dataset, a ZIP of sounds an audio dataset,
a table a text dataset, so there is no task switch to get wrong. Every upload becomes a private copy (an upload id) at once; later
changes (columns, validation file, fraction) re-inspect that copy by id.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from ftui.errors import FtuiError
from ftui.ui import media, render_data
from ftui.ui.api import error_message, owner_of
from ftui.ui.files import accept
from ftui.ui.lang import L, lang_of, t
from ftui.vocab import TaskName

if TYPE_CHECKING:
    from ftui.services import Services

# No file_types filter on the upload widgets: the browser would refuse TREC's own train_5500.label or a lone
# .m4a with a toast that vanishes; the server reads what it can and says in the summary what it cannot.
EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
EXAMPLE_FILES = {TaskName.TEXT: EXAMPLES / "sms_spam_sample.csv", TaskName.IMAGE: EXAMPLES / "ants_bees_sample.zip",
                 TaskName.AUDIO: EXAMPLES / "spoken_digits_sample.zip"}
DEFAULT_VAL_FRACTION = 0.2
THUMBNAILS_PER_CLASS = 6
PLAYERS = 3  # sample clips playable at once (of the class picked)


@dataclass
class DataTab:
    """What other tabs read: the upload state and the widgets that shape the data options."""

    upload: gr.BrowserState  # {"upload_id", "name", "task", "ok", "error", columns} or None; survives reloads
    validation_upload: gr.State  # upload id of a separate validation file, or None
    text_column: gr.Dropdown
    label_column: gr.Dropdown
    val_fraction: gr.Slider
    restore: object = None  # demo.load handler: [upload] -> restore_outputs
    restore_outputs: list | None = None


def data_options(text_column, label_column, val_fraction, validation_upload) -> dict:
    """The data part of a run's options, from the Data tab's widgets (None = let the reader detect)."""
    options = {"text_column": text_column or None, "label_column": label_column or None,
               "val_fraction": DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction}
    if validation_upload:
        options["validation_upload"] = validation_upload
    return options


def build_data_tab(services: Services, upload: gr.BrowserState) -> DataTab:
    """`upload` is created at page level (see ui/page.py) so a reload finds the dataset again."""
    with gr.Tab(L("data.tab"), id="data", elem_id="tab-data"):
        gr.Markdown(L("data.intro"))
        with gr.Row():
            file = gr.File(label=L("data.file"), elem_id="data-file", scale=3, height=140)
            with gr.Column(scale=1, min_width=220):
                gr.Markdown(L("data.no_data"))
                example = gr.Button(L("data.example_text"), elem_id="use-example", size="md")
                example_images = gr.Button(L("data.example_images"), elem_id="use-example-images", size="md")
                example_audio = gr.Button(L("data.example_audio"), elem_id="use-example-audio", size="md")
        summary = gr.Markdown(L("data.summary_empty"), elem_id="data-summary")
        issues = gr.Markdown("", elem_id="data-issues")
        with gr.Row() as columns_row:
            text_column = gr.Dropdown(label=L("data.text_column"), choices=[], interactive=True, elem_id="text-column")
            label_column = gr.Dropdown(label=L("data.label_column"), choices=[], interactive=True, elem_id="label-column")
        gallery = gr.Gallery(label=L("data.gallery"), columns=8, height=280, visible=False, elem_id="data-gallery",
                             object_fit="cover")
        with gr.Group(visible=False) as listen_group:
            listen_class = gr.Dropdown(label=L("data.listen"), choices=[], interactive=True,
                                       elem_id="listen-class")
            with gr.Row():
                players = [gr.Audio(label=f"{L('data.player')} {i + 1}", interactive=False, elem_id=f"listen-{i + 1}")
                           for i in range(PLAYERS)]
        samples = gr.State({})  # label -> sample clip paths (server side; never sent to the browser)
        with gr.Row():
            preview = gr.Dataframe(label=L("data.first_rows"), interactive=False, max_height=320, wrap=True, scale=3,
                                   elem_id="data-preview", visible=False)  # no "1 2 3" headers before any data
            histogram = gr.BarPlot(x="label", y="examples", label=L("data.histogram"), scale=2, y_lim=[0, None],
                                   y_title=L("data.examples_axis"), x_title=L("data.class_axis"),
                                   elem_id="class-histogram", height=300)
        with gr.Accordion(L("data.validation"), open=False):
            val_fraction = gr.Slider(0.05, 0.5, value=DEFAULT_VAL_FRACTION, step=0.05,
                                     label=L("data.val_fraction"), elem_id="val-fraction",
                                     info=L("data.val_fraction_info"))
            val_file = gr.File(label=L("data.val_file"),
                               elem_id="validation-file", height=100)
        validation_upload = gr.State(None)

    shown = [upload, summary, issues, preview, histogram, text_column, label_column, columns_row, gallery,
             listen_group, listen_class, samples, *players]
    quiet = (gr.update(visible=False), gr.update(choices=[], value=None), {}, *[None] * PLAYERS)  # no audio

    def inspect(owner: str, upload_id: str, name: str, options: dict, toast: bool = True, lang: str = "en") -> tuple:
        """Inspect an accepted upload and fill every widget in `shown`; a whole-file problem keeps
        the upload (so the user can pick columns) and says what is wrong."""
        try:
            task = services.upload_task(owner, upload_id)
        except FtuiError:
            task = TaskName.TEXT
        is_text = task == TaskName.TEXT
        layout = (gr.update(visible=is_text), gr.update(visible=not is_text))
        try:
            result = services.inspect_dataset(owner, task, None, options, upload_id=upload_id)
        except FtuiError as err:
            message = error_message(err, lang)
            if toast:  # not on a reload: the summary line says it, the toast came with the upload
                gr.Warning(message)
            columns = _columns_from(err)
            state = {"upload_id": upload_id, "name": name, "task": task, "ok": False, "error": message}
            return (state, f"**{name}**: {message}", "", None, None,
                    gr.update(choices=columns, value=options.get("text_column")) if columns else gr.skip(),
                    gr.update(choices=columns, value=options.get("label_column")) if columns else gr.skip(),
                    *layout[:1], gr.update(visible=False, value=None), *quiet)
        first_error = next((render_data.issue_message(i, lang) for i in result.get("issues", [])
                            if i.get("severity") == "error"), None)
        state = {"upload_id": upload_id, "name": name, "task": task, "ok": bool(result.get("ok", True)),
                 "error": first_error, "text_column": result.get("text_column"),
                 "label_column": result.get("label_column"), "suggested_model": result.get("suggested_model")}
        columns = [str(c) for c in result.get("columns", [])]
        if is_text:
            table = gr.update(value=render_data.preview_frame(result.get("preview")), label=L("data.first_rows"), visible=True)
        else:  # pictures (gallery) and sounds (players) show below; the table lists what was left out
            table = gr.update(value=render_data.skipped_frame(result.get("skipped"), lang), label=L("data.skipped_files"),
                              visible=bool(result.get("skipped")))
        return (state, render_data.summary_markdown({**result, "file": name}, lang),
                render_data.issues_markdown(result.get("issues"), lang),
                table, render_data.class_histogram(result.get("class_counts")),
                gr.update(choices=columns, value=result.get("text_column")) if is_text else gr.skip(),
                gr.update(choices=columns, value=result.get("label_column")) if is_text else gr.skip(),
                layout[0], gr.update(visible=task == TaskName.IMAGE,
                                     value=thumbnails(result.get("samples")) if task == TaskName.IMAGE else None),
                *(listening(result.get("samples")) if task == TaskName.AUDIO else quiet))

    def accept_and_inspect(path, name, val_fraction, validation_upload, request: gr.Request) -> tuple:
        owner, lang = owner_of(request), lang_of(request)
        try:
            upload_id = accept(services, owner, path, name)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return (None, f"**{name}**: {error_message(err, lang)}", "", None, None,
                    gr.update(choices=[], value=None), gr.update(choices=[], value=None), gr.skip(), gr.skip(),
                    *quiet)
        return inspect(owner, upload_id, name, data_options(None, None, val_fraction, validation_upload), lang=lang)

    def on_upload(path, val_fraction, validation_upload, request: gr.Request):
        """file.upload: [file, val_fraction, validation_upload] -> shown (state, summary, issues,
        preview, histogram, column dropdowns)."""
        if not path:
            return on_clear(request)
        return accept_and_inspect(path, Path(path).name, val_fraction, validation_upload, request)

    def example_handler(task: str):
        example_file = EXAMPLE_FILES[task]

        def on_example(val_fraction, validation_upload, request: gr.Request):
            """example(_images).click: [val_fraction, validation_upload] -> shown + file (cleared)."""
            if not example_file.is_file():
                gr.Warning(t("data.example_missing", lang_of(request), name=example_file.name))
                return (*[gr.skip()] * len(shown), gr.skip())
            return (*accept_and_inspect(str(example_file), example_file.name, val_fraction, validation_upload,
                                        request), None)

        return on_example

    def on_options(state, text_col, label_col, val_fraction, validation_upload, request: gr.Request):
        """Column dropdowns (input), validation file: [upload, text_column, label_column, val_fraction,
        validation_upload] -> shown. Re-inspects the same upload by id (a kept reading, once per columns)."""
        if not state:
            return tuple(gr.skip() for _ in shown)
        options = data_options(text_col, label_col, val_fraction, validation_upload)
        return inspect(owner_of(request), state["upload_id"], state["name"], options, lang=lang_of(request))

    def on_validation_file(path, request: gr.Request):
        """val_file.upload/clear: [val_file] -> [validation_upload, val_fraction (disabled while a
        file is used)]."""
        if not path:
            return None, gr.update(interactive=True, info=L("data.val_fraction_info"))
        try:
            upload_id = accept(services, owner_of(request), path, Path(path).name)
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return None, gr.skip()
        return upload_id, gr.update(interactive=False, info=L("data.val_fraction_unused"))

    def on_load(state, request: gr.Request):
        """demo.load: [upload] -> shown. After a reload, show the dataset this browser had chosen again
        (an upload of another sign-in, or one since removed, is quietly forgotten)."""
        if not state or not state.get("upload_id"):
            return tuple(gr.skip() for _ in shown)
        owner = owner_of(request)
        try:
            services.store.upload_path(owner, state["upload_id"])
        except FtuiError:
            return on_clear(request)
        options = data_options(state.get("text_column"), state.get("label_column"), None, None)
        return inspect(owner, state["upload_id"], state.get("name") or "data", options, toast=False,
                       lang=lang_of(request))

    def on_clear(request: gr.Request = None):
        """file.clear: [] -> shown, all emptied (the accepted copy stays on disk for runs that use it)."""
        return (None, render_data.summary_markdown(None, lang_of(request)), "",
                gr.update(value=None, visible=False, label=L("data.first_rows")), None,
                gr.update(choices=[], value=None), gr.update(choices=[], value=None), gr.update(visible=True),
                gr.update(visible=False, value=None), *quiet)

    private = {"api_visibility": "private"}
    file.upload(on_upload, [file, val_fraction, validation_upload], shown, **private)
    file.clear(on_clear, None, shown, **private)
    example.click(example_handler(TaskName.TEXT), [val_fraction, validation_upload], [*shown, file], **private)
    example_images.click(example_handler(TaskName.IMAGE), [val_fraction, validation_upload], [*shown, file], **private)
    example_audio.click(example_handler(TaskName.AUDIO), [val_fraction, validation_upload], [*shown, file], **private)
    listen_class.input(lambda label, found: clips(found.get(label)), [listen_class, samples], players, **private)
    reinspect = [upload, text_column, label_column, val_fraction, validation_upload]
    text_column.input(on_options, reinspect, shown, **private)
    label_column.input(on_options, reinspect, shown, **private)
    # (The validation share is read when Train is pressed; no reader uses it, so moving it reads nothing.)
    for event in (val_file.upload, val_file.clear):
        event(on_validation_file, [val_file], [validation_upload, val_fraction], **private).then(
            on_options, reinspect, shown, **private)
    return DataTab(upload=upload, validation_upload=validation_upload, text_column=text_column,
                   label_column=label_column, val_fraction=val_fraction, restore=on_load, restore_outputs=shown)


def _columns_from(err: FtuiError) -> list[str]:
    """Column names from a missing/no-column error, so the user can still choose them by hand."""
    return [str(c) for c in err.detail.get("column_list", [])]


def thumbnails(samples: dict | None) -> list[tuple]:
    """A few small pictures per class for the gallery, captioned with their class (ui/media.py)."""
    out = []
    for label, paths in (samples or {}).items():
        for path in list(paths)[:THUMBNAILS_PER_CLASS]:
            image = media.thumbnail(path)
            if image is not None:  # readable at inspection; a file gone since is simply not shown
                out.append((image, str(label)))
    return out


def listening(samples: dict | None) -> tuple:
    """[listen_group, listen_class, samples, *players] for an audio dataset: the first class's clips."""
    samples = {str(k): list(v) for k, v in (samples or {}).items()}
    first = next(iter(samples), None)
    return (gr.update(visible=bool(samples)), gr.update(choices=list(samples), value=first), samples,
            *clips(samples.get(first)))


def clips(paths: list | None) -> list:
    """Up to PLAYERS clips of a class (ui/media.py: decoded here, never served from the runs folder)."""
    out = [media.playable(path) for path in list(paths or [])[:PLAYERS]]
    return out + [None] * (PLAYERS - len(out))
