"""Typed training events. The loop emits them; sinks (observers) only record them.

Each event serialises to one line of metrics.jsonl: {"event": "<ClassName>", ...fields}; optional
fields (those after `# optional`, with a default) are written only when set, so the log of a plain
run reads as before and old logs still load. `metric_rows` turns those lines into the rows the
charts, `run_status` and the tests read; `drop_after` is what a resume keeps of them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class RunStarted:
    total_steps: int
    steps_per_epoch: int
    epochs: int
    n_train: int
    n_validation: int
    time: float
    # optional: a resumed run (from checkpoints/last at `start_step`)
    start_step: int = 0
    best: dict | None = None  # best evaluation so far {step, epoch, accuracy, loss}, from the checkpoint
    extended_from_epochs: int | None = None  # "train N more epochs": the epochs the run had before


@dataclass(frozen=True)
class StepLogged:
    step: int  # optimizer steps done so far (1-based)
    epoch: float  # fractional epoch, e.g. 1.25
    loss: float  # mean training loss over the steps since the last log
    learning_rate: float
    samples_per_second: float
    elapsed_s: float
    # optional
    stage: str = ""  # "head": the head-first stage's fit on frozen features (step 0); "": fine-tuning
    grad_norm: float | None = None  # mean gradient norm (before clipping) over the steps since the last log


@dataclass(frozen=True)
class EvalLogged:
    step: int
    epoch: float
    loss: float
    accuracy: float
    elapsed_s: float
    # optional
    is_best: bool = False  # the best so far (higher accuracy; a tie goes to the lower loss): model/ now holds it
    stage: str = ""  # "head": the head fitted on frozen features, before any fine-tuning step


@dataclass(frozen=True)
class RecipeChosen:
    """What the data-aware defaults decided (engine/adapt.py): the resolved options and one line saying so."""

    options: dict  # TrainOptions with every "auto" filled in
    summary: str  # e.g. "head first, then everything · image 128 px (the photos' own size) · ..."
    choices: list  # [{name, value, why}] for each setting that was decided rather than given


@dataclass(frozen=True)
class StageProgress:
    """Work before the first step: "features" (the frozen backbone over the data). Not written to
    metrics.jsonl (it is progress, not a result)."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class PreflightMeasured:
    """The first real fine-tuning steps, measured before any ETA is claimed."""

    seconds_per_step: float
    peak_memory_mb: float  # GPU: peak allocated by torch; CPU: the process's peak resident memory
    batch_size: int
    eta_s: float
    device: str


@dataclass(frozen=True)
class RunFinished:
    state: str  # "finished" or "stopped" (cancelled: the model learned so far is kept)
    step: int
    elapsed_s: float
    # optional
    stopped_early: bool = False  # finished by early stopping (no better evaluation in `patience` tries)


@dataclass(frozen=True)
class RunFailed:
    code: str
    message: str
    step: int


Event = RunStarted | StepLogged | EvalLogged | RecipeChosen | StageProgress | PreflightMeasured | RunFinished | RunFailed


def to_record(event: Event) -> dict:
    record = {"event": type(event).__name__}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.default is dataclasses.MISSING or value != f.default:  # optional fields: only when set
            record[f.name] = dict(value) if isinstance(value, dict) else value
    return record


def drop_after(records: list[dict], step: int) -> list[dict]:
    """The records a run resumed at `step` keeps: everything logged up to that step (a crash can leave
    rows past the last checkpoint; the resumed run logs those steps again)."""
    return [r for r in records if not isinstance(r.get("step"), (int, float)) or r["step"] <= step]


def metric_rows(records: list[dict]) -> list[dict]:
    """Chart rows from event records: train rows from StepLogged, validation rows from EvalLogged."""
    rows = []
    for r in records:
        if r.get("event") == "StepLogged":
            rows.append({"split": "train", "step": r["step"], "epoch": r["epoch"], "loss": r["loss"],
                         "learning_rate": r["learning_rate"], "samples_per_second": r["samples_per_second"],
                         "grad_norm": r.get("grad_norm"), "stage": r.get("stage") or "full"})
        elif r.get("event") == "EvalLogged":
            rows.append({"split": "validation", "step": r["step"], "epoch": r["epoch"], "loss": r["loss"],
                         "accuracy": r["accuracy"], "stage": r.get("stage") or "full"})
    return rows
