"""Pure rendering: run snapshots, dataset summaries and run lists -> what the widgets show.

No gradio and no torch here, so every function is unit-tested on plain dicts. Text that comes from
users (file names, labels, error messages) is HTML-escaped before it goes into HTML.
"""
from __future__ import annotations

import html
import math

import pandas as pd

from ftui.i18n import recipe_zh, t
from ftui.messages import MESSAGES, describe
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


def validation_frame(rows: list[dict], lang: str = "en") -> pd.DataFrame:
    """Validation loss and accuracy per evaluation, long format for LinePlot(x="step", y="value", color="metric")."""
    evals = [r for r in rows if r.get("split") == "validation"]
    first = _first_step(evals)
    names = VALIDATION_SERIES if lang == "en" else (t("series.val_loss", lang), t("series.val_accuracy", lang))
    points = [{"step": first, "value": math.nan, "metric": name} for name in names]
    for r in evals:
        points.append({"step": r["step"], "value": _num(r.get("loss")), "metric": names[0]})
        points.append({"step": r["step"], "value": _num(r.get("accuracy")), "metric": names[1]})
    return pd.DataFrame(points, columns=["step", "value", "metric"]).astype(
        {"step": "int64", "value": "float64", "metric": "string"})


def rate_frame(rows: list[dict]) -> pd.DataFrame:
    """The body's learning rate at each logged step (the schedule as it ran; 0 at the head-first fit)."""
    return _train_series(rows, "learning_rate", "learning rate")


def grad_norm_frame(rows: list[dict]) -> pd.DataFrame:
    """The mean gradient norm before clipping (at 1.0) over each logging window: spikes show instability."""
    return _train_series(rows, "grad_norm", "gradient norm")


def throughput_frame(rows: list[dict]) -> pd.DataFrame:
    """Training examples per second over each logging window (evaluation excluded)."""
    return _train_series(rows, "samples_per_second", "samples/s")


