"""build_app(services) -> gr.Blocks: the five tabs plus the public API, wired to one Services."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import gradio as gr

from ftui.ui.api import PublicApi, register
from ftui.ui.api_presets import PresetApi, register_presets
from ftui.ui.lang import L, current_lang, lang_of, language_switch, t
from ftui.ui.presets_panel import wire_preset_picker
from ftui.errors import FtuiError
from ftui.ui.api import owner_of
from ftui.vocab import ACTIVE_STATES, APP_TITLE
from ftui.ui.tab_box import build_box_tab, show_to_admins
from ftui.ui.tab_data import build_data_tab
from ftui.ui.tab_evaluate import build_evaluate_tab
from ftui.ui.tab_predict import build_predict_tab
from ftui.ui.tab_runs import POLL_SECONDS as RUNS_POLL_SECONDS
from ftui.ui.tab_runs import build_runs_tab
from ftui.ui.tab_train import POLL_SECONDS, build_train_tab

if TYPE_CHECKING:
    from ftui.services import Services

TITLE = APP_TITLE
UI_CONCURRENCY = 2  # UI events that read files or run models; 2 cores are shared with training


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        with gr.Row(equal_height=False):
            gr.Markdown(L("page.header"), elem_id="header")
            switch = language_switch()  # English / 中文; the browser's language until one is picked
        # Page level, not inside a tab: components of an unselected tab are not mounted in the browser,
        # so a BrowserState there is not read on reload and a Timer there never ticks.
        current_run = gr.BrowserState(None, storage_key="ftui-current-run", secret=browser_secret(services))
        upload = gr.BrowserState(None, storage_key="ftui-current-upload", secret=browser_secret(services))
        timer = gr.Timer(POLL_SECONDS, active=False)
        runs_timer = gr.Timer(RUNS_POLL_SECONDS, active=False)  # the Runs table, while a run is active
        who = gr.Markdown("", elem_id="signed-in")
        with gr.Tabs(elem_id="tabs") as tabs:
            data = build_data_tab(services, upload)
            train = build_train_tab(services, data, current_run, timer)
            predict = build_predict_tab(services, train, tabs)
            build_evaluate_tab(services, current_run)
            build_runs_tab(services, data, train, tabs, runs_timer)
            box_tab = build_box_tab(services)
        register(PublicApi(services))
        register_presets(PresetApi(services))
        wire_preset_picker(services, demo, data, train)
        # A reload (or a new tab) re-attaches to the run this browser followed, finished or not.
        demo.load(data.restore, [data.upload], data.restore_outputs, api_visibility="private")
        demo.load(train.attach, [train.current_run], train.attach_outputs, api_visibility="private")
        demo.load(train.restore, [train.current_run], train.restore_outputs, api_visibility="private")
        demo.load(predict.refresh, [train.current_run], predict.refresh_outputs, api_visibility="private")
        demo.load(signed_in, None, [who], api_visibility="private")
        demo.load(current_lang, None, [switch], api_visibility="private")
        demo.load(show_to_admins(services), None, [box_tab], api_visibility="private")
        demo.load(landing_tab(services), [train.current_run], [tabs], api_visibility="private")
    demo.queue(default_concurrency_limit=UI_CONCURRENCY)
    return demo


def browser_secret(services: Services) -> str:
    """BrowserState encrypts what it stores with this. One fixed value per runs folder lets a browser
    re-attach to its run after a server restart too. It is no real secret (Gradio sends it to the
    page) and needs none: the run id is checked against the signed-in owner on every lookup."""
    return hashlib.sha256(f"ftui:{services.store.root}".encode()).hexdigest()[:32]


def landing_tab(services: Services):
    def land(run_id, request: gr.Request):
        """demo.load: [current_run] -> [tabs]. A page reloaded while its run trains opens on the Train tab
        (where that run's charts are), not on Data."""
        try:
            state = services.run_status(owner_of(request), run_id, since=10**9)["state"] if run_id else None
        except FtuiError:
            state = None
        return gr.Tabs(selected="train") if state in ACTIVE_STATES else gr.skip()
    return land


def signed_in(request: gr.Request) -> str:
    """demo.load: [] -> [who]. Who owns what this page shows, when sign-in is on."""
    user = getattr(request, "username", None)
    return t("page.signed_in", lang_of(request), user=user) if user else ""
