"""One run over several processes (the `gpus` option): DistributedDataParallel on gloo, 2 CPU processes
started by the real launcher (LocalBackend: python -m torch.distributed.run ... -m ftui.worker RUN_DIR).

A tiny dropout-free BERT built from a config and a synthetic text set: nothing from ../shared/data. Every
global batch of 7 rows splits 4 + 3 between the ranks, so the loss weighting of uneven chunks is exercised
at every step. The oracle is the run folders: metrics.jsonl, model/ and checkpoints/last/.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from ftui.engine import checkpoint
from ftui.engine.local_backend import WORKER_FILE, Slot
from ftui.runs.store import read_json, read_jsonl, read_status

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # the resume tests' helpers
from test_resume import evals, max_weight_diff, train_direct, train_losses, weights  # noqa: E402

pytestmark = pytest.mark.integration

WAIT_S = 240
# 44 training rows (16 for validation), batch 7: 7 steps an epoch, 21 in all; each batch 4 + 3 rows.
OPTIONS = {"n": 60, "epochs": 3, "lr": 1e-3, "batch_size": 7, "log_every_steps": 1}
TOL = 1e-5


@pytest.fixture(scope="module")
def dropout_free_bert(tmp_path_factory):
    """The conftest's tiny BERT without dropout: the ranks' and the single process's steps are then the
    same function of the weights (dropout masks would differ between the row chunks)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ftui.models.catalog import minilm_folder

    folder = tmp_path_factory.mktemp("tiny-bert-no-dropout")
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def ddp_jobs(jobs_for, monkeypatch):
    """A JobManager with one CPU slot of 2 threads; FTUI_DDP_CPU=1 lets a gpus=2 run train as 2 gloo processes."""
    monkeypatch.setenv("FTUI_DDP_CPU", "1")
    return lambda store: jobs_for(store, slots=[Slot(index=0, gpu=None, threads=2)], poll_s=0.1)


def _rank_one(run_dir, timeout=60.0) -> psutil.Process:
    """Rank 1 of the run's torchrun group: rank 0's sibling (rank 0 wrote worker.json)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pid = (read_json(run_dir / WORKER_FILE, {}) or {}).get("pid")
        if pid:
            for proc in psutil.Process(pid).parent().children():
                if proc.pid != pid and proc.environ().get("RANK") == "1":
                    return proc
        time.sleep(0.05)
    raise AssertionError("rank 1 of the run was not found")


def _wait_for_step(run_dir, step: int, timeout=120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "metrics.jsonl").exists() and any(
                r.get("event") == "StepLogged" and r.get("step", 0) >= step for r in read_jsonl(run_dir / "metrics.jsonl")):
            return
        time.sleep(0.01)
    raise AssertionError(f"step {step} was never logged")


def test_two_processes_equal_one_and_a_stopped_run_resumes_exactly(make_text_run, ddp_jobs, dropout_free_bert):
    model = str(dropout_free_bert)
    # A: one process, in this one (the loop as the worker calls it).
    store, run_a, config_a, source = make_text_run(model=model, **OPTIONS)
    result = train_direct(run_a, config_a, source)
    assert result.state == "finished" and result.step == 21

    # B: the same run on 2 ranks, through the launcher; C: 2 ranks, stopped mid-epoch by one rank's SIGTERM,
    # then resumed (2 ranks again).
    _, run_b, _, _ = make_text_run(model=model, gpus=2, **OPTIONS)
    _, run_c, config_c, _ = make_text_run(model=model, gpus=2, **OPTIONS)
    jobs = ddp_jobs(store)
    jobs.submit(run_b)
    jobs.submit(run_c)  # one slot: C waits for B
    assert jobs.wait(run_b, WAIT_S) == "finished", read_status(run_b).get("error")
    _wait_for_step(run_c, 2)
    os.kill(_rank_one(run_c).pid, signal.SIGTERM)  # a stop seen by rank 1 only must stop both at one step
    assert jobs.wait(run_c, WAIT_S) == "stopped", read_status(run_c).get("error")
    state = checkpoint.read_state(checkpoint.last_dir(run_c))
    stopped_at = state["step"]
    print(f"\nDDP: rank 1's SIGTERM stopped both ranks at step {stopped_at} (epoch {state['epoch']}, batch {state['batch']})")
    assert 0 < stopped_at < 21
    jobs.resume(run_c, config_c)
    assert jobs.wait(run_c, WAIT_S) == "finished", read_status(run_c).get("error")

    losses_a, losses_b, losses_c = train_losses(run_a), train_losses(run_b), train_losses(run_c)
    assert sorted(losses_b) == sorted(losses_c) == sorted(losses_a) == list(range(0, 22))  # 0: the head-first fit
    loss_diff = max(abs(losses_a[s] - losses_b[s]) for s in range(1, 21))
    model_diff = max(max_weight_diff(weights(run_a / "model"), weights(run_b / "model")),  # the best model
                     max_weight_diff(weights(checkpoint.last_dir(run_a)), weights(checkpoint.last_dir(run_b))))  # the last
    resume_loss = max(abs(losses_b[s] - losses_c[s]) for s in losses_b)
    resume_model = max_weight_diff(weights(run_b / "model"), weights(run_c / "model"))
    resume_ckpt = max_weight_diff(weights(checkpoint.last_dir(run_b)), weights(checkpoint.last_dir(run_c)))
    print(f"DDP vs one process: max |loss| diff over 20 steps {loss_diff:.3g}, model {model_diff:.3g}; "
          f"resumed vs uninterrupted: loss {resume_loss:.3g}, model {resume_model:.3g}, checkpoint {resume_ckpt:.3g}")
    assert loss_diff <= TOL and model_diff <= TOL
    # the evaluations, each rank scoring its chunk of every batch, gathered: the one process's
    for one, two in zip(evals(run_a), evals(run_b), strict=True):
        assert (one["step"], one["accuracy"]) == (two["step"], two["accuracy"]) and abs(one["loss"] - two["loss"]) <= TOL
    assert resume_loss <= TOL and resume_model <= TOL and resume_ckpt <= TOL
    # only rank 0 wrote: one line per step, and the files of one run
    status = read_status(run_b)
    assert status["state"] == "finished" and status["step"] == status["total_steps"] == 21
    assert sum(r["event"] == "RunFinished" for r in read_jsonl(run_b / "metrics.jsonl")) == 1
