"""The adaptive recipe on tiny models: the head-first stage, the LR range test, pre-flight, length buckets,
data-aware decisions. metrics.jsonl and status.json are the oracle, as for the rest of the engine."""
from __future__ import annotations

import threading

import pytest
import torch

from ftui.config import TrainOptions
from ftui.engine import adapt, checkpoint, head, loop, lr_range, preflight
from ftui.worker import read_train_data
from ftui.engine.sinks import FanOut, JsonlSink, StatusSink
from ftui.runs.store import read_jsonl, read_status
from ftui.tasks import get_task
from ftui.tasks.text_batches import TextBatches, bucket_edges


def train_direct(run_dir, config, source, *observers, cancel=None):
    sink = FanOut(JsonlSink(run_dir / "metrics.jsonl"), StatusSink(run_dir), *observers)
    return loop.train(config, get_task(config.task), source, read_train_data(run_dir), sink,
                      cancel or threading.Event(), run_dir / "model", checkpoint_dir=checkpoint.last_dir(run_dir))


# -- the head-first stage ---------------------------------------------------------------------------
def test_the_backbone_reads_each_example_once_and_the_head_fit_reuses_the_features(make_text_run, monkeypatch):
    """Stage 1 runs the frozen encoder once per feature batch; the L2 grid and the final fit use only the
    cached features (no backbone call), however many L-BFGS iterations they take."""
    store, run_dir, config, source = make_text_run(n=64, epochs=1, train_head_only=True)
    calls = {"encoder": 0, "during_fit": 0}
    real_fit = head.fit
    fitting = threading.Event()

    def counting_fit(*args, **kwargs):
        fitting.set()
        try:
            return real_fit(*args, **kwargs)
        finally:
            fitting.clear()

    real_build = get_task("text").build

    def build_and_count(self, *args, **kwargs):
        built = real_build(*args, **kwargs)

        def hook(*_):
            calls["encoder"] += 1
            calls["during_fit"] += fitting.is_set()
        built.model.encoder.register_forward_hook(hook)
        return built

    monkeypatch.setattr(head, "fit", counting_fit)
    monkeypatch.setattr(type(get_task("text")), "build", build_and_count)
    result = train_direct(run_dir, config, source)
    # 48 training + 16 validation texts in batches of head.FEATURE_BATCH (64): one call each
    assert calls == {"encoder": 2, "during_fit": 0}
    assert result.state == "finished" and result.step == 0 and result.total_steps == 0
    records = read_jsonl(run_dir / "metrics.jsonl")
    assert [(r["event"], r.get("stage")) for r in records if r["event"] in ("StepLogged", "EvalLogged")] == \
        [("StepLogged", "head"), ("EvalLogged", "head")]
    status = read_status(run_dir)
    assert status["state"] == "finished" and status["progress"] == 1.0 and status["saved_model"] == "best"
    assert (run_dir / "model" / "head.safetensors").is_file()


