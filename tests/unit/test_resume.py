"""Training control on a tiny random BERT: best checkpoint, early stopping, resume, more epochs.

The oracle is the run directory: metrics.jsonl, status.json, config.json, model/ and
checkpoints/last/ (the same files the UI and a resumed run read).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ftui.engine import checkpoint, loop
from ftui.engine.events import EvalLogged, StepLogged
from ftui.worker import read_train_data
from ftui.engine.sinks import FanOut, JsonlSink, StatusSink
from ftui.errors import FtuiError
from ftui.runs.store import read_json, read_jsonl, read_status, update_status
from ftui.tasks import get_task

WAIT_S = 120
OPTIONS = {"n": 64, "epochs": 2, "lr": 3e-3, "log_every_steps": 1}  # 48 train / 16 val, batch 8: 6 steps an epoch


class CancelAt:
    """Test-only observer: presses "stop" when an event of `kind` reaches `step`."""

    def __init__(self, cancel: threading.Event, step: int, kind=StepLogged):
        self.cancel, self.step, self.kind = cancel, step, kind

    def emit(self, event):
        if isinstance(event, self.kind) and event.step >= self.step:
            self.cancel.set()


def train_direct(run_dir, config, source, *observers, cancel=None):
    """loop.train as the JobManager calls it, plus test observers; returns the TrainResult."""
    cancel = cancel or threading.Event()
    sink = FanOut(JsonlSink(run_dir / "metrics.jsonl"), StatusSink(run_dir), *observers)
    return loop.train(config, get_task(config.task), source, read_train_data(run_dir), sink, cancel,
                      run_dir / "model", checkpoint_dir=checkpoint.last_dir(run_dir))


def train_losses(run_dir) -> dict[int, float]:
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["event"] == "StepLogged"]
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)), f"duplicate or unordered steps: {steps}"
    return {r["step"]: r["loss"] for r in rows}


def evals(run_dir) -> list[dict]:
    return [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["event"] == "EvalLogged"]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's weights, or a saved text model's as the model's own state_dict names them
    (model.safetensors holds the encoder, head.safetensors the classifier)."""
    state = load_file(str(folder / "model.safetensors"))
    if not (folder / "head.safetensors").is_file():
        return state
    head = load_file(str(folder / "head.safetensors"))
    return {**{f"encoder.{k}": v for k, v in state.items()}, **{f"classifier.{k}": v for k, v in head.items()}}


def max_weight_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- resume gives the uninterrupted run ---------------------------------------------------------
@pytest.mark.parametrize("where", ["mid_epoch", "epoch_boundary", "during_evaluation", "after_a_crash"])
def test_a_resumed_run_equals_the_uninterrupted_one(make_text_run, jobs_for, where):
    store, run_a, config, source = make_text_run(**OPTIONS)
    result = train_direct(run_a, config, source)
    assert result.state == "finished" and result.step == 12

    _, run_b, config_b, _ = make_text_run(**OPTIONS)  # same data, same seed
    cancel = threading.Event()
    stop = {"mid_epoch": CancelAt(cancel, 4),  # the stop lands inside epoch 1
            "epoch_boundary": CancelAt(cancel, 6, kind=EvalLogged),  # after epoch 1's evaluation
            "during_evaluation": CancelAt(cancel, 6),  # epoch 1's evaluation is cancelled: it is pending
            "after_a_crash": CancelAt(cancel, 4)}[where]
    first = train_direct(run_b, config_b, source, stop, cancel=cancel)
    assert first.state == "stopped" and first.step == (4 if where in ("mid_epoch", "after_a_crash") else 6)
    state = checkpoint.read_state(checkpoint.last_dir(run_b))
    assert state["step"] == first.step
    assert (state["epoch"], state["batch"]) == ((0, 4) if first.step == 4 else (1, 0))
    assert state["eval_pending"] == (where == "during_evaluation")
    if where == "after_a_crash":  # the process died after logging steps past its last checkpoint
        with (run_b / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"event": "StepLogged", "step": 5, "epoch": 0.83, "loss": 9.0, "learning_rate": 0.1,
                                "samples_per_second": 1.0, "elapsed_s": 1.0}) + "\n")
            f.write('{"event": "StepLogged", "step": 6, "ep')  # half a line
        update_status(run_b, state="interrupted")

    jobs = jobs_for(store)
    jobs.resume(run_b, config_b)
    assert jobs.wait(run_b, WAIT_S) == "finished"

    losses_a, losses_b = train_losses(run_a), train_losses(run_b)
    assert sorted(losses_b) == list(range(0, 13))  # 0: the head-first fit, before the first step
    loss_diff = max(abs(losses_a[s] - losses_b[s]) for s in losses_a)
    weight_diff = max_weight_diff(weights(checkpoint.last_dir(run_a)), weights(checkpoint.last_dir(run_b)))
    print(f"\nresume {where}: max |loss A - loss B| = {loss_diff:.3g}, max |weight A - weight B| = {weight_diff:.3g}")
    assert loss_diff <= 1e-6 and weight_diff <= 1e-6
    assert [(e["step"], e["accuracy"]) for e in evals(run_b)] == [(e["step"], e["accuracy"]) for e in evals(run_a)]
    assert max_weight_diff(weights(run_a / "model"), weights(run_b / "model")) <= 1e-6
    status = read_status(run_b)
    assert status["state"] == "finished" and status["step"] == status["total_steps"] == 12
    assert status["resumed_from_step"] == first.step
    assert status["best_step"] == read_status(run_a)["best_step"]


