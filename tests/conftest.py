"""Shared fixtures. Tiny models are built from configs (fast, no downloads); real data lives in
../shared/data and the tests that need it skip with a reason when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FTUI_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (a fresh clone has no ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 2-layer random BERT classifier folder with MiniLM's real tokenizer (vocab 30,522)."""
    from ftui.models.catalog import minilm_folder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def make_text_run(tmp_path, tiny_bert_dir):
    """Factory: a run folder (config.json, labels.json, data/) ready for JobManager.submit.

    Returns (store, run_dir, config, source); the data is a tiny sentiment-like set whose label is
    decided by one cue word, so even the 2-layer random BERT can learn it.
    """
    import random

    from ftui.config import RunConfig
    from ftui.data.split import label_names, write_split
    from ftui.models.catalog import ModelSource
    from ftui.runs.store import RunStore, write_json_atomic

    store = RunStore(tmp_path / "runs")

    def make(n: int = 48, epochs: int = 2, lr: float = 1e-3, model: str | Path | None = None, **options):
        rng = random.Random(n)
        cues = {"pos": ["great", "good", "love", "fun"], "neg": ["bad", "awful", "hate", "dull"]}
        filler = ["the", "movie", "was", "plot", "really", "acting", "a", "story"]
        inputs, labels = [], []
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            words = rng.sample(filler, 4) + [rng.choice(cues[label])]
            rng.shuffle(words)
            inputs.append(" ".join(words))
            labels.append(label)
        options = {"batch_size": 8, "max_length": 16, "val_fraction": 0.25, **options}
        config = RunConfig.build("text", str(model or tiny_bert_dir), "u-0000000000000000", lr, epochs, options)
        _, run_dir = store.create(None, config)
        val = [i for i in range(n) if (i // 2) % 4 == 0]  # a quarter, both labels
        train = [i for i in range(n) if (i // 2) % 4]
        write_json_atomic(run_dir / "labels.json", label_names(labels))
        write_split(run_dir / "data", inputs, labels, train, val)
        source = ModelSource(id="tiny-bert", location=str(model or tiny_bert_dir), kind="local")
        return store, run_dir, config, source

    return make


@pytest.fixture
def jobs_for():
    """JobManager(store) that is shut down after the test, so no thread outlives it."""
    from ftui.engine.jobs import JobManager

    made = []

    def make(store, **kwargs):
        made.append(JobManager(store, **kwargs))
        return made[-1]

    yield make
    for jobs in made:
        jobs.shutdown()