def test_the_head_fit_is_a_logistic_regression_on_the_features():
    """On separable features the fitted Linear head classifies every training point and generalises."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=generator) * 3
    y = torch.arange(3).repeat(40)
    x = centres[y] + torch.randn(120, 16, generator=generator)
    linear = torch.nn.Linear(16, 3)
    fit = head.fit(linear, head.Features(x, y), seed=0)
    assert fit.accuracy == 1.0 and fit.c in head.C_GRID and fit.loss < 0.1
    test_y = torch.arange(3).repeat(10)
    test = head.Features(centres[test_y] + torch.randn(30, 16, generator=generator), test_y)
    assert head.score(linear, test)[1] >= 0.95


def test_a_resumed_two_stage_run_never_repeats_the_head_stage(make_text_run, jobs_for):
    """Stopped during fine-tuning, resumed: the head-first rows stay once, and stage 1 is not run again."""
    from ftui.engine.events import StepLogged

    store, run_dir, config, source = make_text_run(n=64, epochs=2, lr=3e-3, log_every_steps=1)
    cancel = threading.Event()

    class StopAt:
        def emit(self, event):
            if isinstance(event, StepLogged) and event.step >= 3:
                cancel.set()

    first = train_direct(run_dir, config, source, StopAt(), cancel=cancel)
    assert first.state == "stopped" and first.step == 3
    assert checkpoint.read_state(checkpoint.last_dir(run_dir))["recipe"]["batch_size"] == 8
    jobs = jobs_for(store)
    jobs.resume(run_dir, config)
    assert jobs.wait(run_dir, 120) == "finished"
    head_rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("stage") == "head"]
    assert [r["event"] for r in head_rows] == ["StepLogged", "EvalLogged"]


def test_one_stage_when_head_first_is_off(make_text_run):
    store, run_dir, config, source = make_text_run(n=32, epochs=1, head_first=False)
    train_direct(run_dir, config, source)
    records = read_jsonl(run_dir / "metrics.jsonl")
    assert not any(r.get("stage") == "head" for r in records)
    assert "everything from the start" in read_status(run_dir)["recipe"]


# -- pre-flight ---------------------------------------------------------------------------------------
def test_preflight_is_measured_before_any_eta_is_claimed(make_text_run):
    store, run_dir, config, source = make_text_run(n=96, epochs=2, log_every_steps=1)
    etas = []

    class Watch:
        def __init__(self):
            self.status = StatusSink(run_dir)

        def emit(self, event):
            self.status.emit(event)
            etas.append((type(event).__name__, self.status.current().get("eta_s")))

    sink = FanOut(JsonlSink(run_dir / "metrics.jsonl"), Watch())
    loop.train(config, get_task("text"), source, read_train_data(run_dir), sink, threading.Event(), run_dir / "model")
    first_preflight = next(i for i, (kind, _) in enumerate(etas) if kind == "PreflightMeasured")
    assert all(eta is None for _, eta in etas[:first_preflight])
    record = next(r for r in read_jsonl(run_dir / "metrics.jsonl") if r["event"] == "PreflightMeasured")
    assert record["batch_size"] == 8 and record["seconds_per_step"] > 0 and record["peak_memory_mb"] > 0
    assert record["eta_s"] == pytest.approx(record["seconds_per_step"] * (18 - preflight.PREFLIGHT_STEPS), abs=0.06)


def test_batch_search_halves_on_out_of_memory_and_keeps_a_margin():
    tried = []

    def fake_step(batch):
        tried.append(batch)
        if batch > 32:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return batch * 1.0e9  # bytes at the peak: 1 GB per example

    assert preflight.find_batch_size(fake_step, n_train=100_000, memory_total=30e9) == 16  # 32 fits, but > 85%
    assert tried == [128, 64, 32, 16]
    tried.clear()
    assert preflight.find_batch_size(fake_step, n_train=200) == 8  # 200 examples: keep >= 20 steps an epoch
    with pytest.raises(RuntimeError, match="device-side assert"):
        preflight.find_batch_size(lambda b: (_ for _ in ()).throw(RuntimeError("device-side assert")), 10_000)


# -- the learning-rate range test ------------------------------------------------------------------------
def test_the_range_test_suggests_a_rate_inside_its_sweep_and_stops_on_divergence(make_text_run):
    # one stage: on this toy set a head fitted first is so sure of itself that the losses are all spikes.
    # Swept on to a rate of 10, the loss blows up well before the end, and the test stops there; the time
    # budget is generous, so the sweep's length does not depend on how busy the machine is.
    store, run_dir, config, source = make_text_run(n=96, epochs=1, head_first=False)
    result = lr_range.range_test(config, get_task("text"), source, read_train_data(run_dir), max_steps=60, max_lr=10.0,
                                 budget_s=600)
    rates = [point["learning_rate"] for point in result.curve]
    assert rates == sorted(rates) and lr_range.MIN_LR <= rates[0] and rates[-1] <= 10.0
    assert result.ended_by == "diverged" and result.steps < 60  # stopped before the end of its sweep
    assert result.learning_rate is not None and rates[0] <= result.learning_rate <= rates[-1]


def test_the_suggestion_reads_where_the_loss_blows_up_not_its_noise():
    rates = lr_range.sweep_rates(20, 1e-6, 1e-1)
    # flat and noisy (one hard batch at step 6), then blowing up from step 15 on
    losses = [1.0, 0.9, 1.1, 1.0, 0.95, 1.05, 3.0, 1.0, 0.9, 0.8, 0.8, 0.85, 0.9, 1.1, 1.3, 1.8, 2.5, 4.0, 6.0, 9.0]
    curve = [{"learning_rate": r, "loss": loss, "raw_loss": loss} for r, loss in zip(rates, losses)]
    # the hard batch at step 6 moves the running median little; the blow-up from step 14 on does
    limit = lr_range.blow_up_level(losses)
    assert 1.5 < limit < 2.0  # 1.5 x the starting level, a little more for the starting steps' spread
    first = next(i for i, m in enumerate(lr_range.running_median(losses)) if i >= lr_range.WINDOW and m > limit)
    assert lr_range.suggest(curve) == pytest.approx(rates[first] / lr_range.DIVISOR) and first > 6
    flat = [{"learning_rate": r, "loss": 1.0, "raw_loss": 1.0 + 0.2 * (i % 2)} for i, r in enumerate(rates)]
    assert lr_range.suggest(flat) is None  # never blows up: nothing to read, the catalog's rate is used


# -- length buckets and data-aware decisions -----------------------------------------------------------
def test_training_batches_use_at_most_the_configured_number_of_shapes(tiny_bert_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    texts = [" ".join(["word"] * (1 + (i * 7) % 60)) for i in range(300)]
    batches = TextBatches(tokenizer, texts, list(range(300)), max_length=64, batch_size=8, shuffle=True, seed=0,
                          buckets=4)
    widths, seen = set(), []
    for epoch in range(2):
        batches.set_epoch(epoch)
        for batch in batches:
            widths.add(batch["input_ids"].shape[1])
            seen += batch["labels"].tolist()
    assert len(widths) <= 4 and all(w % 8 == 0 for w in widths)
    assert sorted(seen) == sorted(list(range(300)) * 2)  # every text once per epoch
    assert len(batches) == sum(1 for _ in batches)
    # padding: the edges minimise it, so a bucketed epoch pads far less than padding all to the longest
    padded = sum(b["input_ids"].numel() for b in batches)
    assert padded < 0.7 * 300 * max(widths)


def test_bucket_edges_cover_every_length():
    assert bucket_edges([3, 5, 9, 17, 33], 2) in ([16, 40], [8, 40])
    assert bucket_edges([10] * 5, 4) == [16]
    assert bucket_edges([], 3) == []


def test_image_size_is_the_backbones_own_and_says_when_it_upscales():
    ctx = adapt.Context(task="image", n_train=100, n_classes=5, device="cpu",
                        profile={"median_side": 128, "native_size": 224, "fixed_size": False})
    options, choices = adapt.decide(TrainOptions(), ctx)
    assert options.image_size == 224 and options.batch_size == adapt.CPU_BATCH
    assert "upscaled" in next(c.why for c in choices if c.name == "image_size")
    assert options.freeze_batchnorm is False  # batches of 16 update the statistics (measured better)
    big = adapt.decide(TrainOptions(), adapt.Context(**{**ctx.__dict__, "profile": {"median_side": 600,
                                                                                     "native_size": 224}}))
    assert big[0].image_size == 224 and "upscaled" not in next(c.why for c in big[1] if c.name == "image_size")
    given = adapt.decide(TrainOptions(image_size=96, batch_size=4), ctx)
    assert given[0].image_size == 96 and given[0].freeze_batchnorm is True  # batches of 4: too noisy
    assert "image_size" not in {c.name for c in given[1]}  # a value the user set is not "decided"


def test_the_recipe_line_names_each_decision():
    ctx = adapt.Context(task="text", n_train=100, n_classes=3, device="cpu", profile={})
    options, choices = adapt.decide(TrainOptions(), ctx)
    line = adapt.summary(options, choices, "text", split_available=True)
    assert line.startswith("head first, then everything") and "mean pooling" in line and "batch 16" in line
    assert options.head_lr_multiplier == 1.0
    assert adapt.decide(TrainOptions(head_first=False), ctx)[0].head_lr_multiplier == 10.0


def test_compiling_is_for_text_on_a_gpu_only_and_keeps_the_weight_names():
    from ftui.engine.recipe import compile_for_gpu

    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    names = list(model.state_dict())
    assert not compile_for_gpu(model, torch.device("cpu"), "text")
    assert not compile_for_gpu(model, torch.device("cuda"), "image")
    assert getattr(model, "_compiled_call_impl", None) is None
    assert compile_for_gpu(model, torch.device("cuda"), "text")  # lazy: nothing compiles until a forward pass
    assert model._compiled_call_impl is not None and list(model.state_dict()) == names


def test_a_text_run_of_the_old_format_predicts_but_is_not_resumed(make_text_run, tiny_bert_dir):
    import shutil

    from ftui.errors import FtuiError
    from ftui.runs.store import update_status
    from ftui.services import Services

    store, run_dir, config, source = make_text_run(n=16, epochs=1)
    shutil.copytree(tiny_bert_dir, run_dir / "model")  # what ftui saved before: a sequence classifier
    update_status(run_dir, state="stopped")
    services = Services(store.root)
    try:
        with pytest.raises(FtuiError) as err:
            services.resume_run(None, run_dir.name, extra_epochs=1)
        assert err.value.code == "checkpoint_too_old"
        assert len(services.predict(None, run_dir.name, "a great movie")) == 2  # its own (untrained) labels
    finally:
        services.close()


def test_layer_wise_decay_slows_the_lower_blocks():
    from ftui.engine.recipe import build_optimizer, layer_depths

    names = ["emb.weight", "enc.layer.0.w", "enc.layer.0.b", "enc.layer.1.w", "norm.weight", "classifier.weight"]
    assert layer_depths(names) == {"emb.weight": 0, "enc.layer.0.w": 1, "enc.layer.0.b": 1, "enc.layer.1.w": 2,
                                   "norm.weight": 3, "classifier.weight": 3}

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.layer = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(2)])
            self.classifier = torch.nn.Linear(4, 2)

    model = Tiny()
    optimizer = build_optimizer(model, frozenset({"classifier.weight", "classifier.bias"}), 1e-3,
                                TrainOptions(layer_decay=0.5, head_lr_multiplier=10.0))
    rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert rate[id(model.layer[1].weight)] == pytest.approx(1e-3)  # the last block: the full rate
    assert rate[id(model.layer[0].weight)] == pytest.approx(5e-4) and rate[id(model.emb.weight)] == pytest.approx(2.5e-4)
    assert rate[id(model.classifier.weight)] == pytest.approx(1e-2)
    flat = build_optimizer(model, frozenset(), 1e-3, TrainOptions(layer_decay=1.0))
    assert len(flat.param_groups) == 2  # no decay: body decay/no-decay only, as before


def test_a_cnns_feature_pass_runs_channels_last_and_gives_its_layout_back():
    """The frozen pass of a CNN in channels-last layout (faster on a CPU) gives the same features, and
    the weights come back contiguous and trainable (made outside inference mode)."""
    from ftui.models.heads import split_at

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 2)).eval()
    net = type("Net", (torch.nn.Module,), {"forward": lambda self, pixel_values: self.body(pixel_values)})()
    net.body = model
    split = split_at(net, frozenset({"body.5.weight", "body.5.bias"}))
    pictures = torch.randn(10, 3, 12, 12)

    class Batches:
        def feature_pass(self, size):
            for start in range(0, 10, size):
                yield list(range(start, min(10, start + size))), {"pixel_values": pictures[start:start + size]}

    features = head.extract(split, Batches(), 10, torch.device("cpu"), torch.autocast("cpu", enabled=False),
                            threading.Event())
    with torch.no_grad():
        expected = model[:5](pictures)
    assert torch.allclose(features.x, expected, atol=1e-5)
    weight = model[0].weight
    assert weight.is_contiguous() and not weight.is_inference()
    model.train()(pictures).sum().backward()  # trainable afterwards
    assert weight.grad is not None
