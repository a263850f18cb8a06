"""The run endpoints of the public API: evaluate, evaluation_examples, predict_batch, export_run,
resume_run, rename_run and delete_run, driven like a user's script (gradio_client on the app
launched in-process, with sign-in on, so that a second user can try to reach the first one's run).

Files come back as downloads: the client gets a local copy; the server handed out a private copy in
Gradio's upload folder, never a path into the runs folder.
"""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import httpx
import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file

# Helpers of the text API tests (pytest puts tests/api on sys.path).
from test_api import QUICK, expect_error, launch, wait_for, write_reviews

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ANN, BOB = ("ann", "pw-ann"), ("bob", "pw-bob")
N_VALIDATION = 16  # 80 reviews, val_fraction 0.2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    demo, services, url = launch(tmp_path_factory, "api-runs", auth=[ANN, BOB])
    yield url, services
    demo.close()
    services.close()


@pytest.fixture(scope="module")
def ann(server) -> Client:
    return Client(server[0], auth=ANN, verbose=False)


@pytest.fixture(scope="module")
def bob(server) -> Client:
    return Client(server[0], auth=BOB, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("api-runs-data")
    (folder / "empty.csv").write_bytes(b"")
    unseen = folder / "with_unseen.csv"
    lines = ["label,text"] + [f'pos,"the film was wonderful and superb, test {i}"' for i in range(5)]
    lines += [f'neg,"the film was awful and dull, test {i}"' for i in range(5)]
    lines += [f'meh,"the film was fine I guess, test {i}"' for i in range(3)]
    unseen.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batch = folder / "to_classify.csv"
    batch.write_text('text\n"the film was brilliant and charming"\n"the film was dull and horrible"\n'
                     '"the film was boring"\n""\n"a delightful film"\n', encoding="utf-8")
    return {"train": write_reviews(folder / "reviews.csv", per_class=40), "unseen": unseen,
            "batch": batch, "empty": folder / "empty.csv"}


@pytest.fixture(scope="module")
def run_id(ann, files, tiny_bert_dir) -> str:
    """A finished text run of ann's (tiny random BERT, 2 short epochs)."""
    run = ann.predict("text", str(tiny_bert_dir), handle_file(files["train"]), 5e-4, 2, QUICK,
                      api_name="/start_run")
    status, _ = wait_for(ann, run)
    assert status["state"] == "finished", status.get("error")
    return run


def no_server_paths(value, services) -> None:
    text = json.dumps(value)
    assert str(services.store.root) not in text and get_upload_folder() not in text, text


# -- evaluation -----------------------------------------------------------------------------
def test_the_run_endpoints_are_named_with_their_arguments(ann):
    named = ann.view_api(print_info=False, return_format="dict")["named_endpoints"]
    expected = {"evaluate": ["run_id", "file"],
                "evaluation_examples": ["run_id", "eval_name", "true_label", "pred_label"],
                "predict_batch": ["run_id", "file"], "export_run": ["run_id", "format"],
                "resume_run": ["run_id", "extra_epochs"], "rename_run": ["run_id", "name"], "delete_run": ["run_id"]}
    for name, arguments in expected.items():
        assert [p["parameter_name"] for p in named[f"/{name}"]["parameters"]] == arguments, name


def test_evaluate_on_the_validation_split(ann, server, run_id):
    result = ann.predict(run_id, api_name="/evaluate")
    assert result["name"] == "validation" and result["source"] == "validation"
    assert 0 <= result["accuracy"] <= 1 and 0 <= result["macro_f1"] <= 1 and 0 <= result["weighted_f1"] <= 1
    assert result["n"] == N_VALIDATION and result["unseen_labels"] == {}
    assert result["labels"] == ["neg", "pos"]
    assert sum(map(sum, result["confusion"])) == result["n"]
    assert [c["label"] for c in result["per_class"]] == ["neg", "pos"]
    assert sum(c["support"] for c in result["per_class"]) == result["n"]
    png = Path(result.pop("confusion_png"))  # downloaded by the client
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_server_paths(result, server[1])


def test_evaluation_examples_of_a_cell(ann, server, run_id):
    result = ann.predict(run_id, None, api_name="/evaluate")
    labels, confusion = result["labels"], result["confusion"]
    i, j = max(((i, j) for i in range(2) for j in range(2)), key=lambda ij: confusion[ij[0]][ij[1]])
    rows = ann.predict(run_id, "validation", labels[i], labels[j], api_name="/evaluation_examples")
    assert len(rows) == min(24, confusion[i][j]) > 0
    assert all(r["true"] == labels[i] and r["pred"] == labels[j] for r in rows)
    assert all(r["input"].startswith("the film was") for r in rows)  # the texts themselves
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-3 for r in rows)
    assert [r["confidence"] for r in rows] == sorted((r["confidence"] for r in rows), reverse=True)
    no_server_paths(rows, server[1])
    expect_error("unknown_evaluation", ann.predict, run_id, "../../etc", "pos", "neg", api_name="/evaluation_examples")


