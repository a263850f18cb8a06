"""The arithmetic of one run over several processes (engine/distributed.py), the `gpus` option and how such a
run is launched (engine/launch.py). The 2-process run itself: tests/integration/test_ddp.py."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ftui.config import RunConfig
from ftui.engine.distributed import Ranks, chunk_bounds, step_loss
from ftui.engine.launch import gpus_refusal, run_gpus, worker_command, worker_env
from ftui.engine.local_backend import STOP_FILE, LocalBackend, Slot, Worker, plan_slots
from ftui.engine.ray_backend import RayBackend
from ftui.errors import FtuiError
from ftui.messages import describe
from ftui.runs.store import RunStore


# -- sharding ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 5, 7, 8, 64])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_chunks_cover_every_row_once_in_order_as_tensor_split(n, world):
    chunks = [chunk_bounds(n, rank, world) for rank in range(world)]
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))  # contiguous, in rank order
    rows = torch.arange(n)
    assert [rows[a:b].tolist() for a, b in chunks] == [t.tolist() for t in torch.tensor_split(rows, world)]


@pytest.mark.parametrize("n, world", [(7, 2), (8, 2), (5, 3), (2, 3), (1, 2), (9, 4)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_averaged_rank_gradients_are_the_global_mean_loss_gradient(n, world, smoothing):
    """What DDP does (each rank's backward on its chunk, gradients averaged over the world) equals one
    process's backward on the whole batch's mean loss, uneven chunks and ranks left without rows included."""
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    batch = {"x": torch.randn(n, 6), "labels": torch.randint(0, 3, (n,))}

    model.zero_grad()
    F.cross_entropy(model(batch["x"]), batch["labels"], label_smoothing=smoothing).backward()
    expected = [p.grad.clone() for p in model.parameters()]

    summed = [torch.zeros_like(p) for p in model.parameters()]
    losses = []
    for rank in range(world):
        local, weight = Ranks(rank=rank, world=world).shard(batch)
        assert int(local["x"].shape[0]) >= 1  # every rank runs a forward and backward (DDP needs all of them)
        model.zero_grad()
        loss = step_loss(model(local["x"]), local["labels"], weight, smoothing)
        loss.backward()
        losses.append(loss.item())
        summed = [s + p.grad for s, p in zip(summed, model.parameters())]
    for got, want in zip(summed, expected):
        torch.testing.assert_close(got / world, want, rtol=1e-5, atol=1e-7)
    # the logged loss: the ranks' mean of their weighted losses = the global batch's mean loss
    mean = F.cross_entropy(model(batch["x"]), batch["labels"], label_smoothing=smoothing).item()
    assert sum(losses) / world == pytest.approx(mean, rel=1e-5)


def test_a_rank_without_rows_adds_nothing():
    batch = {"x": torch.ones(1, 2), "labels": torch.zeros(1, dtype=torch.long)}
    local, weight = Ranks(rank=1, world=2).shard(batch)
    assert weight == 0.0 and local["x"].shape[0] == 1
    assert Ranks(rank=1, world=2).rows(batch)["x"].shape[0] == 0  # evaluation: nothing to run


def test_one_process_is_plain():
    ranks = Ranks()
    cancel = threading.Event()
    assert ranks.main and not ranks.active
    assert ranks.agreed(cancel) is cancel
    model = torch.nn.Linear(2, 2)
    assert ranks.wrap(model) is model
    assert ranks.agree(3) == 3 and ranks.smallest(5) == 5
    t = torch.tensor(2.0)
    assert ranks.sum(t).item() == 2.0


# -- the gpus option ----------------------------------------------------------------------------------
def build(**options) -> RunConfig:
    return RunConfig.build("text", "m", "u-0000000000000000", 1e-3, 1, options)


def test_gpus_option_defaults_to_one_and_round_trips():
    assert build().train.gpus == 1
    config = build(gpus="2")
    assert config.train.gpus == 2
    assert RunConfig.from_dict(config.to_dict()).train.gpus == 2
    assert config.options()["gpus"] == 2
    assert build(gpus=None).train.gpus == 1 and build(gpus="").train.gpus == 1  # an empty form field
    raw = config.to_dict()
    del raw["train"]["gpus"]  # a run written before the option existed
    assert RunConfig.from_dict(raw).train.gpus == 1


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", 65])
def test_gpus_option_must_be_a_whole_number_from_one(value):
    with pytest.raises(FtuiError) as err:
        build(gpus=value)
    assert err.value.code == "bad_option" and err.value.detail["name"] == "gpus"


# -- launching ------------------------------------------------------------------------------------------
def test_the_worker_command():
    assert worker_command("/venv/python", 1, Path("/r")) == ["/venv/python", "-m", "ftui.worker", "/r"]
    assert worker_command("/venv/python", 4, Path("/r")) == [
        "/venv/python", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4", "-m", "ftui.worker", "/r"]


def test_gpus_are_grouped_into_slots():
    slots = plan_slots("0+1,2")
    assert [s.gpu for s in slots] == ["0,1", "2"]
    assert slots[0].env()["CUDA_VISIBLE_DEVICES"] == "0,1"
    for bad in ("0++1", "+0", "0+", "a+1"):
        with pytest.raises(ValueError):
            plan_slots(bad)


def test_a_run_needs_a_slot_with_its_gpus(monkeypatch):
    monkeypatch.delenv("FTUI_DDP_CPU", raising=False)
    one_each = [Slot(0, "0", 4), Slot(1, "1", 4)]
    assert gpus_refusal(1, one_each) is None
    problem = gpus_refusal(2, one_each)
    assert problem.code == "gpus_unavailable" and problem.detail == {"wanted": 2, "most": 1}
    assert "2 GPUs" in describe(problem.code, problem.detail) and "1 GPU)" in describe(problem.code, problem.detail)
    assert gpus_refusal(2, [Slot(0, "0,1", 4)]) is None
    assert gpus_refusal(8, [Slot(0, None, 0, "Ray")]) is None  # the cluster finds the GPUs
    cpu = [Slot(0, None, 2)]
    assert gpus_refusal(2, cpu).code == "gpus_unavailable"
    monkeypatch.setenv("FTUI_DDP_CPU", "1")  # the tests' gloo path
    assert gpus_refusal(2, cpu) is None


def test_worker_env_shows_only_the_runs_gpus():
    assert worker_env(Slot(0, "2,3", 8), 1)["CUDA_VISIBLE_DEVICES"] == "2"
    assert worker_env(Slot(0, "2,3", 8), 2)["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert worker_env(Slot(0, "0", 8), 1) == Slot(0, "0", 8).env()
    cpu = worker_env(Slot(0, None, 4), 2)
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and cpu["FTUI_THREADS"] == "2"  # two processes share the slot's cores


def gpu_run(tmp_path, gpus: int) -> Path:
    store = RunStore(tmp_path / "runs")
    return store.create(None, build(gpus=gpus))[1]


def test_the_local_backend_refuses_a_slot_too_small_and_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("FTUI_DDP_CPU", raising=False)
    run_dir = gpu_run(tmp_path, 2)
    assert run_gpus(run_dir) == 2
    with pytest.raises(FtuiError) as err:
        LocalBackend().start(run_dir, Slot(0, "0", 1))
    assert err.value.code == "gpus_unavailable"
    assert not (run_dir / "worker.log").exists()


def test_a_multi_gpu_worker_is_stopped_by_the_stop_file(tmp_path):
    worker = Worker(run_dir=tmp_path, pid=2**22 + 12345, stop_file=True)  # no such process: nothing is signalled
    worker.ask_to_stop()
    assert (tmp_path / STOP_FILE).exists() and worker.stop_asked


def test_ray_runs_the_same_launcher_in_one_job_holding_the_gpus(tmp_path):
    submitted = {}

    class Client:
        def submit_job(self, **kwargs):
            submitted.update(kwargs)

    run_dir = gpu_run(tmp_path, 2)
    RayBackend("http://head:8265", client=Client(), python="/venv/python").start(run_dir, Slot(0, None, 1, "Ray"))
    assert submitted["entrypoint"] == f"/venv/python -m torch.distributed.run --standalone --nproc_per_node=2 -m ftui.worker {run_dir}"
    assert submitted["entrypoint_num_gpus"] == 2
