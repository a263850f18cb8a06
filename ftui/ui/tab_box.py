"""Box tab, shown to admins only: the slots and the runs holding them (with their memory), the queue in
start order, every user's active runs, and a Stop for any of them."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ftui.errors import FtuiError
from ftui.i18n import columns
from ftui.ui.api import error_message, owner_of
from ftui.ui.lang import L, lang_of, t
from ftui.ui.render import format_duration, state_name

SLOT_COLUMNS = ["slot", "run", "user", "pid", "memory (MB)", "GPU memory (MB)"]
ACTIVE_COLUMNS = ["user", "run", "state", "progress", "ETA", "place in line"]


def build_box_tab(services) -> gr.Tab:
    with gr.Tab(L("box.tab"), id="box", elem_id="tab-box", visible=False) as tab:
        gr.Markdown(L("box.intro"))
        refresh = gr.Button(L("box.refresh"), elem_id="box-refresh", size="sm")
        # English headers until the tab is opened: on_refresh fills them in the page's language
        slots = gr.Dataframe(pd.DataFrame(columns=SLOT_COLUMNS), interactive=False, elem_id="box-slots",
                             label=L("box.slots"))
        active = gr.Dataframe(pd.DataFrame(columns=ACTIVE_COLUMNS), interactive=False, elem_id="box-active",
                              label=L("box.active"))
        with gr.Row():
            pick = gr.Dropdown(label=L("box.pick"), choices=[], elem_id="box-pick", scale=3)
            stop = gr.Button(L("box.stop"), variant="stop", elem_id="box-stop", scale=1)
        said = gr.Markdown("", elem_id="box-status")

    def on_refresh(request: gr.Request):
        """tab.select, refresh.click: [] -> [slots, active, pick, said]."""
        lang = lang_of(request)
        try:
            box = services.box_status(owner_of(request))
        except FtuiError as err:
            return gr.skip(), gr.skip(), gr.skip(), error_message(err, lang)
        return (slots_frame(box, lang), active_frame(box, lang),
                gr.update(choices=[(f"{r['owner']} · {r['run_id']}", f"{r['owner']}/{r['run_id']}")
                                   for r in box["active"]], value=None), "")

    def on_stop(chosen, request: gr.Request):
        """stop.click: [pick] -> [said]."""
        lang = lang_of(request)
        if not chosen:
            return t("box.pick_first", lang)
        owner, _, run_id = chosen.partition("/")
        try:
            services.stop_any_run(owner_of(request), owner, run_id)
        except FtuiError as err:
            return error_message(err, lang)
        return t("box.asked", lang, run_id=run_id, owner=owner)

    outputs = [slots, active, pick, said]
    tab.select(on_refresh, None, outputs, api_visibility="private")
    refresh.click(on_refresh, None, outputs, api_visibility="private")
    stop.click(on_stop, [pick], [said], api_visibility="private").then(on_refresh, None, outputs,
                                                                       api_visibility="private")
    return tab


def show_to_admins(services):
    def show(request: gr.Request):
        """demo.load: [] -> [the Box tab]: visible for admins only."""
        return gr.Tab(visible=services.is_admin(owner_of(request)))
    return show


def slots_frame(box: dict, lang: str = "en") -> pd.DataFrame:
    rows = [[s["slot"], s["run_id"] or t("box.free", lang), s["owner"] or "", s["pid"] or "", _num(s["memory_mb"]),
             _num(s["gpu_memory_mb"])] for s in box["slots"]]
    return pd.DataFrame(rows, columns=columns(SLOT_COLUMNS, lang))


def active_frame(box: dict, lang: str = "en") -> pd.DataFrame:
    places = {(q["owner"], q["run_id"]): q["position"] for q in box["queue"]}
    rows = [[r["owner"], r["run_id"], state_name(r["state"], lang), f"{float(r.get('progress') or 0) * 100:.0f}%",
             format_duration(r["eta_s"], lang) if isinstance(r.get("eta_s"), (int, float)) else "",
             places.get((r["owner"], r["run_id"]), "")] for r in box["active"]]
    return pd.DataFrame(rows, columns=columns(ACTIVE_COLUMNS, lang))


def _num(value) -> str:
    return "" if value is None else str(value)
