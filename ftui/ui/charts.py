"""The Runs tab's comparison: several runs' curves overlaid (matplotlib, no pyplot) and their settings
side by side. No gradio, no torch. Their text (axes, titles) is in the language of the page that asked."""
from __future__ import annotations

from ftui.errors import FtuiError
from ftui.fonts import text_fonts
from ftui.i18n import t
from ftui.ui import render, render_runs

NO_COMPARISON = render_runs.config_diff({})  # the settings table's headers, no runs yet


def comparison(services, owner: str, selected: list[str], lang: str = "en") -> tuple:
    """(loss figure, accuracy figure, steps figure, settings table) of the selected runs (unknown ones are
    left out)."""
    rows, configs = {}, {}
    for run_id in selected:
        try:
            config = services.run_config(owner, run_id)
            snap = services.run_status(owner, run_id, since=0)
        except FtuiError:
            continue
        title = render_runs.run_title({"run_id": run_id, "name": config.get("name")})
        rows[title], configs[title] = list(snap.get("rows") or []), config
    if not rows:
        return None, None, None, render_runs.config_diff({}, lang)
    losses, accuracy = render_runs.overlay_loss_frame(rows), render_runs.overlay_accuracy_frame(rows)
    return (overlay_figure(losses, "loss", t("chart.training_loss", lang), lines=True, lang=lang),
            overlay_figure(accuracy, "accuracy", t("chart.validation_accuracy", lang), lines=False, lang=lang),
            steps_figure(rows, lang),
            render_runs.highlight_differences(render_runs.config_diff(configs, lang)))


def overlay_figure(frame, y: str, title: str, lines: bool, lang: str = "en"):
    """One chart of several runs (frame: step, <y>, run; NaN rows are placeholders and are skipped).
    A matplotlib Figure without pyplot (no global state); evaluation points are drawn as dots joined by
    a faint line, as one evaluation alone would be an invisible line."""
    # Each text takes its font family when it is made: made inside, it keeps the CJK fallback when Gradio
    # draws the figure later (Chinese axis text, or a run named in Chinese in any language).
    with text_fonts():
        return _overlay_figure(frame, y, title, lines, lang)


def _overlay_figure(frame, y: str, title: str, lines: bool, lang: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.4), dpi=100)
    FigureCanvasAgg(fig)  # this figure's own renderer; pyplot's global backend is untouched
    ax = fig.add_subplot()
    for run, points in frame.dropna().groupby("run", sort=False):
        if lines:
            ax.plot(points["step"], points[y], label=run, linewidth=1.6)
        else:
            ax.plot(points["step"], points[y], label=run, marker="o", linewidth=0.8, alpha=0.9)
    ax.set_xlabel(t("live.step", lang))
    ax.set_ylabel(title)
    ax.set_xlim(left=0)
    values = frame[y].dropna()
    top = 1.0 if y == "accuracy" else (float(values.max()) if len(values) else 1.0)
    ax.set_ylim(0, max(top, 1e-6) * 1.08)  # headroom: points at the maximum stay visible
    ax.grid(alpha=0.3)
    if len(frame["run"].unique()):
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


# How the steps went, one small chart each: (the frame of one run's rows, its value column, its title's key).
STEP_CHARTS = ((render.rate_frame, "learning rate", "chart.learning_rate"),
               (render.grad_norm_frame, "gradient norm", "chart.gradient_norm"),
               (render.throughput_frame, "samples/s", "chart.samples_s"))


def steps_figure(rows_by_run: dict[str, list[dict]], lang: str = "en"):
    """Learning rate, gradient norm and throughput of several runs side by side (the Runs tab's "More
    charts"); a run keeps its colour (its place in the selection) in every chart."""
    with text_fonts():  # as in overlay_figure
        return _steps_figure(rows_by_run, lang)


def _steps_figure(rows_by_run: dict[str, list[dict]], lang: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.6, 2.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(STEP_CHARTS))
    for ax, (frame_of, column, key) in zip(axes, STEP_CHARTS):
        for i, (run, rows) in enumerate(rows_by_run.items()):
            points = frame_of(rows).dropna()
            ax.plot(points["step"], points[column], label=run, color=f"C{i % 10}", linewidth=1.4)
        ax.set_title(t(key, lang), fontsize=10)
        ax.set_xlabel(t("live.step", lang))
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    if rows_by_run:
        axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