def test_a_resumed_run_continues_its_curve_in_the_live_snapshot(make_text_run, jobs_for):
    store, run_dir, config, source = make_text_run(**OPTIONS)
    cancel = threading.Event()
    train_direct(run_dir, config, source, CancelAt(cancel, 3), cancel=cancel)
    assert read_status(run_dir)["state"] == "stopped"
    jobs = jobs_for(store)
    jobs.resume(run_dir, config)
    assert jobs.wait(run_dir, WAIT_S) == "finished"
    snap = jobs.snapshot(run_dir)
    steps = [r["step"] for r in snap["rows"] if r["split"] == "train"]
    assert steps == list(range(0, 13))
    kinds = [r["event"] for r in read_jsonl(run_dir / "metrics.jsonl")]
    assert kinds.count("RunStarted") == 2 and kinds[-1] == "RunFinished"


# -- the saved model is the best one ------------------------------------------------------------
def scripted_evaluation(monkeypatch, results):
    """loop.evaluate returns `results` in turn (loss, accuracy) and remembers the weights it saw."""
    seen = []

    def fake(model, batches, device, autocast, cancel, ranks=None):
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return results[len(seen) - 1]

    monkeypatch.setattr(loop, "evaluate", fake)
    return seen


def test_the_saved_model_is_the_best_evaluation_not_the_last(make_text_run, monkeypatch):
    # one stage: the scripted evaluations are the fine-tuning ones (the head-first one is tested apart)
    _, run_dir, config, source = make_text_run(n=64, epochs=3, lr=3e-3, head_first=False)
    seen = scripted_evaluation(monkeypatch, [(0.5, 0.75), (0.4, 0.9375), (0.9, 0.5)])
    result = train_direct(run_dir, config, source)
    assert result.state == "finished" and result.best["epoch"] == 2.0

    saved = weights(run_dir / "model")
    assert max_weight_diff({k: saved[k] for k in saved}, {k: seen[1][k] for k in saved}) == 0.0
    assert max_weight_diff({k: saved[k] for k in saved}, {k: seen[2][k] for k in saved}) > 0  # not the last
    status = read_status(run_dir)
    assert status["saved_model"] == "best"
    assert (status["best_epoch"], status["best_step"], status["best_accuracy"], status["best_loss"]) == (2.0, 12, 0.9375, 0.4)
    assert [e.get("is_best", False) for e in evals(run_dir)] == [True, True, False]
    # the resumable state is the last one, whatever the best
    assert checkpoint.read_state(checkpoint.last_dir(run_dir))["step"] == 18


def test_a_tie_in_accuracy_goes_to_the_lower_loss():
    best = {"accuracy": 0.9, "loss": 0.3}
    assert loop.improves(0.9, 0.2, best) and not loop.improves(0.9, 0.3, best) and not loop.improves(0.8, 0.1, best)
    assert loop.improves(0.1, 9.0, None)


