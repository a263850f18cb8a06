"""The public API for image classification, driven like a user's script: the app launched in-process
on a free port, gradio_client uploading ZIPs and pictures with handle_file.

The pictures are tiny generated PNG/JPEG files; training is EfficientNet-Lite0 (the offline default)
at 64 px for 2 short epochs, so the whole file takes well under a minute on 2 CPU cores.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from PIL import Image

# Helpers of the text API tests (pytest puts tests/api on sys.path for both files).
from test_api import _raw_call, expect_error, launch, wait_for, write_reviews

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
QUICK = {"image_size": 64, "batch_size": 8}


# -- data files ---------------------------------------------------------------------------------
def picture(label: str, i: int, fmt: str = "PNG") -> bytes:
    """Reds vs blues with a little texture (every picture different: no duplicates)."""
    base = (200, 40, 40) if label == "red" else (40, 40, 200)
    image = Image.new("RGB", (40 + i, 36 + i % 5), base)
    for x in range(0, 40, 7):
        image.putpixel((x, i % 30), (i * 9 % 255, 255, 0))
    buf = io.BytesIO()
    image.save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("image-api-data")
    good = {f"colors/red/r{i}.png": picture("red", i) for i in range(12)}
    good |= {f"colors/blue/b{i}.jpg": picture("blue", i, "JPEG") for i in range(12)}
    jpeg = picture("red", 99, "JPEG")
    good["colors/red/truncated.jpg"] = jpeg[: len(jpeg) // 2]  # cut off mid-scan
    good["colors/blue/empty.png"] = b""
    return {
        "good": write_zip(folder / "colors.zip", good),
        "unsafe": write_zip(folder / "unsafe.zip", {"red/a.png": picture("red", 1), "../x.jpg": picture("red", 2)}),
        "single": write_zip(folder / "single.zip", {f"red/r{i}.png": picture("red", i) for i in range(6)}),
        "texts_in_folders": write_zip(folder / "texts.zip", {f"notes/{c}/n{i}.txt": b"just words\n" * (i + 1)
                                                              for c in ("a", "b") for i in range(3)}),
        "flat_texts": write_zip(folder / "flat.zip", {f"n{i}.txt": b"just words\n" for i in range(3)}),
    }


@pytest.fixture(scope="module")
def query(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("image-query") / "query.png"
    path.write_bytes(picture("red", 3))
    return path


# -- the app ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    demo, services, url = launch(tmp_path_factory, "image-runs")
    yield Client(url, verbose=False), url
    demo.close()
    services.close()


@pytest.fixture(scope="module")
def image_run(client, zips) -> str:
    """A finished EfficientNet-Lite0 run on the class-folder ZIP (shared by the prediction tests)."""
    c, _ = client
    run_id = c.predict("image", "efficientnet-lite0", handle_file(zips["good"]), 5e-4, 2, QUICK,
                       api_name="/start_run")
    status, _ = wait_for(c, run_id, timeout=240)
    assert status["state"] == "finished", status.get("error")
    return run_id


# -- catalog and data -------------------------------------------------------------------------
def test_list_models_has_one_offline_default(client):
    models = client[0].predict("image", api_name="/list_models")
    defaults = [m for m in models if m["default"]]
    assert [m["id"] for m in defaults] == ["efficientnet-lite0"] and defaults[0]["offline"] is True


def test_inspect_a_class_folder_zip(client, zips):
    summary = client[0].predict("image", handle_file(zips["good"]), {}, api_name="/inspect_dataset")
    assert summary["ok"] is True and summary["layout"] == "class_folders"
    assert summary["class_counts"] == {"blue": 12, "red": 12} and summary["n_examples"] == 24
    assert summary["formats"] == {"PNG": 12, "JPEG": 12}
    assert summary["image_sizes"]["width"]["min"] == 40 and summary["image_sizes"]["width"]["max"] == 51
    skipped = {s["file"]: s for s in summary["skipped"]}
    assert set(skipped) == {"red/truncated.jpg", "blue/empty.png"}
    assert skipped["red/truncated.jpg"]["reason"] == "corrupt" and skipped["blue/empty.png"]["reason"] == "empty_file"
    assert all(len(s["message"]) > 10 for s in skipped.values())
    assert [i["code"] for i in summary["issues"]] == ["images_skipped"]
    assert summary["upload_id"].startswith("u-")


def test_an_unsafe_zip_is_refused_and_the_server_keeps_serving(client, zips):
    message = expect_error("unsafe_archive", client[0].predict, "image", handle_file(zips["unsafe"]), {},
                           api_name="/inspect_dataset")
    assert "../x.jpg" in message and "nothing was extracted" in message
    assert client[0].predict("image", api_name="/list_models")  # still answering


def test_a_single_class_zip_is_reported_and_blocks_training(client, zips):
    c, _ = client
    summary = c.predict("image", handle_file(zips["single"]), {}, api_name="/inspect_dataset")
    assert summary["ok"] is False
    assert [i["code"] for i in summary["issues"] if i["severity"] == "error"] == ["single_class"]
    expect_error("single_class", c.predict, "image", "efficientnet-lite0", summary["upload_id"], 5e-4, 1, QUICK,
                 api_name="/start_run")


@pytest.mark.parametrize("name, code", [("texts_in_folders", "no_images"), ("flat_texts", "no_class_folders")])
def test_a_zip_of_text_files_gets_a_clear_error(client, zips, name, code):
    expect_error(code, client[0].predict, "image", handle_file(zips[name]), {}, api_name="/inspect_dataset")


# -- training and prediction ------------------------------------------------------------------
def test_train_poll_and_predict_an_uploaded_picture(client, image_run, query):
    c, _ = client
    status = c.predict(image_run, 0, api_name="/run_status")
    assert status["state"] == "finished" and status["rows"]
    assert {row["split"] for row in status["rows"]} == {"train", "validation"}
    probabilities = c.predict(image_run, handle_file(query), api_name="/predict")
    assert set(probabilities) == {"red", "blue"}
    assert abs(sum(probabilities.values()) - 1) < 1e-3


def test_an_image_run_refuses_text_and_server_paths(client, image_run, query):
    c, url = client
    message = expect_error("wrong_input_kind", c.predict, image_run, "a red square", api_name="/predict")
    assert "handle_file" in message
    # A path string is text to the API, never a file it would open.
    expect_error("wrong_input_kind", c.predict, image_run, str(query), api_name="/predict")
    # Hand-made FileData pointing outside Gradio's upload folder (raw HTTP: gradio_client would upload it):
    # Gradio refuses the first itself, uploaded_file the second; neither answers with probabilities.
    for payload in ({"path": str(query), "meta": {"_type": "gradio.FileData"}}, {"path": str(query)}):
        events = _raw_call(url, "predict", [image_run, payload])
        assert "event: error" in events and "red" not in events, events
    expect_error("empty_input", c.predict, image_run, "  ", api_name="/predict")


def test_a_text_run_refuses_a_picture(client, tmp_path, tiny_bert_dir, query):
    c, _ = client
    reviews = write_reviews(tmp_path / "reviews.csv")
    run_id = c.predict("text", str(tiny_bert_dir), handle_file(reviews), 5e-4, 1, {"batch_size": 8, "max_length": 32},
                       api_name="/start_run")
    try:  # the kind is checked before the model is needed, so the run need not have finished
        expect_error("wrong_input_kind", c.predict, run_id, handle_file(query), api_name="/predict")
    finally:
        c.predict(run_id, api_name="/stop_run")
