"""The public API, driven the way a user's script drives it: the app launched in-process on a free
port, and gradio_client.Client calling the named endpoints with uploaded files (handle_file).

Training uses the tiny random BERT from conftest (a local model folder), so a run takes seconds.
"""
from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from ftui.server import serve
from ftui.services import Services
from ftui.ui.api import error_code

pytestmark = [pytest.mark.timeout(600),
              # gradio's own queue code trips pandas 3 deprecations; not ours to fix
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ENDPOINTS = {"list_models", "inspect_dataset", "start_run", "run_status", "stop_run", "list_runs", "predict",
             "evaluate", "evaluation_examples", "predict_batch", "export_run", "resume_run", "rename_run", "delete_run",
             "suggest_learning_rate", "free_run_files", "share_run", "unshare_run", "box_status", "stop_any_run",
             "save_preset", "list_presets", "delete_preset"}
QUICK = {"batch_size": 8, "max_length": 32, "log_every_steps": 1}  # many small steps: rows appear at once
POSITIVE = ["great", "wonderful", "loved", "excellent", "delightful", "superb", "brilliant", "charming"]
NEGATIVE = ["awful", "terrible", "hated", "boring", "dreadful", "dull", "horrible", "clumsy"]


# -- data files ---------------------------------------------------------------------------------
def write_reviews(path: Path, per_class: int = 24, labels=("pos", "neg")) -> Path:
    """A small two-class CSV whose texts differ by class words (no duplicates)."""
    rng = random.Random(0)
    lines = ["label,text"]
    for i in range(per_class):
        for label, words in zip(labels, (POSITIVE, NEGATIVE)):
            lines.append(f'{label},"the film was {rng.choice(words)} and {rng.choice(words)}, review {i}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("api-data")
    (folder / "empty.csv").write_bytes(b"")
    (folder / "photo.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)  # a PNG renamed .csv
    (folder / "numbers.csv").write_text("label,score\na,1\nb,2\na,3\nb,4\n", encoding="utf-8")
    (folder / "huge.csv").write_text("label,text\n" + "a,lots of words\n" * 400_000, encoding="utf-8")  # ~6 MB
    return {"good": write_reviews(folder / "reviews.csv"), "no_text": folder / "numbers.csv",
            "huge": folder / "huge.csv",
            "big": write_reviews(folder / "big.csv", per_class=200),
            "single": write_reviews(folder / "single.csv", labels=("pos", "pos")),
            "empty": folder / "empty.csv", "binary": folder / "photo.csv"}


# -- the app ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(tmp_path_factory, name: str, **kwargs):
    services = Services(tmp_path_factory.mktemp(name), max_upload_mb=5, max_concurrent_runs=2)
    port = free_port()
    demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True, **kwargs)
    return demo, services, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    demo, services, url = launch(tmp_path_factory, "runs")
    yield url
    demo.close()
    services.close()


@pytest.fixture(scope="module")
def client(app) -> Client:
    return Client(app, verbose=False)


def expect_error(code: str, call, *args, **kwargs) -> str:
    """Call an endpoint that must fail with `code`; returns the sentence the client got."""
    with pytest.raises(AppError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert error_code(message) == code, message
    assert len(message.split("(error code:")[0].strip()) > 10, message  # a real sentence, not just a code
    return message


def wait_for(client: Client, run_id: str, states=("finished", "stopped", "failed"), timeout: float = 300,
             until=None) -> tuple[dict, list[int]]:
    """Poll run_status (incrementally, with since) until the run reaches `states` or `until(status, rows)`.
    Returns the last status (with all rows) and the row counts seen at each poll."""
    rows, counts, deadline = [], [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict(run_id, len(rows), api_name="/run_status")
        rows += status["rows"]
        counts.append(len(rows))
        if status["state"] in states or (until and until(status, rows)):
            return {**status, "rows": rows}, counts
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} still {status['state']} after {timeout} s")


# -- catalog and data -------------------------------------------------------------------------
def test_endpoints_are_named_and_ui_events_are_private(client):
    named = {name.strip("/") for name in client.view_api(print_info=False, return_format="dict")["named_endpoints"]}
    assert named == ENDPOINTS


def test_list_models_marks_one_offline_default(client):
    models = client.predict("text", api_name="/list_models")
    defaults = [m for m in models if m["default"]]
    assert len(defaults) == 1 and defaults[0]["offline"] is True


def test_inspect_a_good_file(client, files):
    summary = client.predict(task="text", file=handle_file(files["good"]), options={}, api_name="/inspect_dataset")
    assert summary["ok"] is True and summary["n_examples"] == 48
    assert summary["class_counts"] == {"pos": 24, "neg": 24}
    assert (summary["text_column"], summary["label_column"]) == ("text", "label")
    assert summary["upload_id"].startswith("u-") and summary["preview"]


def test_inspect_with_chosen_columns_reuses_the_upload(client, files):
    first = client.predict("text", handle_file(files["good"]), {}, api_name="/inspect_dataset")
    again = client.predict("text", first["upload_id"], {"text_column": "text", "label_column": "label"},
                           api_name="/inspect_dataset")
    assert again["upload_id"] == first["upload_id"] and again["n_examples"] == 48
    expect_error("same_column", client.predict, "text", first["upload_id"],
                 {"text_column": "text", "label_column": "text"}, api_name="/inspect_dataset")


@pytest.mark.parametrize("name, code", [("empty", "empty_file"), ("binary", "binary_file"),
                                        ("no_text", "no_text_column"), ("huge", "file_too_large")])
def test_bad_files_get_a_clear_error_and_the_server_keeps_serving(client, files, name, code):
    expect_error(code, client.predict, "text", handle_file(files[name]), {}, api_name="/inspect_dataset")
    assert client.predict("text", api_name="/list_models")  # still answering


def test_a_single_class_file_is_reported_and_blocks_training(client, files, tiny_bert_dir):
    summary = client.predict("text", handle_file(files["single"]), {}, api_name="/inspect_dataset")
    assert summary["ok"] is False
    assert [i["code"] for i in summary["issues"] if i["severity"] == "error"] == ["single_class"]
    expect_error("single_class", client.predict, "text", str(tiny_bert_dir), summary["upload_id"], 5e-5, 1, {},
                 api_name="/start_run")


@pytest.mark.parametrize("model, lr, epochs, options, code", [
    ("tiny", 0, 1, {}, "bad_learning_rate"),
    ("tiny", "fast", 1, {}, "bad_learning_rate"),
    ("tiny", 5e-5, 0, {}, "bad_epochs"),
    ("tiny", 5e-5, 1, {"batch_sise": 8}, "unknown_option"),
    ("/nonexistent/model folder", 5e-5, 1, {}, "unknown_model"),
    ("nobody-here/no-such-model", 5e-5, 1, {}, "hub_unreachable"),  # tests run with HF_HUB_OFFLINE=1
])
def test_bad_run_settings_get_a_clear_error(client, files, tiny_bert_dir, model, lr, epochs, options, code):
    model = str(tiny_bert_dir) if model == "tiny" else model
    expect_error(code, client.predict, "text", model, handle_file(files["good"]), lr, epochs, options,
                 api_name="/start_run")
    assert client.predict("text", api_name="/list_models")


def test_server_paths_are_never_opened(client, app, tmp_path):
    """A path string is refused; a hand-made FileData pointing outside Gradio's upload folder too."""
    secret = tmp_path / "secret.csv"
    write_reviews(secret, per_class=3)
    expect_error("not_an_upload", client.predict, "text", str(secret), {}, api_name="/inspect_dataset")
    expect_error("not_an_upload", client.predict, "text", "all-MiniLM-L6-v2", "/etc/passwd", 5e-5, 1, {},
                 api_name="/start_run")
    # gradio_client would upload a FileData dict from the client's disk, so send raw HTTP instead.
    for payload in ({"path": str(secret), "meta": {"_type": "gradio.FileData"}}, {"path": str(secret)}):
        events = _raw_call(app, "inspect_dataset", ["text", payload, {}])
        assert "event: error" in events and "secret one" not in events and "review" not in events, events
    assert client.predict("text", api_name="/list_models")


def _raw_call(url: str, name: str, data: list) -> str:
    base = url.rstrip("/") + "/gradio_api"
    event_id = httpx.post(f"{base}/call/{name}", json={"data": data}, timeout=30).json()["event_id"]
    with httpx.stream("GET", f"{base}/call/{name}/{event_id}", timeout=60) as stream:
        return "".join(stream.iter_text())


def test_unknown_runs_are_clear_errors(client):
    expect_error("unknown_run", client.predict, "20990101-000000-abcd", 0, api_name="/run_status")
    expect_error("unknown_run", client.predict, "../../etc", api_name="/stop_run")
    expect_error("unknown_run", client.predict, "nope", "hello", api_name="/predict")


# -- training -------------------------------------------------------------------------------
def test_train_poll_and_predict(client, files, tiny_bert_dir):
    started = time.monotonic()
    run_id = client.predict("text", str(tiny_bert_dir), handle_file(files["big"]), 5e-4, 3, QUICK,
                            api_name="/start_run")
    assert time.monotonic() - started < 30  # returns at once; training runs in the background
    status, counts = wait_for(client, run_id)
    assert status["state"] == "finished", status.get("error")
    assert counts == sorted(counts) and len(set(counts)) > 2  # rows arrived while it ran, in order
    splits = {row["split"] for row in status["rows"]}
    assert splits == {"train", "validation"}
    assert all(row["loss"] >= 0 for row in status["rows"])
    # head first: the fitted head's rows come first, at step 0; then the recipe and pre-flight are reported
    assert [(r["split"], r["step"], r["stage"]) for r in status["rows"][:2]] == [("train", 0, "head"),
                                                                                 ("validation", 0, "head")]
    assert status["recipe"].startswith("head first, then everything") and "batch 8" not in status["recipe"]
    assert set(status["preflight"]) >= {"seconds_per_step", "peak_memory_mb", "batch_size", "eta_s"}
    assert status["preflight"]["batch_size"] == 8
    assert all(0 <= row["accuracy"] <= 1 for row in status["rows"] if row["split"] == "validation")
    runs = client.predict(api_name="/list_runs")
    assert run_id in [r["run_id"] for r in runs]
    probabilities = client.predict(run_id, "the film was wonderful and superb", api_name="/predict")
    assert set(probabilities) == {"pos", "neg"}
    assert abs(sum(probabilities.values()) - 1) < 1e-3
    expect_error("empty_input", client.predict, run_id, "   ", api_name="/predict")


def test_suggest_a_learning_rate(client, files, tiny_bert_dir, tmp_path):
    result = client.predict("text", str(tiny_bert_dir), handle_file(files["big"]), {"batch_size": 8},
                            api_name="/suggest_learning_rate")
    rates = [point["learning_rate"] for point in result["curve"]]
    assert len(rates) >= 5 and rates == sorted(rates)
    if result["suggested"]:  # a curve with a clear minimum (the usual case; the unit tests pin that rule down)
        assert rates[0] <= result["learning_rate"] <= rates[-1]
    else:  # a flat or jumpy curve: the catalog's rate, and the page says so
        assert result["learning_rate"] == result["catalog_learning_rate"]
    assert result["seconds"] < 120 and result["ended_by"] in ("diverged", "time", "steps")
    expect_error("unknown_option", client.predict, "text", str(tiny_bert_dir), handle_file(files["big"]),
                 {"batch_sise": 8}, api_name="/suggest_learning_rate")
    # the test trains in a worker process: a model that breaks there comes back as its sentence
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json", encoding="utf-8")
    expect_error("model_load_failed", client.predict, "text", str(broken), handle_file(files["big"]),
                 {"batch_size": 8}, api_name="/suggest_learning_rate")


def test_stop_a_run_midway(client, files, tiny_bert_dir):
    run_id = client.predict("text", str(tiny_bert_dir), handle_file(files["big"]), 5e-4, 100, QUICK,
                            api_name="/start_run")
    running, _ = wait_for(client, run_id, until=lambda status, rows: status["state"] == "running" and rows)
    client.predict(run_id, api_name="/stop_run")
    status, _ = wait_for(client, run_id, timeout=120)
    assert status["state"] == "stopped"
    assert status["step"] < status["total_steps"]
    assert client.predict(run_id, "the film was dull", api_name="/predict")  # the model so far was kept


def test_two_users_each_follow_their_own_run(tmp_path_factory, files, tiny_bert_dir):
    demo, services, url = launch(tmp_path_factory, "auth-runs", auth=[("ann", "pw-ann"), ("bob", "pw-bob")])
    try:
        ann = Client(url, auth=("ann", "pw-ann"), verbose=False)
        bob = Client(url, auth=("bob", "pw-bob"), verbose=False)
        runs = {name: c.predict("text", str(tiny_bert_dir), handle_file(files["good"]), 5e-4, 2, QUICK,
                                api_name="/start_run") for name, c in (("ann", ann), ("bob", bob))}
        for name, c in (("ann", ann), ("bob", bob)):
            status, _ = wait_for(c, runs[name])
            assert status["state"] == "finished" and status["run_id"] == runs[name]
            assert [r["run_id"] for r in c.predict(api_name="/list_runs")] == [runs[name]]
        expect_error("unknown_run", bob.predict, runs["ann"], 0, api_name="/run_status")
        expect_error("unknown_run", bob.predict, runs["ann"], "text", api_name="/predict")
        expect_error("unknown_run", ann.predict, runs["bob"], api_name="/stop_run")
    finally:
        demo.close()
        services.close()


@pytest.mark.integration
def test_real_default_model_on_a_small_file(client, files):
    """The offline default (MiniLM) end to end: the catalog id, 1 epoch on 48 short reviews."""
    default = next(m["id"] for m in client.predict("text", api_name="/list_models") if m["default"])
    run_id = client.predict("text", default, handle_file(files["good"]), 5e-5, 1,
                            {"batch_size": 16, "max_length": 32}, api_name="/start_run")
    status, _ = wait_for(client, run_id, timeout=400)
    assert status["state"] == "finished", status.get("error")
    assert set(client.predict(run_id, "the film was wonderful", api_name="/predict")) == {"pos", "neg"}


# -- the command line that serves all this ------------------------------------------------------
def test_command_line_auth_file_and_local_models(tmp_path, capsys):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    def run_async(coroutine):  # in a thread: Playwright may have left an event loop running in this one
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    from ftui.__main__ import main as ftui_main
    from ftui.server import parse_args

    users = tmp_path / "users.txt"
    users.write_text("# team\nann:secret:with:colons\n\nbob:pw\n", encoding="utf-8")
    with pytest.raises(SystemExit):  # plain-text passwords refuse to start, with the way out
        parse_args(["--auth-file", str(users)])
    assert "plain-text password" in capsys.readouterr().err
    assert ftui_main(["users", "list", "--auth-file", str(users)]) == 0  # hashes the plain lines in place
    assert "secret" not in users.read_text() and oct(users.stat().st_mode & 0o777) == "0o600"
    args = parse_args(["--auth-file", str(users), "--port", "7999"])
    assert sorted(args.auth.accounts) == ["ann", "bob"] and args.port == 7999
    assert run_async(args.auth.check("ann", "secret:with:colons")) and not run_async(args.auth.check("bob", "x"))
    assert args.allow_local_models is False  # signed-in users may not name folders on the host
    assert parse_args([]).allow_local_models is True and parse_args([]).host == "127.0.0.1"
    users.write_text("../evil:$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        parse_args(["--auth-file", str(users)])
