"""Settings you can keep: "Save settings as a preset" and "Show as command" beside the managed run (Runs
tab), and "Start from a preset" at the top of the Train tab, which fills the form as a clone does.

services/presets.py keeps the presets; cli/command_line.py writes the commands (plain text, no gradio).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ftui.cli.command_line import as_commands
from ftui.errors import FtuiError
from ftui.runs.store import DEFAULT_OWNER
from ftui.ui.api import base_url, error_message, owner_of
from ftui.ui.lang import L, lang_of, t
from ftui.ui.train_form import preset_values

if TYPE_CHECKING:
    from ftui.services import Services

PRIVATE = {"api_visibility": "private"}


def preset_picker() -> gr.Dropdown:
    """The Train tab's "Start from a preset" (its choices come at page load and after each save)."""
    return gr.Dropdown(choices=[], value=None, label=L("presets.start_from"), info=L("presets.start_from_info"),
                       elem_id="preset-picker")


def preset_choices(services: Services, request: gr.Request | None) -> list[str]:
    try:
        return [p["name"] for p in services.list_presets(owner_of(request))]
    except FtuiError:
        return []


def wire_preset_picker(services: Services, demo: gr.Blocks, data, train) -> None:
    """Picking a preset fills Train: the model, learning rate and epochs (as a reload shows a run's), then,
    with Advanced opened first so its widgets are mounted, the recipe and the Advanced values (as clone)."""
    widgets, form_names = list(train.form.values()), list(train.form)

    def chosen(name, request: gr.Request) -> dict | None:
        if not name:
            return None
        try:
            return services.preset(owner_of(request), name)
        except FtuiError as err:
            gr.Warning(error_message(err, lang_of(request)))
            return None

    def on_pick(name, upload, request: gr.Request):
        """preset.select (once per pick; .input fired twice): [preset, upload] -> [*settings, val_fraction]."""
        skip = tuple(gr.skip() for _ in range(len(train.restore_outputs) + 1))
        lang, preset = lang_of(request), chosen(name, request)
        if preset is None:
            return skip
        data_task = (upload or {}).get("task")
        if data_task and data_task != preset.get("task"):
            gr.Warning(t("presets.other_task", lang, name=name, task=t(f"task.{preset.get('task')}", lang),
                         data_task=t(f"task.{data_task}", lang)))
            return skip
        gr.Info(t("presets.applied", lang, name=name))
        fraction = (preset.get("options") or {}).get("val_fraction")
        return (*train.settings_of(preset), gr.skip() if fraction is None else fraction)

    def on_pick_advanced(name, upload, request: gr.Request):
        """then: [preset, upload] -> advanced widgets (skipped where on_pick refused)."""
        preset = chosen(name, request)
        data_task = (upload or {}).get("task")
        if preset is None or (data_task and data_task != preset.get("task")):
            return tuple(gr.skip() for _ in widgets)
        return preset_values(preset, form_names)

    train.preset.select(on_pick, [train.preset, data.upload], [*train.restore_outputs, data.val_fraction],
                       **PRIVATE).then(lambda: gr.Accordion(open=True), None, [train.advanced], **PRIVATE).then(
        on_pick_advanced, [train.preset, data.upload], widgets, **PRIVATE)
    def on_load(request: gr.Request):
        """demo.load: [] -> [preset]: this user's presets."""
        return gr.update(choices=preset_choices(services, request), value=None)

    demo.load(on_load, None, [train.preset], **PRIVATE)


def build_run_presets(services: Services, managed: gr.Dropdown, train) -> None:
    """Inside the Runs tab, under "Manage one run": save the managed run's settings as a preset (or delete
    one), and show the command line and the Python call that start the same run."""
    with gr.Accordion(L("presets.title"), open=False, elem_id="presets-panel"):
        gr.Markdown(L("presets.intro"))
        with gr.Row():
            name = gr.Textbox(label=L("presets.name"), placeholder=L("presets.name_hint"), elem_id="preset-name",
                              scale=3, max_length=64)
            save = gr.Button(L("presets.save"), elem_id="preset-save-btn", variant="primary", scale=1)
        with gr.Row():
            kept = gr.Dropdown(choices=[], value=None, label=L("presets.saved_list"), elem_id="preset-list", scale=3)
            delete = gr.Button(L("presets.delete"), elem_id="preset-delete-btn", variant="stop", scale=1)
        said = gr.Markdown("", elem_id="preset-status")
    with gr.Accordion(L("command.title"), open=False, elem_id="command-panel"):
        gr.Markdown(L("command.intro"))
        cli = gr.Code("", language="shell", label=L("command.cli"), interactive=False, lines=2, max_lines=4,
                      elem_id="command-cli", buttons=["copy"])
        python = gr.Code("", language="python", label=L("command.python"), interactive=False, lines=5,
                         max_lines=8, elem_id="command-python", buttons=["copy"])

    def lists(request: gr.Request, keep=None):
        choices = preset_choices(services, request)
        return (gr.update(choices=choices, value=keep if keep in choices else None),
                gr.update(choices=choices, value=None))

    def on_save(run_id, preset_name, request: gr.Request):
        """save.click / name.submit: [managed, name] -> [said, kept, train.preset]."""
        lang = lang_of(request)
        if not run_id:
            return (t("files.choose_run", lang), gr.skip(), gr.skip())
        try:
            saved = services.save_preset(owner_of(request), run_id, preset_name)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return error_message(err, lang), gr.skip(), gr.skip()
        return (t("presets.saved", lang, run_id=run_id, name=saved["name"]), *lists(request, saved["name"]))

    def on_delete(preset_name, request: gr.Request):
        """delete.click: [kept] -> [said, kept, train.preset]."""
        lang = lang_of(request)
        if not preset_name:
            return t("presets.pick_one", lang), gr.skip(), gr.skip()
        try:
            services.delete_preset(owner_of(request), preset_name)
        except FtuiError as err:
            return error_message(err, lang), *lists(request)
        return (t("presets.deleted", lang, name=preset_name), *lists(request))

    def on_managed(run_id, request: gr.Request):
        """managed.change: [managed] -> [cli, python, kept]."""
        kept_update = gr.update(choices=preset_choices(services, request))
        if not run_id:
            return "", "", kept_update
        try:
            lines = commands_of(services, owner_of(request), run_id, base_url(request) + "/")
        except FtuiError as err:
            return error_message(err, lang_of(request)), "", kept_update
        return lines["cli"], lines["python"], kept_update

    for event in (save.click, name.submit):
        event(on_save, [managed, name], [said, kept, train.preset], **PRIVATE)
    delete.click(on_delete, [kept], [said, kept, train.preset], **PRIVATE)
    managed.change(on_managed, [managed], [cli, python, kept], **PRIVATE)


def commands_of(services: Services, owner: str, run_id: str, url: str) -> dict[str, str]:
    """as_commands for one of the owner's runs, with its training file's name. The runs folder is named only
    for the single local user (the machine's own): a signed-in user is not shown the server's paths."""
    config = services.run_config(owner, run_id)
    if not config:
        raise FtuiError("unknown_run", run_id=run_id)
    try:
        data = services.store.upload_path(owner, config.get("upload")).name
    except FtuiError:  # its upload was removed: the line still says what to pass
        data = "DATA"
    local = owner == DEFAULT_OWNER
    return as_commands(config, data, runs_dir=str(services.store.root) if local else None,
                       user=None if local else owner, url=url)