def test_without_validation_data_the_last_model_is_saved_and_status_says_so(make_text_run):
    _, run_dir, config, source = make_text_run(n=64, epochs=2)
    (run_dir / "data" / "validation.jsonl").write_text("", encoding="utf-8")
    result = train_direct(run_dir, config, source)
    assert result.state == "finished" and result.best is None
    status = read_status(run_dir)
    assert status["saved_model"] == "last" and status["best_step"] is None
    assert max_weight_diff(weights(run_dir / "model"), weights(checkpoint.last_dir(run_dir))) == 0.0


# -- early stopping -------------------------------------------------------------------------------
def test_early_stopping_after_patience_evaluations_without_improvement(make_text_run, monkeypatch):
    _, run_dir, config, source = make_text_run(n=64, epochs=8, early_stopping_patience=2, head_first=False)
    scripted_evaluation(monkeypatch, [(0.6, 0.75), (0.5, 0.875), (0.5, 0.875), (0.4, 0.8125), (0.1, 1.0)])
    result = train_direct(run_dir, config, source)
    assert result.state == "finished" and result.stopped_early and result.step == 4 * 6
    assert [e["epoch"] for e in evals(run_dir)] == [1.0, 2.0, 3.0, 4.0]  # the 5th (better) one never came
    status = read_status(run_dir)
    assert status["state"] == "finished" and status["stopped_early"] is True and status["epoch"] == 4.0
    assert status["best_epoch"] == 2.0 and status["saved_model"] == "best"
    assert read_jsonl(run_dir / "metrics.jsonl")[-1] == {"event": "RunFinished", "state": "finished", "step": 24,
                                                         "elapsed_s": result.elapsed_s, "stopped_early": True}


# -- corrupt checkpoints change nothing -----------------------------------------------------------
def _corrupt_truncated(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def _corrupt_missing_state(folder):
    (folder / "trainer_state.pt").unlink()


def _corrupt_shape(folder):
    tensors = load_file(str(folder / "model.safetensors"))
    name = next(k for k in tensors if k.endswith("classifier.weight"))
    tensors[name] = torch.zeros(3, tensors[name].shape[1])
    save_file(tensors, str(folder / "model.safetensors"))


class Evil:
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _corrupt_malicious_pickle(folder):
    evil = Evil()
    Evil.marker = str(folder.parent.parent.parent / "pwned")
    torch.save({"step": 4, "optimizer": evil}, folder / "trainer_state.pt")


@pytest.mark.parametrize("damage", [_corrupt_truncated, _corrupt_missing_state, _corrupt_shape,
                                    _corrupt_malicious_pickle], ids=lambda f: f.__name__[9:])
def test_a_corrupt_checkpoint_is_refused_and_the_run_is_untouched(make_text_run, jobs_for, damage):
    store, run_dir, config, source = make_text_run(**OPTIONS)
    cancel = threading.Event()
    train_direct(run_dir, config, source, CancelAt(cancel, 4), cancel=cancel)
    damage(checkpoint.last_dir(run_dir))
    before = tree_digest(run_dir)
    jobs = jobs_for(store)
    for extra in (0, 1):
        with pytest.raises(FtuiError) as err:
            jobs.resume(run_dir, config, extra_epochs=extra)
        assert err.value.code == "checkpoint_corrupt" and err.value.detail["run_id"] == run_dir.name
        assert err.value.detail["reason"]
    assert tree_digest(run_dir) == before
    assert not (run_dir.parent.parent / "pwned").exists()
    assert not jobs.is_active(run_dir)


def test_checkpoints_are_only_ever_unpickled_with_weights_only():
    package = Path(loop.__file__).resolve().parents[1]
    calls = [(path.name, call) for path in package.rglob("*.py")
             for call in re.findall(r"torch\.load\([^)]*\)", path.read_text(encoding="utf-8"))]
    assert calls, "no torch.load found: this check is out of date"
    assert all("weights_only=True" in call for _, call in calls), calls


def test_the_checkpoint_is_swapped_in_whole(make_text_run, monkeypatch):
    _, run_dir, config, source = make_text_run(**OPTIONS)
    cancel = threading.Event()
    train_direct(run_dir, config, source, CancelAt(cancel, 4), cancel=cancel)
    last = checkpoint.last_dir(run_dir)
    before = tree_digest(last)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)  # a crash while writing the next checkpoint
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    with pytest.raises(OSError):
        checkpoint.save(last, model, optimizer, {"step": 99})
    assert tree_digest(last) == before
    assert checkpoint.find(run_dir) == last


