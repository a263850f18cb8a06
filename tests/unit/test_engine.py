"""The engine on a tiny random BERT: event order, cancel, failures, queueing, snapshots.

metrics.jsonl and status.json are the oracle (the same files the UI reads).
"""
from __future__ import annotations

import threading
import time

import pytest
import torch

from ftui.engine import loop, recipe, steps as loop_steps
from ftui.engine.events import EvalLogged, RunFinished, RunStarted, StepLogged
from ftui.engine.sinks import FanOut, JsonlSink, MemorySink, StatusSink
from ftui.runs.store import read_jsonl, read_status
from ftui.tasks import get_task
from ftui.worker import read_train_data, run_job

WAIT_S = 120


def events(run_dir) -> list[dict]:
    return read_jsonl(run_dir / "metrics.jsonl")


def wait_for(predicate, timeout=WAIT_S, every=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    raise AssertionError("condition not reached in time")


# -- a whole run ----------------------------------------------------------------------------
def test_events_come_in_order_and_files_agree(make_text_run, jobs_for):
    store, run_dir, config, source = make_text_run(n=64, epochs=3, lr=3e-3)
    jobs = jobs_for(store)
    started = time.monotonic()
    jobs.submit(run_dir)
    assert time.monotonic() - started < 1.0, "submit must return at once"
    assert jobs.wait(run_dir, WAIT_S) == "finished"

    records = events(run_dir)
    kinds = [r["event"] for r in records]
    assert kinds[:2] == ["RunStarted", "RecipeChosen"] and kinds[-1] == "RunFinished"
    assert set(kinds[2:-1]) == {"StepLogged", "EvalLogged", "PreflightMeasured"}
    start = records[0]
    assert start["total_steps"] == start["steps_per_epoch"] * 3 and start["n_train"] == 48
    # head first: the head fitted on frozen features is logged (and evaluated) at step 0, before any step
    head_rows = [r for r in records if r.get("stage") == "head"]
    assert [(r["event"], r["step"]) for r in head_rows] == [("StepLogged", 0), ("EvalLogged", 0)]
    assert kinds.index("StepLogged") == records.index(head_rows[0])
    steps = [r["step"] for r in records if r["event"] == "StepLogged" and not r.get("stage")]
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == start["total_steps"]
    evals = [r for r in records if r["event"] == "EvalLogged"]
    assert [e["epoch"] for e in evals] == [0.0, 1.0, 2.0, 3.0]  # the head, then once per (fast) epoch, at its end
    for e in evals[1:]:  # an evaluation follows the training step it reports on
        assert kinds.index("StepLogged") < records.index(e)
    for e in evals:
        assert 0.0 <= e["accuracy"] <= 1.0 and e["loss"] > 0
    assert records[-1]["state"] == "finished" and records[-1]["step"] == steps[-1]

    status = read_status(run_dir)
    assert status["state"] == "finished" and status["progress"] == 1.0 and status["error"] is None
    assert status["step"] == status["total_steps"] == steps[-1]
    assert status["best_accuracy"] == max(e["accuracy"] for e in evals)
    assert status["started"] <= status["ended"]
    assert (run_dir / "model" / "config.json").is_file()


def test_model_is_saved_for_plain_transformers(make_text_run, jobs_for):
    """The encoder loads with AutoModel; mean pooling + head.safetensors give ftui's own logits."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from ftui.predict import Predictor

    store, run_dir, config, source = make_text_run(n=32, epochs=1)
    jobs = jobs_for(store)
    jobs.submit(run_dir)
    assert jobs.wait(run_dir, WAIT_S) == "finished"
    encoder = AutoModel.from_pretrained(run_dir / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")
    head = load_file(run_dir / "model" / "head.safetensors")
    assert encoder.config.id2label == {0: "neg", 1: "pos"} and encoder.config.label2id == {"neg": 0, "pos": 1}
    texts = ["a great movie", "the plot was awful and really dull"]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        probs = ((hidden * mask).sum(1) / mask.sum(1) @ head["weight"].T + head["bias"]).softmax(-1)
    ours = Predictor.from_run(run_dir).probabilities(texts)
    assert torch.allclose(probs, ours, atol=1e-5)


def test_it_learns_and_a_seed_repeats_the_run(make_text_run, jobs_for):
    losses = []
    for _ in range(2):
        store, run_dir, config, source = make_text_run(n=96, epochs=8, lr=3e-3)
        jobs = jobs_for(store)
        jobs.submit(run_dir)
        assert jobs.wait(run_dir, WAIT_S) == "finished"
        records = events(run_dir)
        losses.append([r["loss"] for r in records if r["event"] == "StepLogged"])
        evals = [r for r in records if r["event"] == "EvalLogged"]
        assert evals[-1]["loss"] < evals[0]["loss"]
        assert evals[-1]["accuracy"] >= 0.75
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)


# -- cancel -----------------------------------------------------------------------------------
class CancelAfter:
    """A test-only observer that presses "stop" once `n` steps were logged."""

    def __init__(self, cancel: threading.Event, n: int):
        self.cancel, self.n = cancel, n

    def emit(self, event):
        if isinstance(event, StepLogged) and event.step >= self.n:
            self.cancel.set()


def test_cancel_stops_at_the_next_step_and_keeps_the_model(make_text_run):
    store, run_dir, config, source = make_text_run(n=64, epochs=5, log_every_steps=1)
    cancel = threading.Event()
    memory = MemorySink()
    sink = FanOut(JsonlSink(run_dir / "metrics.jsonl"), memory, StatusSink(run_dir), CancelAfter(cancel, 3))
    result = loop.train(config, get_task("text"), source, read_train_data(run_dir), sink, cancel, run_dir / "model")

    assert result.state == "stopped" and result.step == 3
    records = events(run_dir)
    assert records == memory.records()
    assert records[-1] == {"event": "RunFinished", "state": "stopped", "step": 3,
                           "elapsed_s": records[-1]["elapsed_s"]}
    assert [r["step"] for r in records if r["event"] == "StepLogged"] == [0, 1, 2, 3]  # 0: the head-first fit
    status = read_status(run_dir)
    assert status["state"] == "stopped" and status["step"] == 3 and status["progress"] < 1
    assert (run_dir / "model" / "model.safetensors").is_file()


def test_cancel_through_the_job_manager(make_text_run, jobs_for):
    store, run_dir, config, source = make_text_run(n=200, epochs=40, batch_size=4)  # ~2,000 steps
    jobs = jobs_for(store)
    jobs.submit(run_dir)
    wait_for(lambda: jobs.snapshot(run_dir)["step"] >= 1)
    assert jobs.cancel(run_dir)
    assert jobs.wait(run_dir, WAIT_S) == "stopped"
    status = read_status(run_dir)
    assert 1 <= status["step"] < status["total_steps"]
    assert events(run_dir)[-1]["event"] == "RunFinished" and events(run_dir)[-1]["state"] == "stopped"
    assert (run_dir / "model" / "config.json").is_file()
    assert jobs.snapshot(run_dir)["state"] == "stopped"


# -- failures ---------------------------------------------------------------------------------
def test_a_broken_model_fails_the_run_with_a_message_and_the_worker_lives_on(make_text_run, jobs_for, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json", encoding="utf-8")
    store, bad_run, bad_config, bad_source = make_text_run(n=32, epochs=1, model=broken)
    jobs = jobs_for(store)
    jobs.submit(bad_run)
    assert jobs.wait(bad_run, WAIT_S) == "failed"
    status = read_status(bad_run)
    assert status["error"]["code"] == "model_load_failed"
    assert "could not be loaded" in status["error"]["message"]
    last = events(bad_run)[-1]
    assert last["event"] == "RunFailed" and last["code"] == "model_load_failed"
    assert (bad_run / "error.log").read_text().startswith("Traceback")
    snap = jobs.snapshot(bad_run)
    assert snap["state"] == "failed" and snap["error"]["code"] == "model_load_failed"

    # the same worker thread takes the next job
    _, good_run, config, source = make_text_run(n=32, epochs=1)
    jobs.submit(good_run)
    assert jobs.wait(good_run, WAIT_S) == "finished"


def test_a_crash_mid_training_marks_the_run_failed(make_text_run, monkeypatch):
    real = loop_steps.logits_of  # the training step (steps.train_step) reads the logits through it
    calls = []

    def explode_on_third_step(output):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom: simulated kernel failure")
        return real(output)

    monkeypatch.setattr(loop_steps, "logits_of", explode_on_third_step)
    store, run_dir, config, source = make_text_run(n=64, epochs=2, log_every_steps=1)
    # In this process (the patch does not reach a worker process): what `python -m ftui.worker` runs.
    assert run_job(run_dir, threading.Event()) == "failed"
    status = read_status(run_dir)
    assert status["error"]["code"] == "training_failed"
    assert "RuntimeError: boom: simulated kernel failure" in status["error"]["message"]
    records = events(run_dir)
    assert [r["event"] for r in records] == ["RunStarted", "RecipeChosen", "StepLogged", "EvalLogged",  # the head
                                             "StepLogged", "StepLogged", "RunFailed"]
    assert [r["step"] for r in records if r["event"] == "StepLogged"] == [0, 1, 2]
    assert events(run_dir)[-1]["step"] == 2


def test_missing_labels_file_fails_readably(make_text_run, jobs_for):
    store, run_dir, config, source = make_text_run(n=32, epochs=1)
    (run_dir / "labels.json").unlink()
    jobs = jobs_for(store)
    jobs.submit(run_dir)
    assert jobs.wait(run_dir, WAIT_S) == "failed"
    assert "labels.json" in read_status(run_dir)["error"]["message"]


# -- queueing and snapshots ---------------------------------------------------------------------
def test_second_run_waits_queued_and_can_be_cancelled_before_it_starts(make_text_run, jobs_for):
    store, long_run, long_config, source = make_text_run(n=200, epochs=40, batch_size=4)
    _, queued_run, config, _ = make_text_run(n=32, epochs=1)
    jobs = jobs_for(store, max_concurrent=1)
    jobs.submit(long_run)
    jobs.submit(queued_run)
    wait_for(lambda: jobs.snapshot(long_run)["step"] >= 1)
    assert jobs.snapshot(queued_run)["state"] == "queued"
    assert read_status(queued_run)["state"] == "queued"

    assert jobs.cancel(queued_run)
    assert read_status(queued_run)["state"] == "stopped"  # at once: it never started
    assert not (queued_run / "model").exists()
    jobs.cancel(long_run)
    assert jobs.wait(long_run, WAIT_S) == "stopped"


def test_queued_run_starts_when_the_slot_frees(make_text_run, jobs_for):
    store, first, config, source = make_text_run(n=32, epochs=1)
    _, second, _, _ = make_text_run(n=32, epochs=1)
    jobs = jobs_for(store, max_concurrent=1)
    jobs.submit(first)
    jobs.submit(second)
    assert jobs.wait(first, WAIT_S) == "finished"
    assert jobs.wait(second, WAIT_S) == "finished"
    assert read_status(second)["started"] >= read_status(first)["ended"]


def test_snapshot_is_the_same_live_and_after_a_restart(make_text_run, jobs_for):
    store, run_dir, config, source = make_text_run(n=64, epochs=2)
    jobs = jobs_for(store)
    jobs.submit(run_dir)
    assert jobs.wait(run_dir, WAIT_S) == "finished"
    after_restart = jobs_for(store).snapshot(run_dir)  # a new manager knows the run only from its files
    assert after_restart["state"] == "finished" and after_restart["progress"] == 1.0
    assert after_restart["labels"] == ["neg", "pos"]
    assert after_restart["n_rows"] == len(after_restart["rows"]) > 0
    assert after_restart["rows"][-1]["split"] == "validation"
    assert after_restart["samples_per_second"] > 0 and after_restart["eta_s"] == 0.0
    tail = jobs.snapshot(run_dir, since=after_restart["n_rows"] - 1)
    assert tail["rows"] == after_restart["rows"][-1:]
    assert jobs.snapshot(run_dir, since=10**9)["rows"] == []


def test_live_snapshot_reports_progress_and_eta(make_text_run, jobs_for):
    store, run_dir, config, source = make_text_run(n=200, epochs=40, batch_size=4)
    jobs = jobs_for(store)
    jobs.submit(run_dir)
    wait_for(lambda: jobs.snapshot(run_dir)["step"] >= 30)
    snap = jobs.snapshot(run_dir)
    assert snap["state"] == "running" and 0 < snap["progress"] < 1
    assert snap["eta_s"] is not None and snap["eta_s"] > 0
    assert snap["samples_per_second"] > 0 and snap["elapsed_s"] > 0
    assert snap["rows"] and snap["rows"][0]["split"] == "train"
    jobs.cancel(run_dir)
    assert jobs.wait(run_dir, WAIT_S) == "stopped"


# -- pieces of the loop ---------------------------------------------------------------------------
def test_optimizer_groups_give_the_new_head_a_bigger_lr_and_no_decay_on_biases():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    head = frozenset({"2.weight", "2.bias"})
    from ftui.config import TrainOptions

    opt = recipe.build_optimizer(model, head, 1e-4, TrainOptions(head_lr_multiplier=10, weight_decay=0.01))
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["body"]["lr"] == 1e-4 and groups["body"]["weight_decay"] == 0.01
    assert groups["body_no_decay"]["weight_decay"] == 0.0 and len(groups["body_no_decay"]["params"]) == 3
    assert groups["head"]["lr"] == pytest.approx(1e-3) and groups["head_no_decay"]["weight_decay"] == 0.0


def test_schedule_warms_up_then_decays_to_zero():
    lrs = [recipe.lr_factor(step, 100, 0.1) for step in range(100)]
    assert lrs[0] < lrs[5] < lrs[10] == pytest.approx(1.0)
    assert lrs[10:] == sorted(lrs[10:], reverse=True) and lrs[-1] == pytest.approx(1 / 90)
    # each group keeps its own multiple of the rate (body, head x10)
    opt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "base_lr": 1.0},
                           {"params": [torch.nn.Parameter(torch.zeros(1))], "base_lr": 10.0}], lr=1.0)
    recipe.set_learning_rates(opt, 50, 100, 0.1)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([50 / 90, 500 / 90])


def test_logging_and_evaluation_cadence():
    from ftui.engine import steps as loop  # the cadence helpers live with the loop's other small pieces

    assert loop.auto_log_every(45) == 1 and loop.auto_log_every(1000) == 10 and loop.auto_log_every(10**6) == 25
    assert loop.eval_points(100, 4) == {25, 50, 75, 100} and loop.eval_points(3, 10) == {1, 2, 3}
    assert loop.auto_evals_per_epoch(30) == 1 and loop.auto_evals_per_epoch(300) == 3
    assert loop.auto_evals_per_epoch(3600) == 4


def test_status_sink_throttles_progress_but_writes_state_changes(tmp_path):
    sink = StatusSink(tmp_path, min_interval_s=3600)
    sink.emit(RunStarted(total_steps=10, steps_per_epoch=10, epochs=1, n_train=10, n_validation=2, time=1.0))
    sink.emit(StepLogged(step=1, epoch=0.1, loss=1.0, learning_rate=1e-4, samples_per_second=5, elapsed_s=1))
    assert read_status(tmp_path)["step"] == 0 and sink.current()["step"] == 1  # memory is current
    sink.emit(EvalLogged(step=1, epoch=0.1, loss=1.0, accuracy=0.5, elapsed_s=1))
    sink.emit(RunFinished(state="finished", step=10, elapsed_s=2))
    assert read_status(tmp_path)["state"] == "finished" and read_status(tmp_path)["best_accuracy"] == 0.5
