"""The live view of the run a page follows: progress, state, recipe, charts, and a failed run's log.

`LiveView` holds those components and the handlers that fill them (a reload's attach, the timer's tick,
Stop), at module level so they can be tested without a browser. Training never runs in a request: the
page polls run_status about once a second and asks only for the rows it has not shown yet.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ftui.errors import FtuiError
from ftui.ui import render
from ftui.ui.api import error_message, owner_of
from ftui.ui.lang import L, lang_of, t

if TYPE_CHECKING:
    from ftui.services import Services

SETTLE_TICKS = 3  # ticks that re-send the charts after a run ended (see `show`)


class LiveView:
    def __init__(self, services: Services, timer: gr.Timer, stop: gr.Button):
        self.services = services
        self.stop = stop  # enabled only while the followed run is queued or training
        self.progress = gr.HTML("", elem_id="run-progress")  # filled on load, in the page's language
        self.state_text = gr.Markdown("", elem_id="run-state")
        self.recipe_text = gr.Markdown("", elem_id="run-recipe")
        with gr.Accordion(L("live.log"), open=True, visible=False, elem_id="run-log") as self.log_box:
            self.log = gr.Code("", language=None, elem_id="run-log-text")
        with gr.Row():
            self.loss_plot = gr.LinePlot(render.loss_frame([]), x="step", y="loss", color="series",
                                         label=L("live.loss"), x_title=L("live.step"), y_title=L("live.loss_axis"),
                                         colors_in_legend=[],
                                         elem_id="loss-plot", y_lim=[0, None], x_lim=[0, 1])  # from 0: short ticks
            # Points, not lines: evaluation runs about once per epoch, and a one-point line is invisible.
            self.val_plot = gr.ScatterPlot(render.validation_frame([]), x="step", y="value", color="metric",
                                           label=L("live.val"), x_title=L("live.step"), y_title=L("live.value"),
                                           color_title="", elem_id="val-plot", y_lim=[0, 1.08], x_lim=[0, 1],
                                           caption=L("live.val_caption"))
        with gr.Row(elem_id="more-charts"):  # one row of small charts: how the steps went, not what was learned
            self.lr_plot = gr.LinePlot(render.rate_frame([]), x="step", y="learning rate", label=L("live.rate"),
                                       x_title=L("live.step"), y_title=L("live.body_rate"), elem_id="rate-plot", height=160,
                                       x_lim=[0, 1], min_width=240)
            self.grad_plot = gr.LinePlot(render.grad_norm_frame([]), x="step", y="gradient norm", elem_id="grad-plot",
                                         label=L("live.grad"), x_title=L("live.step"), y_title=L("live.norm"),
                                         height=160, x_lim=[0, 1], min_width=240)
            self.speed_plot = gr.LinePlot(render.throughput_frame([]), x="step", y="samples/s", elem_id="speed-plot",
                                          label=L("live.throughput"), x_title=L("live.step"),
                                          y_title=L("live.examples_s"), height=160,
                                          x_lim=[0, 1], min_width=240)
        # What this page has shown of the run it follows: rows (the timer asks only for newer ones) and
        # how many ticks have passed since the run ended.
        self.poll = gr.State(None)
        self.outputs = [self.poll, self.progress, self.state_text, self.recipe_text, self.log_box, self.log,
                        self.loss_plot, self.val_plot, self.lr_plot, self.grad_plot, self.speed_plot, self.stop, timer]

    def unchanged(self, **changes) -> tuple:
        """gr.skip() for every output, but those named in `changes` (by attribute name)."""
        names = ["poll", "progress", "state_text", "recipe_text", "log_box", "log", "loss_plot", "val_plot",
                 "lr_plot", "grad_plot", "speed_plot", "stop", "timer"]
        return tuple(changes.get(name, gr.skip()) for name in names)

    def show(self, snap: dict, state: dict, changed: bool, lang: str = "en") -> tuple:
        """Every output for one snapshot. Plots are re-sent when rows arrived, and on the few ticks after
        the run ended: the browser's chart can drop an update that arrives while it is still drawing the
        previous one (seen with runs of a few seconds), and nothing would repair it."""
        active = snap.get("state") in render.ACTIVE_STATES
        if not active:
            state = {**state, "after_end": state.get("after_end", 0) + 1}
        keep_polling = active or state["after_end"] < SETTLE_TICKS
        total = snap.get("total_steps")
        # The x axis spans the whole run, so the charts also show how far it has come; the margin keeps
        # points on the last step whole. A head-only run has no steps: 0 to 1.
        x_lim = [0, total + max(1, round(total * 0.03))] if total else [0, 1]
        rows = state["rows"]
        if changed or not active:
            losses, evals, rates = render.loss_frame(rows), render.validation_frame(rows, lang), render.rate_frame(rows)
            norms, speeds = render.grad_norm_frame(rows), render.throughput_frame(rows)
            plots = (gr.LinePlot(losses, x_lim=x_lim, y_lim=render.y_limits(losses, "loss")),
                     gr.ScatterPlot(evals, x_lim=x_lim, y_lim=render.y_limits(evals, "value", floor=1.0)),
                     gr.LinePlot(rates, x_lim=x_lim),
                     gr.LinePlot(norms, x_lim=x_lim, y_lim=render.y_limits(norms, "gradient norm")),
                     gr.LinePlot(speeds, x_lim=x_lim, y_lim=render.y_limits(speeds, "samples/s")))
        else:
            plots = (gr.skip(),) * 5
        tail = snap.get("log_tail")
        return (state, render.progress_html(snap, lang), render.state_markdown(snap, lang),
                render.recipe_markdown(snap, state.get("settings"), lang),
                gr.Accordion(visible=bool(tail)), tail or "", *plots, gr.Button(interactive=active),
                gr.Timer(active=keep_polling))

    def attach(self, run_id, request: gr.Request):
        """demo.load / a run picked in the runs table: [current_run] -> outputs. Redraws the run from its
        first row and polls it (while active, then a few settling ticks); a run id this user does not own
        (another sign-in in this browser, a deleted run) only leaves a one-line note."""
        lang = lang_of(request)
        if not run_id:
            return self.unchanged(poll=None, progress=render.progress_html(None, lang), state_text="", recipe_text="",
                                  val_plot=render.validation_frame([], lang),
                                  log_box=gr.Accordion(visible=False), stop=gr.Button(interactive=False),
                                  timer=gr.Timer(active=False))
        try:
            snap = self.services.run_status(owner_of(request), run_id, since=0)
        except FtuiError as err:
            # A run of another sign-in in this browser, or one deleted since: forget it without a word.
            quiet = err.code == "unknown_run"
            return self.unchanged(poll=None, progress=render.progress_html(None, lang),
                                  state_text="" if quiet else error_message(err, lang),
                                  recipe_text="", log_box=gr.Accordion(visible=False), loss_plot=render.loss_frame([]),
                                  val_plot=render.validation_frame([], lang), lr_plot=render.rate_frame([]),
                                  grad_plot=render.grad_norm_frame([]), speed_plot=render.throughput_frame([]),
                                  stop=gr.Button(interactive=False), timer=gr.Timer(active=False))
        return self.show(snap, {"run_id": run_id, "rows": list(snap.get("rows") or []),
                                "settings": snap.get("settings")}, True, lang)

    def on_tick(self, run_id, state: dict | None, request: gr.Request):
        """timer.tick: [current_run, poll] -> outputs. Asks only for rows after the ones already shown."""
        if not run_id:
            return self.unchanged(poll=state, timer=gr.Timer(active=False))
        if not state or state.get("run_id") != run_id:  # another run was picked meanwhile: start over
            state = {"run_id": run_id, "rows": []}
        try:
            snap = self.services.run_status(owner_of(request), run_id, since=len(state["rows"]))
        except FtuiError as err:
            return self.unchanged(poll=state, state_text=error_message(err, lang_of(request)), timer=gr.Timer(active=False))
        if (snap.get("n_rows") or 0) < len(state["rows"]):  # resumed: rows past its checkpoint were dropped
            return self.attach(run_id, request)
        new = list(snap.get("rows") or [])
        return self.show(snap, {**state, "rows": state["rows"] + new,
                                "settings": snap.get("settings") or state.get("settings")}, bool(new), lang_of(request))

    def on_stop(self, run_id, request: gr.Request):
        """stop.click: [current_run] -> [state_text]. The timer shows the final state."""
        lang = lang_of(request)
        if not run_id:
            return t("live.nothing_to_stop", lang)
        try:
            snap = self.services.stop_run(owner_of(request), run_id)
        except FtuiError as err:
            gr.Warning(error_message(err, lang))
            return error_message(err, lang)
        if snap.get("state") in render.ACTIVE_STATES:
            return t("live.stopping", lang, run_id=run_id)
        return render.state_markdown(snap, lang)
