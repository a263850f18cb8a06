"""The model catalog and `resolve`, offline: packaged MiniLM, local folders, a fake HF cache and a
fake hub served on localhost (no real network)."""
from __future__ import annotations

import http.server
import shutil
import threading

import pytest

from ftui.errors import FtuiError
from ftui.models import catalog
from ftui.models.catalog import ModelSource, list_models, minilm_folder, resolve
from ftui.tasks import get_task


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def fake_cached_repo(cache, repo_id: str, source_folder) -> None:
    """The HF cache layout: models--org--name/{refs/main, snapshots/<commit>/...}."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(source_folder, repo / "snapshots" / commit)


def test_minilm_is_the_offline_default(empty_hf_cache):
    models = list_models("text")
    first = models[0]
    assert first["id"] == "all-MiniLM-L6-v2" and first["default"] and first["offline"]
    assert first["source"] == "package" and first["license"] == "apache-2.0"
    assert (minilm_folder() / "config.json").is_file()
    packaged = [m for m in models[1:] if m["source"] == "package"]
    assert [m["id"] for m in packaged] == ["multilingual-e5-small"]  # suggested for Chinese text, not the default
    assert packaged[0]["offline"] and not packaged[0]["default"]
    hub = {m["id"]: m for m in models[1:] if m["source"] != "package"}
    assert {"distilbert-base-uncased", "bert-base-uncased", "bert-base-multilingual-cased", "roberta-base",
            "bert-base-chinese"} <= set(hub)
    assert all(not m["offline"] and m["source"] == "hub" and not m["default"] for m in hub.values())
    assert set(first) == {"id", "name", "source", "offline", "default", "params", "license", "description",
                          "learning_rate"}
    assert first["learning_rate"] == 1e-4
    assert list_models("no-such-task") == []


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"])
def test_catalog_ids_resolve_to_the_package_folder(name):
    source = resolve("text", name)
    assert source == ModelSource(id="all-MiniLM-L6-v2", location=str(minilm_folder()), kind="package")


def test_local_folder(tiny_bert_dir, tmp_path):
    source = resolve("text", str(tiny_bert_dir))
    assert source.kind == "local" and source.location == str(tiny_bert_dir.resolve())
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(FtuiError) as err:
        resolve("text", str(tmp_path / "not-a-model"))
    assert err.value.code == "not_a_classifier_folder"
    with pytest.raises(FtuiError) as err:
        resolve("text", str(tiny_bert_dir), allow_local=False)
    assert err.value.code == "unknown_model"


@pytest.mark.parametrize("name", ["/no/such/folder", "../../no/such/dir", "", "   ", "has spaces in it", "a/b/c", "x" * 300])
def test_nonsense_is_unknown(name, empty_hf_cache):
    with pytest.raises(FtuiError) as err:
        resolve("text", name)
    assert err.value.code == "unknown_model"


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: what must be decided offline opens no socket."""
    import socket

    def refuse(self, address):
        raise AssertionError(f"a network connection was attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base", "someone/some-model"])
def test_hub_ids_offline_and_uncached_are_unreachable(name, empty_hf_cache, monkeypatch, no_network):
    import huggingface_hub

    asked = []
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda *a, **k: asked.append(a))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FtuiError) as err:
        resolve("text", name)
    assert err.value.code == "hub_unreachable"
    assert err.value.to_dict()["message"].startswith(f"The model '{name}' has to be downloaded")
    assert asked == []  # the offline switch answers before huggingface_hub is asked anything


def test_a_cached_hub_model_works_offline(empty_hf_cache, tiny_bert_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_cached_repo(empty_hf_cache, "someone/tiny-bert", tiny_bert_dir)
    fake_cached_repo(empty_hf_cache, "google-bert/bert-base-uncased", tiny_bert_dir)
    source = resolve("text", "someone/tiny-bert")
    assert source.kind == "hub" and (source.location.endswith("0" * 40))
    assert resolve("text", "bert-base-uncased").location.endswith("0" * 40)
    listed = {m["id"]: m for m in list_models("text")}
    assert listed["bert-base-uncased"]["offline"] and not listed["roberta-base"]["offline"]


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers HEAD /<repo>/resolve/main/config.json as huggingface.co does (its X-Error-Code headers)."""

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        repo = self.path.split("/resolve/")[0].strip("/")
        status, headers = {"someone/real-model": (200, {"ETag": '"abc"', "X-Repo-Commit": "0" * 40}),
                           "someone/gated-model": (401, {"X-Error-Code": "GatedRepo"}),
                           "someone/plain-404": (404, {})}.get(repo, (404, {"X-Error-Code": "RepoNotFound"}))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # keep pytest output clean
        return None


def _hub_online(monkeypatch, endpoint: str) -> None:
    """The hub switched on for one test (conftest switches it off before huggingface_hub is imported,
    and huggingface_hub reads HF_HUB_OFFLINE only then)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)