def test_evaluate_an_uploaded_file_with_a_label_the_run_never_saw(ann, server, files, run_id):
    result = ann.predict(run_id, handle_file(files["unseen"]), api_name="/evaluate")
    assert result["unseen_labels"] == {"meh": 3}
    assert result["n"] == 10 and result["n_total"] == 13  # the 10 known ones are scored
    assert sum(map(sum, result["confusion"])) == 10 and 0 <= result["accuracy"] <= 1
    assert result["name"].startswith("file-") and result["source"].endswith("with_unseen.csv")
    rows = [r for t in ("pos", "neg") for p in ("pos", "neg")
            for r in ann.predict(run_id, result["name"], t, p, api_name="/evaluation_examples")]
    assert len(rows) == 10 and {r["true"] for r in rows} == {"pos", "neg"}
    result.pop("confusion_png")
    no_server_paths(result, server[1])
    expect_error("not_an_upload", ann.predict, run_id, str(files["unseen"]), api_name="/evaluate")
    expect_error("empty_file", ann.predict, run_id, handle_file(files["empty"]), api_name="/evaluate")
    assert ann.predict(api_name="/list_runs")  # still answering


# -- batch prediction -------------------------------------------------------------------------
def test_predict_batch_returns_a_csv_to_download(ann, server, files, run_id):
    result = ann.predict(run_id, handle_file(files["batch"]), api_name="/predict_batch")
    assert result["n"] == 4 and result["labels"] == ["neg", "pos"]
    assert [s["code"] for s in result["skipped"]] == ["skip_empty_text"] and result["skipped"][0]["message"]
    with open(result["csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and rows[0]["input"] == "the film was brilliant and charming"
    assert set(rows[0]) == {"input", "predicted", "confidence", "p_neg", "p_pos"}
    for row in rows:
        assert row["predicted"] in ("neg", "pos")
        assert abs(float(row["p_neg"]) + float(row["p_pos"]) - 1) < 1e-4
    no_server_paths({k: v for k, v in result.items() if k != "csv"}, server[1])


def test_predict_batch_bad_files_get_a_clear_error(ann, files, run_id):
    expect_error("empty_file", ann.predict, run_id, handle_file(files["empty"]), api_name="/predict_batch")
    expect_error("not_an_upload", ann.predict, run_id, "/etc/passwd", api_name="/predict_batch")
    expect_error("unknown_run", ann.predict, "20990101-000000-abcd", handle_file(files["batch"]),
                 api_name="/predict_batch")
    assert ann.predict(api_name="/list_runs")


# -- export -------------------------------------------------------------------------------------
def test_export_zip_downloads_the_model_and_its_card(ann, run_id):
    result = ann.predict(run_id, "zip", api_name="/export_run")
    path = Path(result["file"])
    assert result["format"] == "zip" and path.stat().st_size == result["size_bytes"] > 0
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        card = archive.read("README.md").decode()
    assert {"README.md", "model/config.json", "model/labels.json"} <= names
    assert any(n.startswith("model/") and n.endswith(".safetensors") for n in names)
    assert any(n.startswith("model/tokenizer") for n in names)
    assert run_id in card


def test_export_onnx_reports_parity(ann, run_id):
    result = ann.predict(run_id, "onnx", api_name="/export_run")
    assert result["format"] == "onnx" and result["parity_ok"] is True
    assert 0 <= result["max_abs_diff"] < 1e-3 and result["n_checked"] > 0 and result["same_argmax_fraction"] == 1
    with zipfile.ZipFile(result["file"]) as archive:
        names = archive.namelist()
    assert any(n.endswith(".onnx") for n in names) and "README.md" in names and "labels.json" in names


def test_export_demo_downloads_a_gradio_app(ann, run_id):
    result = ann.predict(run_id, "demo", api_name="/export_run")
    assert result["format"] == "demo" and Path(result["file"]).stat().st_size == result["size_bytes"] > 0
    with zipfile.ZipFile(result["file"]) as archive:
        names = set(archive.namelist())
        readme = archive.read("README.md").decode()
    assert {"app.py", "requirements.txt", "demo.json", "model/config.json"} <= names
    assert "sdk: gradio" in readme and "python app.py" in readme


def test_downloads_are_private_copies_and_the_runs_folder_is_not_served(server, run_id):
    url, services = server
    raw = Client(url, auth=ANN, verbose=False, download_files=False)  # FileData as the server sent it
    result = raw.predict(run_id, "zip", api_name="/export_run")
    served = Path(result["file"]["path"]).resolve()
    downloads = Path(get_upload_folder()).resolve() / "ftui-downloads"
    assert served.is_relative_to(downloads) and not served.is_relative_to(services.store.root)
    run_dir = services.store.run_dir("ann", run_id)
    original = next((run_dir / "exports").glob("*-model.zip"))
    assert served.read_bytes() == original.read_bytes()
    with httpx.Client(base_url=url.rstrip("/"), timeout=30) as web:
        login = web.post("/login", data={"username": ANN[0], "password": ANN[1]})
        assert login.status_code == 200, login.text
        assert web.get(f"/gradio_api/file={served}").status_code == 200
        for path in (original, run_dir / "config.json", run_dir / "model" / "config.json"):
            assert web.get(f"/gradio_api/file={path}").status_code == 403, path


def test_export_errors_are_sentences(ann, files, run_id, tmp_path):
    expect_error("unknown_run", ann.predict, "20990101-000000-abcd", "zip", api_name="/export_run")
    expect_error("bad_export_format", ann.predict, run_id, "pdf", api_name="/export_run")
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json", encoding="utf-8")
    failed = ann.predict("text", str(broken), handle_file(files["train"]), 5e-4, 1, QUICK, api_name="/start_run")
    status, _ = wait_for(ann, failed)
    assert status["state"] == "failed"
    expect_error("export_run_failed", ann.predict, failed, "zip", api_name="/export_run")
    expect_error("export_run_failed", ann.predict, failed, "onnx", api_name="/export_run")
    expect_error("run_not_ready", ann.predict, failed, api_name="/evaluate")
    assert ann.predict(failed, api_name="/delete_run") == {"run_id": failed, "deleted": True}
    assert ann.predict(api_name="/list_runs")


# -- other users --------------------------------------------------------------------------------
def test_another_user_cannot_touch_the_run(ann, bob, files, run_id):
    expect_error("unknown_run", bob.predict, run_id, api_name="/evaluate")
    expect_error("unknown_run", bob.predict, run_id, "validation", "pos", "pos", api_name="/evaluation_examples")
    expect_error("unknown_run", bob.predict, run_id, handle_file(files["batch"]), api_name="/predict_batch")
    expect_error("unknown_run", bob.predict, run_id, "zip", api_name="/export_run")
    expect_error("unknown_run", bob.predict, run_id, 1, api_name="/resume_run")
    expect_error("unknown_run", bob.predict, run_id, "mine now", api_name="/rename_run")
    expect_error("unknown_run", bob.predict, run_id, api_name="/delete_run")
    assert bob.predict(api_name="/list_runs") == []
    assert run_id in [r["run_id"] for r in ann.predict(api_name="/list_runs")]  # untouched


# -- resume, rename, delete -----------------------------------------------------------------------
def test_resume_a_finished_run_for_one_more_epoch(ann, run_id):
    before = ann.predict(run_id, 0, api_name="/run_status")
    expect_error("run_not_resumable", ann.predict, run_id, 0, api_name="/resume_run")
    assert ann.predict(run_id, 1, api_name="/resume_run") == run_id
    status, _ = wait_for(ann, run_id)
    assert status["state"] == "finished", status.get("error")
    assert status["total_steps"] > before["total_steps"] and status["step"] == status["total_steps"]
    assert status["step"] > before["step"]
    assert [r["run_id"] for r in ann.predict(api_name="/list_runs")].count(run_id) == 1  # same run, no copy
    assert 0 <= ann.predict(run_id, api_name="/evaluate")["accuracy"] <= 1


def test_rename_a_run(ann, run_id):
    summary = ann.predict(run_id, "  my   first run ", api_name="/rename_run")
    assert summary["name"] == "my first run" and summary["run_id"] == run_id
    assert next(r for r in ann.predict(api_name="/list_runs") if r["run_id"] == run_id)["name"] == "my first run"
    expect_error("bad_run_name", ann.predict, run_id, "x" * 200, api_name="/rename_run")


def test_delete_refuses_an_active_run_then_removes_it_once_stopped(ann, files, tiny_bert_dir):
    run = ann.predict("text", str(tiny_bert_dir), handle_file(files["train"]), 5e-4, 100, QUICK,
                      api_name="/start_run")
    wait_for(ann, run, until=lambda status, rows: status["state"] == "running" and rows)
    expect_error("delete_active_run", ann.predict, run, api_name="/delete_run")
    expect_error("run_active", ann.predict, run, 1, api_name="/resume_run")
    ann.predict(run, api_name="/stop_run")
    status, _ = wait_for(ann, run, timeout=120)
    assert status["state"] == "stopped"
    assert ann.predict(run, api_name="/delete_run") == {"run_id": run, "deleted": True}
    assert run not in [r["run_id"] for r in ann.predict(api_name="/list_runs")]
    expect_error("unknown_run", ann.predict, run, api_name="/evaluate")
    expect_error("unknown_run", ann.predict, run, api_name="/delete_run")


def test_free_exports_and_checkpoints_shows_on_the_disk_column(ann, bob, server, run_id):
    """Give disk back: exports (made again on request), then checkpoints (the run keeps predicting, but
    can no longer be trained further); the runs list's disk_bytes shrinks each time."""
    ann.predict(run_id, "zip", api_name="/export_run")
    size = {r["run_id"]: r for r in ann.predict(api_name="/list_runs")}[run_id]["disk_bytes"]
    expect_error("unknown_run", bob.predict, run_id, "exports", api_name="/free_run_files")
    exports = ann.predict(run_id, "exports", api_name="/free_run_files")
    assert exports["freed_bytes"] > 0 and exports["disk_bytes"] == size - exports["freed_bytes"]
    checkpoints = ann.predict(run_id, "checkpoints", api_name="/free_run_files")
    assert checkpoints["freed_bytes"] > 0 and checkpoints["disk_bytes"] < exports["disk_bytes"]
    run_dir = server[1].store.run_dir("ann", run_id)
    assert not (run_dir / "checkpoints").exists() and (run_dir / "model").is_dir()
    assert set(ann.predict(run_id, "the film was great", api_name="/predict")) == {"pos", "neg"}
    expect_error("no_checkpoint", ann.predict, run_id, 1, api_name="/resume_run")
    expect_error("bad_option", ann.predict, run_id, "model", api_name="/free_run_files")


def test_presets_are_saved_listed_and_deleted_per_user(ann, bob, server):
    """A run's settings kept by name; no training needed: a preset reads only the run's config.json."""
    from ftui.config import RunConfig

    services = server[1]
    config = RunConfig.build("text", "all-MiniLM-L6-v2", "u-0123456789abcdef", 3e-5, 2,
                             {"batch_size": 8, "text_column": "body", "seed": 5})
    run_id, _ = services.store.create("ann", config)
    named = ann.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in named["/save_preset"]["parameters"]] == ["run_id", "name"]
    saved = ann.predict(run_id, "快速", api_name="/save_preset")
    assert (saved["name"], saved["model"], saved["epochs"], saved["options"]["seed"]) == ("快速", config.model, 2, 5)
    assert "text_column" not in saved["options"]
    assert [p["name"] for p in ann.predict(api_name="/list_presets")] == ["快速"]
    expect_error("bad_preset_name", ann.predict, run_id, "../x", api_name="/save_preset")
    expect_error("unknown_run", bob.predict, run_id, "mine", api_name="/save_preset")  # not bob's run
    assert bob.predict(api_name="/list_presets") == []  # nor his presets
    expect_error("preset_not_found", bob.predict, "快速", api_name="/delete_preset")
    assert ann.predict("快速", api_name="/delete_preset") == {"name": "快速", "deleted": True}
    assert ann.predict(api_name="/list_presets") == []


def test_delete_the_finished_run(ann, run_id):
    assert ann.predict(run_id, api_name="/delete_run") == {"run_id": run_id, "deleted": True}
    assert run_id not in [r["run_id"] for r in ann.predict(api_name="/list_runs")]
    expect_error("unknown_run", ann.predict, run_id, "zip", api_name="/export_run")
    assert ann.predict("text", api_name="/list_models")  # the server keeps answering
