"""The Runs tab's "Share a live link" panel: a read-only page of the managed run for people without an
account (services/sharing.py makes the link, ui/share_page.py serves it)."""
from __future__ import annotations

import time

import gradio as gr

from ftui.errors import FtuiError
from ftui.ui.api import base_url, error_message, owner_of
from ftui.ui.lang import L, lang_of, t


def build_share_panel(services, managed: gr.Dropdown) -> None:
    with gr.Accordion(L("share.title"), open=False, elem_id="share-panel"):
        gr.Markdown(L("share.intro"))
        with gr.Row():
            days = gr.Number(7, label=L("share.days"), minimum=0.05, maximum=90, elem_id="share-days", scale=1)
            allow_predict = gr.Checkbox(False, label=L("share.allow_predict"), elem_id="share-predict", scale=1)
            share = gr.Button(L("share.share"), elem_id="share-btn", variant="primary", scale=0, min_width=120)
            unshare = gr.Button(L("share.unshare"), elem_id="unshare-btn", scale=0, min_width=140)
        link = gr.Textbox(label=L("share.link"), interactive=False, elem_id="share-link",
                          visible=False, buttons=["copy"])
        state = gr.Markdown("", elem_id="share-state")

    def on_share(run_id, days_value, predict_too, request: gr.Request):
        lang = lang_of(request)
        if not run_id:
            return gr.update(visible=False), t("share.pick_run", lang)
        try:
            shared = services.share_run(owner_of(request), run_id, days_value, predict_too)
        except FtuiError as err:
            return gr.update(visible=False), error_message(err, lang)
        until = t("share.shared_until_predict" if predict_too else "share.shared_until", lang,
                  when=_when(shared["expires"]))
        return gr.update(value=base_url(request) + shared["path"], visible=True), until

    def on_unshare(run_id, request: gr.Request):
        lang = lang_of(request)
        if not run_id:
            return gr.update(visible=False), t("share.pick_run", lang)
        try:
            services.unshare_run(owner_of(request), run_id)
        except FtuiError as err:
            return gr.skip(), error_message(err, lang)
        return gr.update(value="", visible=False), t("share.not_shared", lang)

    def on_pick(run_id, request: gr.Request):
        try:
            current = services.sharing.link_of(owner_of(request), run_id) if run_id else None
        except FtuiError:
            current = None
        text = t("share.works_until", lang_of(request), when=_when(current["expires"])) if current else ""
        return gr.update(value="", visible=False), text

    share.click(on_share, [managed, days, allow_predict], [link, state], api_visibility="private")
    unshare.click(on_unshare, [managed], [link, state], api_visibility="private")
    managed.change(on_pick, [managed], [link, state], api_visibility="private")


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))