# -- train N more epochs ---------------------------------------------------------------------------
def test_more_epochs_on_a_finished_run(make_text_run, jobs_for, tmp_path):
    from ftui.services import Services

    store, run_dir, config, source = make_text_run(**OPTIONS)
    services = Services(store.root)
    try:
        services.jobs.submit(run_dir)
        assert services.jobs.wait(run_dir, WAIT_S) == "finished"
        run_id = run_dir.name
        first = read_status(run_dir)
        first_stretch = first["ended"] - first["started"]
        with pytest.raises(FtuiError) as err:
            services.resume_run(None, run_id)  # a finished run has nothing left to resume
        assert err.value.code == "run_not_resumable"
        for bad in (-1, 1.5, "x", 99):
            with pytest.raises(FtuiError) as err:
                services.resume_run(None, run_id, extra_epochs=bad)
            assert err.value.code == "bad_epochs"

        assert services.resume_run(None, run_id, extra_epochs=2) == run_id
        with pytest.raises(FtuiError) as err:
            services.resume_run(None, run_id, extra_epochs=1)
        assert err.value.code == "run_active"
        assert services.jobs.wait(run_dir, WAIT_S) == "finished"
    finally:
        services.close()

    assert read_json(run_dir / "config.json")["epochs"] == 4
    status = read_status(run_dir)
    assert status["state"] == "finished" and status["step"] == status["total_steps"] == 24
    assert status["extended_from_epochs"] == 2 and status["epochs"] == 4 and status["progress"] == 1.0
    # the duration keeps counting: the first stretch plus the extension, not the extension alone
    assert status["earlier_s"] == pytest.approx(first_stretch, abs=1e-2)
    assert services.jobs.snapshot(run_dir)["elapsed_s"] >= first_stretch + (status["ended"] - status["started"]) - 0.1  # rounded
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["event"] == "StepLogged" and not r.get("stage")]
    assert [r["step"] for r in rows] == list(range(1, 25))
    assert [e["epoch"] for e in evals(run_dir)] == [0.0, 1.0, 2.0, 3.0, 4.0]  # the head-first one, then each epoch
    rates = [r["learning_rate"] for r in rows]
    assert rates[11] < rates[12] and rates[12:] == sorted(rates[12:], reverse=True)  # a new decay, no warm-up
    # logged after the step: the 4-epoch schedule (warm-up 3 steps) at step 13
    assert rates[12] == pytest.approx(config.learning_rate * (24 - 13) / (24 - 3), rel=1e-6)


def test_resume_refusals(make_text_run, jobs_for):
    from ftui.services import Services

    store, run_dir, config, source = make_text_run(**OPTIONS)
    services = Services(store.root)
    try:
        update_status(run_dir, state="failed")
        with pytest.raises(FtuiError) as err:
            services.resume_run(None, run_dir.name)
        assert err.value.code == "no_checkpoint"
        update_status(run_dir, state="stopped")  # stopped before its first checkpoint: it starts over
        with pytest.raises(FtuiError) as err:
            services.resume_run(None, run_dir.name, extra_epochs=1)
        assert err.value.code == "no_checkpoint"
        services.resume_run(None, run_dir.name)
        assert services.jobs.wait(run_dir, WAIT_S) == "finished"
    finally:
        services.close()
    assert read_status(run_dir)["step"] == 12


def test_every_new_code_has_a_sentence():
    from ftui.messages import MESSAGES, describe

    for code in ("checkpoint_corrupt", "no_checkpoint", "run_not_resumable"):
        assert code in MESSAGES
    assert "damaged (bad bytes)" in describe("checkpoint_corrupt", {"run_id": "r", "reason": "bad bytes"})
