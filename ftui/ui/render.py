"""Pure rendering: run snapshots, dataset summaries and run lists -> what the widgets show.

No gradio and no torch here, so every function is unit-tested on plain dicts. Text that comes from
users (file names, labels, error messages) is HTML-escaped before it goes into HTML.
"""
from __future__ import annotations

import html
import math

import pandas as pd

from ftui.ui import verdict

from ftui.vocab import ACTIVE_STATES, DONE_STATES, RunState  # noqa: F401 - the tabs read them here

TRAIN_SERIES = "training loss"
VALIDATION_SERIES = ("validation loss", "validation accuracy")


# -- charts ------------------------------------------------------------------------------
def _first_step(rows: list[dict]) -> int:
    steps = [r["step"] for r in rows if r.get("step") is not None]
    return min(steps) if steps else 0


def loss_frame(rows: list[dict]) -> pd.DataFrame:
    """Training-loss points (one per logging step) for a LinePlot(x="step", y="loss", color="series").

    Always starts with a NaN placeholder row: a Gradio LinePlot whose first value is an empty frame
    never draws its lines later (measured trap, see ENVIRONMENT.md).
    """
    train = [r for r in rows if r.get("split") == "train"]
    placeholder = {"step": _first_step(train), "loss": math.nan, "series": TRAIN_SERIES}
    points = [{"step": r["step"], "loss": _num(r.get("loss")), "series": TRAIN_SERIES} for r in train]
    return pd.DataFrame([placeholder, *points], columns=["step", "loss", "series"]).astype(
        {"step": "int64", "loss": "float64", "series": "string"})


def validation_frame(rows: list[dict]) -> pd.DataFrame:
    """Validation loss and accuracy per evaluation, long format for LinePlot(x="step", y="value", color="metric")."""
    evals = [r for r in rows if r.get("split") == "validation"]
    first = _first_step(evals)
    points = [{"step": first, "value": math.nan, "metric": name} for name in VALIDATION_SERIES]
    for r in evals:
        points.append({"step": r["step"], "value": _num(r.get("loss")), "metric": VALIDATION_SERIES[0]})
        points.append({"step": r["step"], "value": _num(r.get("accuracy")), "metric": VALIDATION_SERIES[1]})
    return pd.DataFrame(points, columns=["step", "value", "metric"]).astype(
        {"step": "int64", "value": "float64", "metric": "string"})


def rate_frame(rows: list[dict]) -> pd.DataFrame:
    """The body's learning rate at each logged step (the schedule as it ran; 0 at the head-first fit)."""
    train = [r for r in rows if r.get("split") == "train" and r.get("stage") != "head"]
    placeholder = {"step": _first_step(train), "learning rate": math.nan}  # see loss_frame
    points = [{"step": r["step"], "learning rate": _num(r.get("learning_rate"))} for r in train]
    return pd.DataFrame([placeholder, *points], columns=["step", "learning rate"]).astype({"step": "int64", "learning rate": "float64"})


def y_limits(frame: pd.DataFrame, column: str, floor: float = 0.0) -> list[float]:
    """[0, top] with 8% headroom, so points at the maximum (an accuracy of 0.96, the first loss) are
    not drawn on the chart's edge where they are hard to see; `floor` is the least top (1 for accuracy)."""
    values = frame[column].dropna()
    top = max([floor, *values.tolist()]) if len(values) else floor
    return [0, round(top * 1.08, 3) if top > 0 else 1]


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# -- run progress --------------------------------------------------------------------------
def format_duration(seconds) -> str:
    """12 -> '12 s', 95 -> '1 min 35 s', 4000 -> '1 h 6 min'; None -> '—'."""
    if seconds is None or not math.isfinite(float(seconds)) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def progress_html(snap: dict | None) -> str:
    """A progress bar with step, epoch, throughput and ETA for a run_status snapshot."""
    if not snap:
        return '<div class="ftui-progress ftui-idle">No run yet: prepare data, then press Train.</div>'
    state = snap.get("state") or "unknown"
    progress = min(max(float(snap.get("progress") or 0.0), 0.0), 1.0)
    if state == RunState.FINISHED:
        progress = 1.0
    facts = []
    if snap.get("total_steps"):
        facts.append(f"step {snap.get('step') or 0} / {snap['total_steps']}")
    if snap.get("epoch") is not None:
        facts.append(f"epoch {float(snap['epoch']):.2f}")
    if snap.get("samples_per_second"):
        facts.append(f"{float(snap['samples_per_second']):.1f} examples/s")
    if state in ACTIVE_STATES and snap.get("eta_s") is not None:
        facts.append(f"about {format_duration(snap['eta_s'])} left")
    elif snap.get("elapsed_s") is not None:
        facts.append(f"took {format_duration(snap['elapsed_s'])}" if state not in ACTIVE_STATES
                     else f"{format_duration(snap['elapsed_s'])} so far")
    if state == RunState.RUNNING and snap.get("stage") == "features" and snap.get("stage_total"):
        facts.insert(0, f"head first: the frozen backbone reads every example "
                        f"({snap.get('stage_done') or 0} / {snap['stage_total']})")
    text = " · ".join(facts) or html.escape(state)
    return (f'<div class="ftui-progress ftui-{html.escape(state)}" role="progressbar" '
            f'aria-valuemin="0" aria-valuemax="100" aria-valuenow="{progress * 100:.0f}">'
            f'<div class="ftui-bar"><div class="ftui-fill" style="width:{progress * 100:.1f}%"></div></div>'
            f'<div class="ftui-progress-text"><b>{progress * 100:.0f}%</b> · {html.escape(text)}</div></div>')


