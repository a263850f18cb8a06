"""Predictor on a run trained with the tiny random BERT."""
from __future__ import annotations

import threading

import pytest
import torch

from ftui.engine import loop
from ftui.worker import read_train_data
from ftui.engine.sinks import MemorySink
from ftui.errors import FtuiError
from ftui.predict import Predictor
from ftui.tasks import get_task


@pytest.fixture
def trained_run(make_text_run):
    _, run_dir, config, source = make_text_run(n=48, epochs=1)
    loop.train(config, get_task("text"), source, read_train_data(run_dir), MemorySink(), threading.Event(),
               run_dir / "model")
    return run_dir


def test_predict_gives_ordered_probabilities(trained_run):
    predictor = Predictor.from_run(trained_run)
    assert predictor.labels == ["neg", "pos"]
    out = predictor.predict(["a great fun movie", "an awful dull plot", "x " * 500], top_k=5)
    assert len(out) == 3  # the long text is truncated, not an error
    for probs in out:
        assert list(probs) in (["neg", "pos"], ["pos", "neg"])
        values = list(probs.values())
        assert values == sorted(values, reverse=True) and sum(values) == pytest.approx(1.0, abs=1e-5)
    assert list(predictor.predict(["a great fun movie"], top_k=1)[0]) == [list(out[0])[0]]
    assert predictor.predict([]) == []


def test_batching_does_not_change_answers(trained_run):
    predictor = Predictor.from_run(trained_run)
    texts = [f"the movie {'was really ' * (i % 7)}great" for i in range(70)]  # > one batch, many lengths
    together = predictor.probabilities(texts)
    alone = torch.cat([predictor.probabilities([t]) for t in texts[:5]])
    assert torch.allclose(together[:5], alone, atol=1e-5)


def test_predictions_match_plain_transformers(trained_run):
    """The saved encoder (AutoModel), mean pooling and the linear head in head.safetensors: ftui's numbers."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    texts = ["a great fun movie", "an awful dull plot"]
    encoder = AutoModel.from_pretrained(trained_run / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(trained_run / "model")
    head = load_file(trained_run / "model" / "head.safetensors")
    batch = tokenizer(texts, padding=True, truncation=True, max_length=16, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        plain = (hidden * mask).sum(1) / mask.sum(1) @ head["weight"].T + head["bias"]
    ours = Predictor.from_run(trained_run).probabilities(texts)
    assert torch.allclose(plain.softmax(-1), ours, atol=1e-5)


def test_a_run_saved_by_an_older_ftui_still_predicts(tmp_path, tiny_bert_dir):
    """A model/ folder in the old format (a transformers sequence classifier) loads and predicts."""
    import shutil

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    shutil.copytree(tiny_bert_dir, tmp_path / "model")
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    with torch.no_grad():
        plain = model(**tokenizer(["a great fun movie"], return_tensors="pt")).logits.softmax(-1)
    ours = Predictor.from_model_dir(tmp_path / "model", task="text").probabilities(["a great fun movie"])
    assert torch.allclose(plain, ours, atol=1e-5)


def test_a_run_without_a_model_is_not_ready(make_text_run):
    _, run_dir, _, _ = make_text_run(n=16, epochs=1)
    with pytest.raises(FtuiError) as err:
        Predictor.from_run(run_dir)
    assert err.value.code == "run_not_ready" and err.value.detail["state"] == "queued"