def _train_series(rows: list[dict], field: str, column: str) -> pd.DataFrame:
    """One fine-tuning quantity per logged step for a small LinePlot(x="step", y=column). The head-first
    fit's row (step 0) is left out: its rate is 0 and its speed is of a different job (frozen features)."""
    train = [r for r in rows if r.get("split") == "train" and r.get("stage") != "head"]
    placeholder = {"step": _first_step(train), column: math.nan}  # see loss_frame
    points = [{"step": r["step"], column: _num(r.get(field))} for r in train]
    return pd.DataFrame([placeholder, *points], columns=["step", column]).astype({"step": "int64", column: "float64"})


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
def format_duration(seconds, lang: str = "en") -> str:
    """12 -> '12 s', 95 -> '1 min 35 s', 4000 -> '1 h 6 min'; None -> '—'."""
    if seconds is None or not math.isfinite(float(seconds)) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return t("dur.s", lang, s=seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return t("dur.min_s", lang, m=minutes, s=seconds) if seconds else t("dur.min", lang, m=minutes)
    hours, minutes = divmod(minutes, 60)
    return t("dur.h_min", lang, h=hours, m=minutes)


def progress_html(snap: dict | None, lang: str = "en") -> str:
    """A progress bar with step, epoch, throughput and ETA for a run_status snapshot."""
    if not snap:
        return f'<div class="ftui-progress ftui-idle">{t("live.no_run", lang)}</div>'
    state = snap.get("state") or "unknown"
    progress = min(max(float(snap.get("progress") or 0.0), 0.0), 1.0)
    if state == RunState.FINISHED:
        progress = 1.0
    facts = []
    if snap.get("total_steps"):
        facts.append(t("live.step_of", lang, step=snap.get('step') or 0, total=snap['total_steps']))
    if snap.get("epoch") is not None:
        facts.append(t("live.epoch", lang, epoch=float(snap['epoch'])))
    if snap.get("samples_per_second"):
        facts.append(t("live.speed", lang, speed=float(snap['samples_per_second'])))
    if state in ACTIVE_STATES and snap.get("eta_s") is not None:
        facts.append(t("live.left", lang, time=format_duration(snap['eta_s'], lang)))
    elif snap.get("elapsed_s") is not None:
        facts.append(t("live.took" if state not in ACTIVE_STATES else "live.so_far", lang,
                       time=format_duration(snap['elapsed_s'], lang)))
    if state == RunState.RUNNING and snap.get("stage") == "features" and snap.get("stage_total"):
        facts.insert(0, t("live.features", lang, done=snap.get('stage_done') or 0, total=snap['stage_total']))
    text = " · ".join(facts) or state_name(state, lang)
    return (f'<div class="ftui-progress ftui-{html.escape(state)}" role="progressbar" '
            f'aria-valuemin="0" aria-valuemax="100" aria-valuenow="{progress * 100:.0f}">'
            f'<div class="ftui-bar"><div class="ftui-fill" style="width:{progress * 100:.1f}%"></div></div>'
            f'<div class="ftui-progress-text"><b>{progress * 100:.0f}%</b> · {html.escape(text)}</div></div>')


def state_name(state, lang: str = "en") -> str:
    """A run state as the page says it ("finished" / "已完成")."""
    return t(f"state.{state}", lang) if lang != "en" and state else str(state)


def queue_text(place: dict | None, lang: str = "en") -> str:
    """"next in line", "3rd in line of 5, starts in about 4 min" (the scheduler's estimate, when it has one)."""
    if not place or not place.get("position"):
        return ""
    position = int(place["position"])
    nth = _ordinal(position) if lang == "en" else position
    text = t("queue.next", lang) if position == 1 else t("queue.nth", lang, nth=nth)
    if place.get("of", 0) > 1:
        text += t("queue.of", lang, of=place['of'])
    start = place.get("estimated_start_s")
    if isinstance(start, (int, float)):
        text += t("queue.starts", lang, time=format_duration(max(1, round(start / 60)) * 60, lang)) if start >= 30 \
            else t("queue.moment", lang)
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def state_markdown(snap: dict | None, lang: str = "en") -> str:
    """One line saying what the run is doing, or why it ended."""
    if not snap:
        return ""
    run = t("run.run", lang, run_id=snap.get('run_id', '?'))
    state = snap.get("state")
    best = snap.get("best_accuracy")
    measured = verdict.accuracy_sentence(best, snap.get("n_validation"), len(snap.get("labels") or []), lang=lang)
    best_text = t("run.best", lang, measured=measured) if measured else (
        t("run.best_plain", lang, percent=best * 100) if isinstance(best, (int, float)) else "")
    if state == RunState.QUEUED:
        place = queue_text(snap.get("queue"), lang)
        return t("run.waiting_place", lang, run=run, place=place) if place else t("run.waiting", lang, run=run)
    if state == RunState.RUNNING:
        ready = t("run.ready_so_far", lang) if snap.get("saved_model") else ""
        return t("run.training", lang, run=run, best=best_text, ready=ready)
    saved = saved_model_text(snap, lang)
    if state == RunState.FINISHED:
        early = t("run.early", lang) if snap.get("stopped_early") else ""
        hint = verdict.next_step(best, snap.get("n_validation") or 0, snap.get("n_train") or 0,
                                 len(snap.get("labels") or []), str(snap.get("recipe") or "").startswith("head only"),
                                 int(snap.get("epochs") or 0), bool(snap.get("stopped_early")), lang=lang)
        return t("run.finished", lang, run=run, early=early, best=best_text, saved=saved) + (f" {hint}" if hint else "")
    if state == RunState.STOPPED:
        return t("run.stopped", lang, run=run, best=best_text, saved=saved)
    if state == RunState.INTERRUPTED:
        return t("run.interrupted", lang, run=run)
    if state in (RunState.FAILED, RunState.DAMAGED):
        error = snap.get("error") or {}
        message = (describe(error["code"], error.get("detail") or {}, lang) if lang != "en" and error.get("code") in MESSAGES
                   else error.get('message') or error.get('code') or t("run.unknown_error", lang))
        return t("run.failed" if state == RunState.FAILED else "run.damaged", lang, run=run, message=message)
    return t("run.other", lang, run=run, state=state_name(state, lang))


def recipe_markdown(snap: dict | None, settings: dict | None = None, lang: str = "en") -> str:
    """What the followed run trains on and with (its own settings: the form above is for the next run), the
    recipe it decided (data-aware defaults) and its pre-flight measurement, one line each."""
    if not snap:
        return ""
    lines = []
    if settings:
        model = str(settings.get("model") or "?").replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        parts = [f"**{html.escape(str(settings.get('data_name') or t('recipe.its_data', lang)))}**", html.escape(model),
                 t("recipe.lr", lang, lr=settings["learning_rate"]) if isinstance(settings.get("learning_rate"), (int, float)) else "",
                 t("recipe.epochs", lang, epochs=settings["epochs"]) if settings.get("epochs") else ""]
        lines.append(t("recipe.this_run", lang, parts=" · ".join(p for p in parts if p)))
    if snap.get("recipe"):
        recipe = str(snap["recipe"]) if lang == "en" else recipe_zh(str(snap["recipe"]))
        lines.append(t("recipe.recipe", lang, recipe=html.escape(recipe)))
    pre = snap.get("preflight")
    if isinstance(pre, dict) and pre.get("seconds_per_step") is not None:
        memory = pre.get("peak_memory_mb")
        memory_text = t("recipe.memory", lang, gb=memory / 1024) if isinstance(memory, (int, float)) else ""
        lines.append(t("recipe.preflight", lang, seconds=pre['seconds_per_step'], batch=pre.get('batch_size'),
                       device='GPU' if pre.get('device') == 'cuda' else 'CPU', memory=memory_text,
                       time=format_duration(pre.get('eta_s'), lang)))
    return "  \n".join(lines)


def lr_curve_frame(curve: list[dict] | None) -> pd.DataFrame:
    """A range test's curve for a LinePlot: x = log10 of the learning rate (the sweep is exponential)."""
    points = [{"log10 learning rate": math.log10(c["learning_rate"]), "loss": _num(c.get("loss"))}
              for c in (curve or []) if c.get("learning_rate")]
    return pd.DataFrame(points, columns=["log10 learning rate", "loss"]).astype(
        {"log10 learning rate": "float64", "loss": "float64"})


def lr_test_markdown(result: dict, lang: str = "en") -> str:
    """What a learning-rate test found, in one sentence."""
    rate = result.get("learning_rate")
    seconds = t("lr.steps", lang, steps=result.get('steps', 0), time=format_duration(result.get('seconds'), lang))
    return t("lr.suggested" if result.get("suggested") else "lr.no_rate", lang, rate=rate, seconds=seconds)


def saved_model_text(snap: dict, lang: str = "en") -> str:
    """' The saved model is from epoch 2 (step 40), the best evaluation.' — which weights model/ holds."""
    if snap.get("saved_model") == "last":
        return t("saved.last_early" if snap.get("n_validation") else "saved.last_no_val", lang)
    epoch = snap.get("best_epoch")
    if snap.get("saved_model") == "best" and snap.get("best_step") == 0:
        return t("saved.head", lang)
    if snap.get("saved_model") == "best" and isinstance(epoch, (int, float)):
        return t("saved.best", lang, epoch=epoch, step=snap.get('best_step'))
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
def run_label(run: dict, lang: str = "en") -> str:
    """How one run reads in a dropdown: id · model · state · accuracy."""
    parts = [run.get("run_id", "?"), _short_model(run.get("model")), state_name(run.get("state"), lang) or "?"]
    if isinstance(run.get("best_accuracy"), (int, float)):
        parts.append(t("run.accuracy", lang, percent=run['best_accuracy'] * 100))
    if run.get("data_name"):
        parts.append(str(run["data_name"]))
    return " · ".join(parts)


def _short_model(model) -> str:
    model = str(model or "?")
    return model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if "/" in model else model


def predict_choices(runs: list[dict], lang: str = "en") -> list[tuple[str, str]]:
    """(label, run_id) for runs that have a model to predict with, newest first (list_runs order): ended
    runs, and running ones whose head-first stage already saved a model."""
    return [(run_label(r, lang), r["run_id"]) for r in runs
            if r.get("state") in DONE_STATES or (r.get("state") == RunState.RUNNING and r.get("saved_model"))]