@pytest.fixture
def fake_hub(monkeypatch, empty_hf_cache):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _hub_online(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}")
    yield
    server.shutdown()
    server.server_close()


@pytest.fixture
def timeouts(monkeypatch):
    """The timeout each huggingface_hub metadata request was given."""
    import huggingface_hub

    seen = []
    real = huggingface_hub.get_hf_file_metadata

    def spy(url, *args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return real(url, *args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", spy)
    return seen


def test_a_reachable_hub_is_asked_with_a_short_timeout(fake_hub, timeouts):
    assert resolve("text", "someone/real-model") == ModelSource("someone/real-model", "someone/real-model", "hub")
    assert timeouts == [catalog.HUB_TIMEOUT_S]  # not huggingface_hub's default (10 s)
    # the hub answered: there is no such model (RepoNotFound), it is gated, or a bare 404
    for name in ("someone/no-such-model", "someone/gated-model", "someone/plain-404"):
        with pytest.raises(FtuiError) as err:
            resolve("text", name)
        assert err.value.code == "unknown_model", name


def test_an_unreachable_hub_says_so(monkeypatch, empty_hf_cache):
    import socket

    with socket.socket() as s:  # a port nobody listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _hub_online(monkeypatch, f"http://127.0.0.1:{port}")
    assert catalog._hub_has("someone/real-model") is False
    with pytest.raises(FtuiError) as err:
        resolve("text", "someone/real-model")
    assert err.value.code == "hub_unreachable"


def test_a_hub_that_never_answers_is_unreachable_after_the_timeout(monkeypatch, empty_hf_cache, timeouts):
    import socket

    silent = socket.socket()  # accepts connections (the kernel's backlog) and never sends a byte
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        monkeypatch.setattr(catalog, "HUB_TIMEOUT_S", 0.3)
        _hub_online(monkeypatch, f"http://127.0.0.1:{silent.getsockname()[1]}")
        with pytest.raises(FtuiError) as err:
            resolve("text", "someone/real-model")
        assert err.value.code == "hub_unreachable" and timeouts == [0.3]
    finally:
        silent.close()


def test_unknown_task():
    with pytest.raises(FtuiError) as err:
        get_task("video")
    assert err.value.code == "unknown_task" and "text" in err.value.detail["tasks"]


def test_build_marks_the_new_head_and_reinitialises_a_head_of_another_size(tiny_bert_dir, tmp_path):
    import torch

    from ftui.config import TrainOptions

    task = get_task("text")
    built = task.build(resolve("text", str(tiny_bert_dir)), ["a", "b", "c"], TrainOptions())
    assert built.head == {"classifier.weight", "classifier.bias"}
    assert built.model.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert built.processor.is_fast and built.processor.model_max_length == 128  # clamped to the positions
    task.save(built.model, built.processor, ["a", "b", "c"], tmp_path / "three")

    again = task.build(resolve("text", str(tmp_path / "three")), ["x", "y"], TrainOptions())
    assert again.head == {"classifier.weight", "classifier.bias"}  # 3 -> 2 outputs: a fresh head
    assert again.model.classifier.out_features == 2 and again.split is not None
    same = task.build(resolve("text", str(tmp_path / "three")), ["a", "b", "c"], TrainOptions())
    assert same.head == frozenset() and same.split is None  # the saved head fits: kept (continued fine-tuning)
    assert torch.equal(same.model.classifier.weight, built.model.classifier.weight)


def test_catalog_module_does_not_import_heavy_libraries():
    import subprocess
    import sys

    code = ("import sys, ftui.models.catalog, ftui.engine.jobs, ftui.tasks; ftui.tasks.get_task('text'); "
            "print(sorted(m for m in ('torch', 'transformers', 'huggingface_hub', 'gradio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert catalog.HUB_TIMEOUT_S <= 5


def test_model_names_promise_no_setting_the_run_may_change():
    """"Whisper tiny.en encoder (3 s window)" read wrong beside a 1 s clip length: names name the model only."""
    for task in ("text", "image", "audio"):
        for entry in catalog.list_models(task):
            assert "window" not in entry["name"] and " px" not in entry["name"], entry["name"]


def test_every_description_has_its_chinese():
    """list_models answers a Chinese page or API caller in Chinese; English stays the default."""
    for task in ("text", "image", "audio"):
        english, chinese = catalog.list_models(task), catalog.list_models(task, "zh-CN")
        assert [m["id"] for m in english] == [m["id"] for m in chinese]
        for en, zh in zip(english, chinese):
            assert not any("\u4e00" <= ch <= "\u9fff" for ch in en["description"]), en["id"]
            assert sum("\u4e00" <= ch <= "\u9fff" for ch in zh["description"]) >= 4, zh["id"]
