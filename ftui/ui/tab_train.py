"""Train tab: model, learning rate and epochs up front, the rest under "Advanced"; live charts.

Training runs in the JobManager's thread, never in a request: Train returns at once with a run id,
which goes into gr.BrowserState (so a reload re-attaches), and a gr.Timer polls run_status.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ftui.errors import FtuiError
from ftui.ui import render
from ftui.ui.api import error_message, owner_of
from ftui.ui.lang import L, lang_of, t
from ftui.ui.presets_panel import preset_picker
from ftui.ui.tab_data import DataTab, data_options
from ftui.ui.train_form import (AUTO_CHOICES, RECIPES, SMOOTHING_CHOICES, TRAIN_DEFAULTS, build_options, chosen_model,
                                data_sentence, model_choices, recommended, widget_values)
from ftui.ui.train_live import LiveView
from ftui.vocab import DEFAULT_CLIP_SECONDS, TASKS, TaskName

if TYPE_CHECKING:
    from ftui.services import Services

POLL_SECONDS = 1.0


@dataclass
class TrainTab:
    current_run: gr.BrowserState  # the run this browser follows (survives reloads)
    attach: object  # attach(run_id, request) -> outputs of `attach_outputs`
    attach_outputs: list
    restore: object  # restore(run_id, request) -> outputs of `restore_outputs` (the run's settings)
    restore_outputs: list
    advanced: gr.Accordion | None = None  # clone: opened first, so its widgets are mounted...
    restore_advanced: object = None  # ...then restore_advanced(run_id, request) -> advanced_outputs
    advanced_outputs: list | None = None
    preset: gr.Dropdown | None = None  # "Start from a preset" (ui/presets_panel.py wires it)
    settings_of: object = None  # settings_of(config or preset dict) -> outputs of `restore_outputs`
    form: dict | None = None  # option name -> the widget that sets it (advanced_outputs, in this order)


def build_train_tab(services: Services, data: DataTab, current_run: gr.BrowserState, timer: gr.Timer) -> TrainTab:
    """current_run and timer are made at page level by build_app: inside an unselected tab they would
    not be mounted, so a reload could neither read the stored run id nor poll."""
    catalog_problem, models_of = "", {}
    for task in TASKS:
        try:
            models_of[task] = services.list_models(task)
        except FtuiError as err:  # a broken catalog must not keep the app from starting: say it
            models_of[task], catalog_problem = [], error_message(err)
    choices_of = {task: model_choices(models_of[task]) for task in TASKS}
    choices, default_model = choices_of[TaskName.TEXT]
    models = models_of[TaskName.TEXT]
    start_lr, start_epochs = recommended(models, default_model)

    with gr.Tab(L("train.tab"), id="train", elem_id="tab-train"):
        preset = preset_picker()
        with gr.Row():
            model = gr.Dropdown(choices=choices, value=default_model, label=L("train.model"), scale=2, elem_id="model",
                                info=catalog_problem or L("train.model_info"))
            local = getattr(services, "allow_local_models", True)
            custom_model = gr.Textbox(label=L("train.custom_local" if local else "train.custom_hub"),
                                      scale=2, elem_id="custom-model",
                                      placeholder=L("train.custom_local_hint" if local else "train.custom_hub_hint"))
        with gr.Row(equal_height=True):
            learning_rate = gr.Number(start_lr, label=L("train.lr"), minimum=0, step=1e-5, scale=3,
                                      elem_id="learning-rate", info=L("train.lr_info"))
            suggest = gr.Button(L("train.suggest"), elem_id="suggest-lr", scale=0, min_width=120,
                                size="sm", variant="secondary")
            epochs = gr.Number(start_epochs, label=L("train.epochs"), precision=0, minimum=1, maximum=100, scale=3,
                               elem_id="epochs", info=L("train.epochs_info"))
        with gr.Group(visible=False, elem_id="lr-test") as lr_test:
            lr_plot = gr.LinePlot(render.lr_curve_frame([]), x="log10 learning rate", y="loss",
                                  label=L("train.lr_test"), elem_id="lr-plot",
                                  x_title=L("train.lr_x"), y_title=L("train.lr_y"))
            lr_text = gr.Markdown("", elem_id="lr-text")
        recipe = gr.Radio([(L(f"train.recipe_{value}"), value) for _, value in RECIPES], value="head_first",
                          label=L("train.recipe"), elem_id="recipe", info=L("train.recipe_info"))
        with gr.Accordion(L("train.advanced"), open=False, elem_id="advanced") as advanced:
            with gr.Row():
                batch_size = gr.Slider(0, 128, value=TRAIN_DEFAULTS.batch_size, step=1, label=L("train.batch_size"),
                                       elem_id="batch-size")
                max_length = gr.Slider(16, 512, value=TRAIN_DEFAULTS.max_length, step=8,
                                       label=L("train.max_length"), elem_id="max-length",
                                       info=L("train.max_length_info"))
                pooling = gr.Dropdown([(L("train.auto"), "auto"), (L("train.pool_mean"), "mean"),
                                       (L("train.pool_cls"), "cls")],
                                      value="auto", label=L("train.pooling"), elem_id="pooling")
            with gr.Row(visible=False) as image_row:
                image_size = gr.Slider(0, 512, value=0, step=32, label=L("train.image_size"),
                                       elem_id="image-size", info=L("train.image_size_info"))
                crop_scale = gr.Number(0, label=L("train.crop_scale"), minimum=0,
                                       maximum=1, step=0.05, elem_id="crop-scale")
                freeze_bn = gr.Dropdown([(L(f"train.{value}"), value) for _, value in AUTO_CHOICES], value="auto",
                                        label=L("train.freeze_bn"),
                                        elem_id="freeze-bn")
            with gr.Row(visible=False) as audio_row:
                clip_seconds = gr.Slider(0.5, 10, value=DEFAULT_CLIP_SECONDS, step=0.5, label=L("train.clip_seconds"),
                                         elem_id="clip-seconds", info=L("train.clip_seconds_info"))
            with gr.Row(visible=False) as augment_row:
                augment = gr.Checkbox(value=True, label=L("train.augment"),
                                      elem_id="augment")
            with gr.Row():
                weight_decay = gr.Number(TRAIN_DEFAULTS.weight_decay, label=L("train.weight_decay"), minimum=0, maximum=1,
                                         step=0.01, elem_id="weight-decay")
                warmup_ratio = gr.Slider(0, 0.5, value=TRAIN_DEFAULTS.warmup_ratio, step=0.01,
                                         label=L("train.warmup"), elem_id="warmup-ratio")
                label_smoothing = gr.Dropdown([(L("train.auto"), "auto"), (L("train.off"), "0"), *SMOOTHING_CHOICES[2:]],
                                              value="auto", label=L("train.smoothing"), allow_custom_value=True,
                                              elem_id="label-smoothing")
                head_multiplier = gr.Number(0, label=L("train.head_multiplier"), minimum=0, maximum=1000,
                                            elem_id="head-multiplier")
            with gr.Row():
                seed = gr.Number(TRAIN_DEFAULTS.seed, label=L("train.seed"), precision=0, minimum=0, elem_id="seed")
                patience = gr.Number(0, label=L("train.patience"), precision=0, minimum=0,
                                     elem_id="early-stopping", info=L("train.patience_info"))
                most_gpus = getattr(services, "max_gpus_per_run", 1)  # shown only where a run may take several
                gpus = gr.Slider(1, max(most_gpus, 2), value=1, step=1, label=L("train.gpus"), visible=most_gpus > 1,
                                 elem_id="gpus", info=L("train.gpus_info"))
        data_line = gr.Markdown(L("train.no_data"), elem_id="train-data")
        with gr.Row():
            train = gr.Button(L("train.train"), variant="primary", elem_id="train-btn", scale=3)
            stop = gr.Button(L("train.stop"), variant="stop", elem_id="stop-btn", scale=1, interactive=False)
        with gr.Row(visible=False, elem_id="another-run") as another_row:
            another_text = gr.Markdown("", elem_id="another-run-text")
            another = gr.Button(L("train.another"), variant="primary", elem_id="another-run-btn", scale=0,
                                min_width=180)
            keep = gr.Button(L("train.cancel"), elem_id="another-run-cancel", scale=0, min_width=100)
        view = LiveView(services, timer, stop)

    live = view.outputs

    # The Train form: each widget with the option name it sets (build_options reads them by name).
    form = {"recipe": recipe, "batch_size": batch_size, "max_length": max_length, "pooling": pooling,
            "image_size": image_size, "crop_scale": crop_scale, "freeze_batchnorm": freeze_bn,
            "clip_seconds": clip_seconds, "augment": augment, "weight_decay": weight_decay,
            "warmup_ratio": warmup_ratio, "label_smoothing": label_smoothing, "head_lr_multiplier": head_multiplier,
            "seed": seed, "early_stopping_patience": patience, "gpus": gpus}
    train_inputs = {data.upload, data.validation_upload, data.text_column, data.label_column, data.val_fraction,
                    model, custom_model, learning_rate, epochs, current_run, *form.values()}

    def run_request(values: dict, lang: str = "en") -> tuple[str, str, dict] | str:
        """(task, model, options) from the form's values, or a sentence saying what is missing."""
        upload = values[data.upload]
        if not upload:
            return t("train.choose_file", lang)
        if not upload.get("ok"):
            return upload.get("error") or t("train.fix_data", lang)
        task = upload.get("task") or TaskName.TEXT
        data_part = data_options(values[data.text_column], values[data.label_column], values[data.val_fraction],
                                 values[data.validation_upload])
        options = build_options(task, data_part, {name: values[widget] for name, widget in form.items()})
        return task, chosen_model(values[model], values[custom_model]), options

    def on_train(values: dict, request: gr.Request):
        """train.click: train_inputs -> [another_row, another_text, current_run, *live]. While this page's run is
        still queued or training, it asks first (a second click used to queue a twin quietly)."""
        followed = values[current_run]
        try:
            state = services.run_status(owner_of(request), followed, since=10**9)["state"] if followed else None
        except FtuiError:
            state = None
        if state in render.ACTIVE_STATES:
            asking = t("train.still_active", lang_of(request), run_id=followed, state=state)
            return (gr.Row(visible=True), asking, *(gr.skip(),) * (1 + len(live)))
        return (gr.Row(visible=False), "", *start(values, request))

    def start(values: dict, request: gr.Request) -> tuple:
        """another.click / on_train: train_inputs -> [current_run, *live]. Returns as soon as the run is
        queued; the timer takes it from there."""
        unchanged = (gr.skip(),) * (1 + len(live))
        lang = lang_of(request)
        asked = run_request(values, lang)
        if isinstance(asked, str):
            gr.Warning(asked)
            return unchanged
        task, model_id, options = asked
        owner = owner_of(request)
        try:
            run_id = services.start_run(owner, task, model_id, None, values[learning_rate], values[epochs], options,
                                        upload_id=values[data.upload]["upload_id"])
            snap = services.run_status(owner, run_id, since=0)
        except FtuiError as err:
            message = error_message(err, lang)
            gr.Warning(message)
            return (gr.skip(), *view.unchanged(state_text=message))
        return (run_id, *view.show(snap, {"run_id": run_id, "rows": list(snap.get("rows") or []),
                                          "settings": snap.get("settings")}, True, lang))

    def on_suggest(values: dict, request: gr.Request):
        """suggest.click: train_inputs -> [learning_rate, lr_test, lr_plot, lr_text]. A ~30 s range test."""
        asked = run_request(values, lang_of(request))
        if isinstance(asked, str):
            gr.Warning(asked)
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        task, model_id, options = asked
        try:
            result = services.suggest_learning_rate(owner_of(request), task, model_id, None, options,
                                                    upload_id=values[data.upload]["upload_id"])
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return gr.skip(), gr.skip(), gr.skip(), error_message(err, lang_of(request))
        curve = render.lr_curve_frame(result["curve"])
        return (result["learning_rate"], gr.Group(visible=True), gr.LinePlot(curve),
                render.lr_test_markdown(result, lang_of(request)))

    def on_model_pick(model_id):
        """model.change: [model] -> [learning_rate, epochs] from the catalog's recommendation, if any."""
        return recommended([m for task in TASKS for m in models_of[task]], model_id)

    per_task = [model, max_length, pooling, image_row, audio_row, augment_row]  # what changes with the task (task_view)
    settings = [model, custom_model, learning_rate, epochs, *per_task[1:]]

    def task_view(task: str, model_value=None) -> tuple:
        """Updates for `per_task`: the task's models (keeping a still valid choice), and the settings
        that apply to it (token length for texts; size, augmentation for images; clip length for audio;
        head-only for images and audio)."""
        task_choices, task_default = choices_of.get(task, choices_of[TaskName.TEXT])
        valid = any(value == model_value for _, value in task_choices)
        return (gr.update(choices=task_choices, value=model_value if valid else task_default),
                gr.update(visible=task == TaskName.TEXT), gr.update(visible=task == TaskName.TEXT), gr.update(visible=task == TaskName.IMAGE),
                gr.update(visible=task == TaskName.AUDIO), gr.update(visible=task != TaskName.TEXT))

    def restore(run_id, request: gr.Request):
        """demo.load: [current_run] -> settings. After a reload the model, learning rate and epochs show
        the run the page re-attached to, not the defaults. (Not the Advanced values: sliders inside a
        closed accordion are not mounted, and a value sent to them was sometimes shown as the slider's
        initial one in the browser tests; a wrong number is worse than the default.)"""
        try:
            config = services.run_config(owner_of(request), run_id) if run_id else None
        except FtuiError:
            config = None
        return settings_of(config)

    def settings_of(config: dict | None) -> tuple:
        """Updates of `settings` from a run's config.json or a preset (task, model, learning_rate, epochs)."""
        if not config:
            return tuple(gr.skip() for _ in settings)
        task = config.get("task", TaskName.TEXT)
        in_catalog = any(value == config.get("model") for _, value in choices_of.get(task, choices_of[TaskName.TEXT])[0])
        model_update, *rows = task_view(task, config.get("model"))
        return (model_update, "" if in_catalog else config.get("model", ""), config.get("learning_rate"),
                config.get("epochs"), *rows)

    def on_data(upload, validation_upload, request: gr.Request):
        """upload.change / validation_upload.change: [upload, validation_upload] -> [data_line]."""
        return data_sentence(upload, validation_upload, lang_of(request))

    def on_task(upload, model_value, lr, n_epochs):
        """upload.change: [upload, model, learning_rate, epochs] -> [*per_task, learning_rate, epochs].
        The models follow the data's task; the recommended lr/epochs come with a newly picked model."""
        task = (upload or {}).get("task") or TaskName.TEXT
        suggested = (upload or {}).get("suggested_model")  # e.g. the multilingual model for Chinese text
        picked = model_value
        if suggested and model_value in (None, choices_of.get(task, choices_of[TaskName.TEXT])[1]):
            picked = suggested  # only over the plain default: a model the user picked stays
        updates = task_view(task, picked)
        new_model = updates[0].get("value")
        if new_model == model_value:
            return (*updates, gr.skip(), gr.skip())
        return (*updates, *recommended(models_of.get(task, []), new_model))

    private = {"api_visibility": "private"}
    data.upload.change(on_data, [data.upload, data.validation_upload], [data_line], **private)
    data.upload.change(on_task, [data.upload, model, learning_rate, epochs], [*per_task, learning_rate, epochs],
                       **private)
    data.validation_upload.change(on_data, [data.upload, data.validation_upload], [data_line], **private)
    train.click(on_train, train_inputs, [another_row, another_text, current_run, *live], **private)
    another.click(lambda: gr.Row(visible=False), None, [another_row], **private).then(
        start, train_inputs, [current_run, *live], **private)
    keep.click(lambda: gr.Row(visible=False), None, [another_row], **private)
    suggest.click(on_suggest, train_inputs, [learning_rate, lr_test, lr_plot, lr_text], **private)
    # Ticks are cheap reads of a snapshot: never queue them behind other work, never flash a spinner.
    timer.tick(view.on_tick, [current_run, view.poll], live, concurrency_limit=None, show_progress="hidden", **private)
    stop.click(view.on_stop, [current_run], [view.state_text], concurrency_limit=None, **private)
    model.input(on_model_pick, [model], [learning_rate, epochs], **private)
    def restore_advanced(run_id, request: gr.Request):
        """Clone, after the Advanced accordion was opened: [run] -> [recipe, *advanced_widgets], the run's
        own values. (Sent to a closed accordion, the browser sometimes kept showing the initial values.)"""
        try:
            train_options = (services.run_config(owner_of(request), run_id) or {}).get("train") if run_id else None
        except FtuiError:
            train_options = None
        if not train_options:
            return tuple(gr.skip() for _ in range(len(form)))
        return widget_values({**dataclasses.asdict(TRAIN_DEFAULTS), **train_options}, list(form))

    return TrainTab(current_run=current_run, attach=view.attach, attach_outputs=live, restore=restore,
                    restore_outputs=settings, advanced=advanced, restore_advanced=restore_advanced,
                    advanced_outputs=list(form.values()), form=form, preset=preset, settings_of=settings_of)