def queue_text(place: dict | None) -> str:
    """"next in line", "3rd in line of 5, starts in about 4 min" (the scheduler's estimate, when it has one)."""
    if not place or not place.get("position"):
        return ""
    position = int(place["position"])
    text = "next in line" if position == 1 else f"{_ordinal(position)} in line"
    if place.get("of", 0) > 1:
        text += f" of {place['of']}"
    start = place.get("estimated_start_s")
    if isinstance(start, (int, float)):
        text += ", starts in about " + format_duration(max(1, round(start / 60)) * 60) if start >= 30 \
            else ", starts in a moment"
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def state_markdown(snap: dict | None) -> str:
    """One line saying what the run is doing, or why it ended."""
    if not snap:
        return ""
    run = f"Run `{snap.get('run_id', '?')}`"
    state = snap.get("state")
    best = snap.get("best_accuracy")
    measured = verdict.accuracy_sentence(best, snap.get("n_validation"), len(snap.get("labels") or []))
    best_text = f" Best validation accuracy: {measured}." if measured else (
        f" Best validation accuracy: **{best * 100:.1f}%**." if isinstance(best, (int, float)) else "")
    if state == RunState.QUEUED:
        place = queue_text(snap.get("queue"))
        return f"{run} is waiting for a free training slot" + (f": {place}." if place else ".")
    if state == RunState.RUNNING:
        ready = " The model so far can already predict (Predict tab)." if snap.get("saved_model") else ""
        return f"{run} is training.{best_text}{ready}"
    saved = saved_model_text(snap)
    if state == RunState.FINISHED:
        early = " It stopped early: validation accuracy had stopped improving." if snap.get("stopped_early") else ""
        hint = verdict.next_step(best, snap.get("n_validation") or 0, snap.get("n_train") or 0,
                                 len(snap.get("labels") or []), str(snap.get("recipe") or "").startswith("head only"),
                                 int(snap.get("epochs") or 0), bool(snap.get("stopped_early")))
        return f"{run} finished.{early}{best_text}{saved} Try it on the Predict tab." + (f" {hint}" if hint else "")
    if state == RunState.STOPPED:
        return f"{run} was stopped; the model learned so far was kept.{best_text}{saved} It can be resumed (Runs tab)."
    if state == RunState.INTERRUPTED:
        return (f"{run} was interrupted because the app stopped while it was training; "
                "resume it from its last checkpoint on the Runs tab.")
    if state in (RunState.FAILED, RunState.DAMAGED):
        error = snap.get("error") or {}
        what = "stopped with an error" if state == RunState.FAILED else "is damaged"
        return f"{run} {what}: {error.get('message') or error.get('code') or 'unknown error'}"
    return f"{run}: {state}"


