"""Box tab, shown to admins only: the slots and the runs holding them (with their memory), the queue in
start order, every user's active runs, and a Stop for any of them."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ftui.errors import FtuiError
from ftui.ui.api import error_message, owner_of
from ftui.ui.render import format_duration

SLOT_COLUMNS = ["slot", "run", "user", "pid", "memory (MB)", "GPU memory (MB)"]
ACTIVE_COLUMNS = ["user", "run", "state", "progress", "ETA", "place in line"]


def build_box_tab(services) -> gr.Tab:
    with gr.Tab("6 · Box", id="box", elem_id="tab-box", visible=False) as tab:
        gr.Markdown("The whole box, for admins: who holds each training slot, what waits, and a Stop for any "
                    "run (its owner keeps the model learned so far).")
        refresh = gr.Button("↻ Refresh", elem_id="box-refresh", size="sm")
        slots = gr.Dataframe(pd.DataFrame(columns=SLOT_COLUMNS), interactive=False, elem_id="box-slots",
                             label="Slots")
        active = gr.Dataframe(pd.DataFrame(columns=ACTIVE_COLUMNS), interactive=False, elem_id="box-active",
                              label="Every user's queued and training runs")
        with gr.Row():
            pick = gr.Dropdown(label="Run to stop", choices=[], elem_id="box-pick", scale=3)
            stop = gr.Button("Stop it", variant="stop", elem_id="box-stop", scale=1)
        said = gr.Markdown("", elem_id="box-status")

    def on_refresh(request: gr.Request):
        try:
            box = services.box_status(owner_of(request))
        except FtuiError as err:
            return gr.skip(), gr.skip(), gr.skip(), error_message(err)
        return (slots_frame(box), active_frame(box),
                gr.update(choices=[(f"{r['owner']} · {r['run_id']}", f"{r['owner']}/{r['run_id']}")
                                   for r in box["active"]], value=None), "")

    def on_stop(chosen, request: gr.Request):
        if not chosen:
            return "Pick a run first."
        owner, _, run_id = chosen.partition("/")
        try:
            services.stop_any_run(owner_of(request), owner, run_id)
        except FtuiError as err:
            return error_message(err)
        return f"Asked run `{run_id}` of **{owner}** to stop."

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


def slots_frame(box: dict) -> pd.DataFrame:
    rows = [[s["slot"], s["run_id"] or "free", s["owner"] or "", s["pid"] or "", _num(s["memory_mb"]),
             _num(s["gpu_memory_mb"])] for s in box["slots"]]
    return pd.DataFrame(rows, columns=SLOT_COLUMNS)


def active_frame(box: dict) -> pd.DataFrame:
    places = {(q["owner"], q["run_id"]): q["position"] for q in box["queue"]}
    rows = [[r["owner"], r["run_id"], r["state"], f"{float(r.get('progress') or 0) * 100:.0f}%",
             format_duration(r["eta_s"]) if isinstance(r.get("eta_s"), (int, float)) else "",
             places.get((r["owner"], r["run_id"]), "")] for r in box["active"]]
    return pd.DataFrame(rows, columns=ACTIVE_COLUMNS)


def _num(value) -> str:
    return "" if value is None else str(value)
