"""A real fine-tune: the offline MiniLM on the SMS Spam Collection, the way a user runs it.

Upload -> start_run (a stratified 1,600-row subset: 1,200 train / 400 validation) -> poll
run_status -> the tuned model, loaded with PLAIN transformers, agrees with ftui's Predictor.
About 1.5-2 minutes on 2 CPU cores.
"""
from __future__ import annotations

import time

import pytest
import torch

pytestmark = pytest.mark.integration

TIMEOUT_S = 600
OPTIONS = {"max_examples": 1600, "val_fraction": 0.25, "max_length": 64, "batch_size": 16, "seed": 0}


@pytest.fixture(scope="module")
def sms_run(shared_data, tmp_path_factory):
    from ftui.services import Services

    services = Services(tmp_path_factory.mktemp("runs"))
    started = time.monotonic()
    run_id = services.start_run(None, "text", "all-MiniLM-L6-v2", shared_data / "text" / "sms_spam.tsv",
                                learning_rate=1e-4, epochs=1, options=OPTIONS)  # the recommended default
    assert time.monotonic() - started < 30, "start_run must return before training"
    seen_rows = 0
    while True:
        status = services.run_status(None, run_id, since=seen_rows)
        seen_rows += len(status["rows"])
        if status["state"] not in ("queued", "running"):
            break
        assert time.monotonic() - started < TIMEOUT_S, f"still {status['state']} after {TIMEOUT_S} s"
        time.sleep(1.0)
    status["seconds"] = time.monotonic() - started
    status["rows_seen_while_polling"] = seen_rows
    yield services, run_id, status
    services.close()


def test_spam_filter_reaches_95_percent(sms_run):
    services, run_id, status = sms_run
    print(f"\nSMS: {status['seconds']:.0f} s, best validation accuracy {status['best_accuracy']:.4f}, "
          f"{status['samples_per_second']} samples/s")
    assert status["state"] == "finished", status["error"]
    assert status["best_accuracy"] >= 0.95
    assert status["rows_seen_while_polling"] == status["n_rows"]  # polling with `since` missed nothing
    evals = [r for r in services.run_status(None, run_id)["rows"] if r["split"] == "validation"]
    assert evals and evals[-1]["accuracy"] >= 0.95
    train_losses = [r["loss"] for r in services.run_status(None, run_id)["rows"] if r["split"] == "train"]
    assert sum(train_losses[-5:]) / 5 < train_losses[0]


def test_plain_transformers_agrees_with_ftui(sms_run):
    """The README's lines (AutoModel + head.safetensors + mean pooling, no ftui) give ftui's probabilities."""
    import json

    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from ftui.data.split import read_split
    from ftui.predict import Predictor

    services, run_id, _ = sms_run
    run_dir = services.store.run_dir(None, run_id)
    texts, labels = read_split(run_dir / "data", "validation")
    texts, labels = texts[:64], labels[:64]

    folder = run_dir / "model"
    tokenizer, encoder = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    head = load_file(folder / "head.safetensors")
    names = json.loads((folder / "ftui_text.json").read_text())["labels"]
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=OPTIONS["max_length"], return_tensors="pt")
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        plain = ((hidden * mask).sum(1) / mask.sum(1) @ head["weight"].T + head["bias"]).softmax(-1)
    plain_labels = [names[i] for i in plain.argmax(-1).tolist()]

    ours = Predictor.from_run(run_dir).probabilities(texts)
    assert torch.allclose(plain, ours, atol=1e-4)
    assert plain_labels == [Predictor.from_run(run_dir).labels[i] for i in ours.argmax(-1).tolist()]
    assert sum(p == y for p, y in zip(plain_labels, labels)) / len(labels) >= 0.9

    top = services.predict(None, run_id, "WINNER!! You have won a 1000 cash prize. Call 09061701461 to claim now")
    assert next(iter(top)) == "spam"
    assert next(iter(services.predict(None, run_id, "Ok, see you at lunch tomorrow"))) == "ham"