def recipe_markdown(snap: dict | None, settings: dict | None = None) -> str:
    """What the followed run trains on and with (its own settings: the form above is for the next run), the
    recipe it decided (data-aware defaults) and its pre-flight measurement, one line each."""
    if not snap:
        return ""
    lines = []
    if settings:
        model = str(settings.get("model") or "?").replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        parts = [f"**{html.escape(str(settings.get('data_name') or 'its data'))}**", html.escape(model),
                 f"learning rate {settings.get('learning_rate'):g}" if isinstance(settings.get("learning_rate"), (int, float)) else "",
                 f"{settings.get('epochs')} epochs" if settings.get("epochs") else ""]
        lines.append("**This run:** " + " · ".join(p for p in parts if p))
    if snap.get("recipe"):
        lines.append(f"**Recipe:** {html.escape(str(snap['recipe']))}")
    pre = snap.get("preflight")
    if isinstance(pre, dict) and pre.get("seconds_per_step") is not None:
        memory = pre.get("peak_memory_mb")
        memory_text = f" · peak memory {memory / 1024:.1f} GB" if isinstance(memory, (int, float)) else ""
        lines.append(f"**Pre-flight:** {pre['seconds_per_step']:.2f} s a step at batch {pre.get('batch_size')} on the "
                     f"{'GPU' if pre.get('device') == 'cuda' else 'CPU'}{memory_text} · about "
                     f"{format_duration(pre.get('eta_s'))} of fine-tuning")
    return "  \n".join(lines)


def lr_curve_frame(curve: list[dict] | None) -> pd.DataFrame:
    """A range test's curve for a LinePlot: x = log10 of the learning rate (the sweep is exponential)."""
    points = [{"log10 learning rate": math.log10(c["learning_rate"]), "loss": _num(c.get("loss"))}
              for c in (curve or []) if c.get("learning_rate")]
    return pd.DataFrame(points, columns=["log10 learning rate", "loss"]).astype(
        {"log10 learning rate": "float64", "loss": "float64"})


def lr_test_markdown(result: dict) -> str:
    """What a learning-rate test found, in one sentence."""
    rate = result.get("learning_rate")
    seconds = f"{result.get('steps', 0)} steps, {format_duration(result.get('seconds'))}"
    if result.get("suggested"):
        return (f"Suggested learning rate **{rate:.2g}**: a thirtieth of the rate where the loss blew up "
                f"({seconds}). It is in the field above; Train uses it.")
    return (f"The test could not read a rate from this curve ({seconds}); the model's usual rate "
            f"**{rate:.2g}** is in the field above.")


def saved_model_text(snap: dict) -> str:
    """' The saved model is from epoch 2 (step 40), the best evaluation.' — which weights model/ holds."""
    if snap.get("saved_model") == "last":
        if snap.get("n_validation"):
            return " The saved model is the last one: the run stopped before its first evaluation."
        return " The saved model is the last one (there was no validation data to pick the best)."
    epoch = snap.get("best_epoch")
    if snap.get("saved_model") == "best" and snap.get("best_step") == 0:
        return " The saved model is the head fitted on the frozen backbone (fine-tuning did not beat it)."
    if snap.get("saved_model") == "best" and isinstance(epoch, (int, float)):
        return f" The saved model is the best one, from epoch {epoch:g} (step {snap.get('best_step')})."
    return ""


# -- models ----------------------------------------------------------------------------------
def model_label(model: dict) -> str:
    """'MiniLM L6 (22.7M) · default' or '... · needs internet' for a list_models entry."""
    label = str(model.get("name") or model.get("id"))
    if model.get("params"):
        label += f" ({model['params']})"
    if model.get("default"):
        label += " · default"
    if model.get("offline") is False:
        label += " · needs internet"
    return label


# -- runs ------------------------------------------------------------------------------------
def run_label(run: dict) -> str:
    """How one run reads in a dropdown: id · model · state · accuracy."""
    parts = [run.get("run_id", "?"), _short_model(run.get("model")), run.get("state") or "?"]
    if isinstance(run.get("best_accuracy"), (int, float)):
        parts.append(f"{run['best_accuracy'] * 100:.1f}% accuracy")
    if run.get("data_name"):
        parts.append(str(run["data_name"]))
    return " · ".join(parts)


def _short_model(model) -> str:
    model = str(model or "?")
    return model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if "/" in model else model


def predict_choices(runs: list[dict]) -> list[tuple[str, str]]:
    """(label, run_id) for runs that have a model to predict with, newest first (list_runs order): ended
    runs, and running ones whose head-first stage already saved a model."""
    return [(run_label(r), r["run_id"]) for r in runs
            if r.get("state") in DONE_STATES or (r.get("state") == RunState.RUNNING and r.get("saved_model"))]
