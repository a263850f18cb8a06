"""The public API for audio classification, driven like a user's script: the app launched in-process
on a free port, gradio_client uploading ZIPs and sounds with handle_file.

The sounds are generated tones (low vs high, mixed rates and formats); training is the offline
default (Whisper tiny.en's encoder) with a 1 s window for a few short steps.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file

# Helpers of the text API tests (pytest puts tests/api on sys.path for every file there).
from test_api import expect_error, launch, wait_for

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
QUICK = {"clip_seconds": 1, "batch_size": 8}
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + b"\x00" * 400


def tone(label: str, i: int, rate: int = 8000, fmt: str = "WAV", seconds: float | None = None) -> bytes:
    rng = np.random.default_rng(i)
    seconds = seconds or 0.4 + (i % 4) * 0.2
    t = np.arange(int(rate * seconds)) / rate
    freq = 300 if label == "low" else 2000
    wave = 0.5 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6)) + 0.05 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    sf.write(buf, wave.astype(np.float32), rate, format=fmt)
    return buf.getvalue()


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio-api-data")
    good = {f"tones/{label}/{label}{i}.wav": tone(label, i) for label in ("low", "high") for i in range(12)}
    good["tones/low/extra.flac"] = tone("low", 50, 16000, "FLAC")
    good["tones/high/extra.ogg"] = tone("high", 51, 22050, "OGG")
    good["tones/low/voice-memo.m4a"] = M4A
    good["tones/high/cut.wav"] = tone("high", 52)[:300]
    good["tones/high/silent.wav"] = b""
    good["tones/low/notes.wav"] = b"this is not a sound at all\n" * 20
    out = {
        "good": write_zip(folder / "tones.zip", good),
        "unsafe": write_zip(folder / "unsafe.zip", {"low/a.wav": tone("low", 1), "../evil.wav": tone("high", 2)}),
        "single": write_zip(folder / "single.zip", {f"low/l{i}.wav": tone("low", i) for i in range(6)}),
    }
    for name, data in {"query.wav": tone("high", 7, 44100), "memo.m4a": M4A}.items():
        (folder / name).write_bytes(data)
        out[name] = folder / name
    long = folder / "ten-minutes.flac"
    sf.write(long, np.zeros(16000 * 600, np.float32), 16000)  # decoded only as far as the window
    out["long"] = long
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    demo, services, url = launch(tmp_path_factory, "audio-runs")
    yield Client(url, verbose=False)
    demo.close()
    services.close()


@pytest.fixture(scope="module")
def audio_run(client, files) -> str:
    run_id = client.predict("audio", "whisper-tiny.en", handle_file(files["good"]), 5e-4, 3, QUICK,
                            api_name="/start_run")
    status, _ = wait_for(client, run_id, timeout=240)
    assert status["state"] == "finished", status.get("error")
    return run_id


def test_list_models_has_the_offline_whisper_default(client):
    models = client.predict("audio", api_name="/list_models")
    defaults = [m for m in models if m["default"]]
    assert [m["id"] for m in defaults] == ["whisper-tiny.en"] and defaults[0]["offline"] is True


def test_inspect_reports_rates_durations_and_every_bad_file(client, files):
    summary = client.predict("audio", handle_file(files["good"]), {}, api_name="/inspect_dataset")
    assert summary["ok"] is True and summary["kind"] == "audio"
    assert summary["class_counts"] == {"high": 13, "low": 13}
    assert summary["sample_rates"] == {"8000": 24, "16000": 1, "22050": 1}
    assert 0.3 < summary["durations"]["min"] <= summary["durations"]["max"] < 1.5
    reasons = {s["file"]: s["reason"] for s in summary["skipped"]}
    assert reasons == {"low/voice-memo.m4a": "unsupported_format", "high/cut.wav": "truncated",
                       "high/silent.wav": "empty", "low/notes.wav": "not_audio"}
    m4a = next(s for s in summary["skipped"] if s["file"].endswith(".m4a"))
    assert "m4a" in m4a["message"].lower() and "wav" in m4a["message"].lower()


def test_an_unsafe_zip_is_refused_and_the_server_keeps_serving(client, files):
    message = expect_error("unsafe_archive", client.predict, "audio", handle_file(files["unsafe"]), {},
                           api_name="/inspect_dataset")
    assert "../evil.wav" in message
    assert client.predict("audio", api_name="/list_models")


def test_one_class_only_blocks_training(client, files):
    summary = client.predict("audio", handle_file(files["single"]), {}, api_name="/inspect_dataset")
    assert summary["ok"] is False
    expect_error("single_class", client.predict, "audio", "whisper-tiny.en", handle_file(files["single"]), 5e-5, 1,
                 QUICK, api_name="/start_run")


def test_train_and_predict_uploaded_sounds(client, files, audio_run):
    result = client.predict(audio_run, handle_file(files["query.wav"]), api_name="/predict")
    assert set(result) == {"low", "high"} and abs(sum(result.values()) - 1) < 1e-3
    assert max(result, key=result.get) == "high"
    assert set(client.predict(audio_run, handle_file(files["long"]), api_name="/predict")) == {"low", "high"}


def test_bad_sounds_get_sentences_and_nothing_breaks(client, files, audio_run):
    message = expect_error("unsupported_audio", client.predict, audio_run, handle_file(files["memo.m4a"]),
                           api_name="/predict")
    assert "convert" in message.lower()
    expect_error("wrong_input_kind", client.predict, audio_run, "a text, not a sound", api_name="/predict")
    assert client.predict(audio_run, handle_file(files["query.wav"]), api_name="/predict")
