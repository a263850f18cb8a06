"""Audio decoding and audio uploads: every format soundfile reads, the cut for long clips, bad files
(m4a, truncated, empty, not audio) skipped with a reason, the three ZIP layouts, media_kind."""
from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
import soundfile as sf

from ftui.data.archive import media_kind
from ftui.data.audio import AUDIO_EXTENSIONS, UNSUPPORTED_EXTENSIONS, AudioProblem, load_audio_examples, probe, read_clip
from ftui.errors import FtuiError
from ftui.messages import MESSAGES

M4A_HEAD = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A mp42isom" + b"\x00" * 200


def tone(seconds=0.5, rate=8000, freq=440.0, channels=1, seed=0) -> np.ndarray:
    """A sine plus a little noise (seeded: distinct seeds give distinct files, not duplicates)."""
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.4 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    if channels == 1:
        return wave.astype(np.float32)
    return np.stack([wave * (0.5 + 0.5 * c) for c in range(channels)], axis=1).astype(np.float32)


def encoded(samples, rate, fmt="WAV", subtype=None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def wav(seed=0, seconds=0.5, rate=8000) -> bytes:
    return encoded(tone(seconds, rate, freq=300 + 40 * seed, seed=seed), rate, "WAV", "PCM_16")


def make_zip(path, entries: dict):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def reason(data) -> str:
    with pytest.raises(AudioProblem) as caught:
        probe(data)
    return caught.value.reason


# -- formats ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,subtype,rate,channels", [
    ("WAV", "PCM_16", 8000, 1), ("WAV", "PCM_16", 44100, 2), ("WAV", "FLOAT", 16000, 1),
    ("FLAC", "PCM_16", 22050, 2), ("OGG", "VORBIS", 16000, 1), ("OGG", "OPUS", 48000, 1),
])
def test_formats_probe_and_read(fmt, subtype, rate, channels):
    data = encoded(tone(0.5, rate, channels=channels), rate, fmt, subtype)
    info = probe(data)
    assert (info["format"], info["sample_rate"], info["channels"]) == (fmt, rate, channels)
    assert info["duration_s"] == pytest.approx(0.5, abs=0.01) and info["frames"] == pytest.approx(rate / 2, abs=rate / 100)
    samples, native = read_clip(data, None)
    assert native == rate and samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == pytest.approx(rate / 2, abs=rate / 100)
    assert 0.2 < np.abs(samples).max() < 0.6  # the tone, not silence or garbage


def test_mp3_probe_and_read():
    try:
        data = encoded(tone(1.0, 16000), 16000, "MP3", "MPEG_LAYER_III")
    except (sf.LibsndfileError, ValueError, TypeError) as exc:
        pytest.skip(f"this libsndfile cannot write MP3: {exc}")
    info = probe(data)
    assert info["format"] == "MP3" and info["sample_rate"] == 16000 and info["duration_s"] == pytest.approx(1.0, abs=0.1)
    samples, rate = read_clip(data, 0.5)
    assert rate == 16000 and len(samples) == 8000


def test_stereo_is_mixed_to_mono_by_the_mean():
    left = np.full(800, 0.5, dtype=np.float32)
    right = np.full(800, -0.1, dtype=np.float32)
    data = encoded(np.stack([left, right], axis=1), 8000, "WAV", "FLOAT")
    samples, rate = read_clip(data, None)
    assert rate == 8000 and samples.shape == (800,) and np.allclose(samples, 0.2)


def test_paths_and_bytes_give_the_same(tmp_path):
    data = wav(3)
    (tmp_path / "a.wav").write_bytes(data)
    assert probe(tmp_path / "a.wav") == probe(data) == probe(str(tmp_path / "a.wav"))
    assert np.array_equal(read_clip(tmp_path / "a.wav", 0.1)[0], read_clip(data, 0.1)[0])


def test_long_clip_is_cut_not_loaded_whole(tmp_path):
    """A 10-minute 16 kHz clip: read_clip(max_seconds=5) reads 5 s and allocates about that much."""
    rate, minutes = 16000, 10
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        chunk = tone(60, rate)
        for _ in range(minutes):
            out.write(chunk)
    full_bytes = minutes * 60 * rate * 4  # as float32
    tracemalloc.start()
    try:
        samples, got_rate = read_clip(path, 5.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got_rate == rate and len(samples) == 5 * rate
    assert peak < full_bytes / 20, f"peak {peak / 1e6:.1f} MB for a {full_bytes / 1e6:.0f} MB clip"
    # probe decodes all of it, in blocks: the length is right and memory stays small too
    tracemalloc.start()
    try:
        info = probe(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info["duration_s"] == pytest.approx(600.0) and peak < full_bytes / 20


def test_max_seconds_longer_than_the_clip_reads_it_all():
    samples, _ = read_clip(wav(seconds=0.25), 30.0)
    assert len(samples) == 2000
    with pytest.raises(ValueError):
        read_clip(wav(), 0)


# -- bad files ------------------------------------------------------------------------------
def test_m4a_is_unsupported_whatever_its_name(tmp_path):
    (tmp_path / "clip.wav").write_bytes(M4A_HEAD)
    assert reason(tmp_path / "clip.wav") == "unsupported_format"
    assert reason(M4A_HEAD) == "unsupported_format"
    with pytest.raises(AudioProblem) as caught:
        read_clip(tmp_path / "clip.wav", 1.0)
    assert caught.value.reason == "unsupported_format"


@pytest.mark.parametrize("head", [bytes([0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]),  # ADTS AAC
                                  bytes([0xFF, 0xF9, 0x50, 0x80, 0x02, 0x1F, 0xFC]),
                                  b"#!AMR\n", bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"),  # AMR, WMA
                                  b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes([0xFF, 0xF1, 0x50, 0x80])])  # AAC behind ID3
def test_other_unsupported_containers(head):
    assert reason(head + b"\x00" * 300) == "unsupported_format"


def test_truncated_wav():
    data = wav(seconds=1.0)
    assert probe(data)["frames"] == 8000
    assert reason(data[:len(data) // 2]) == "truncated"  # libsndfile alone would report 4,000 good frames


@pytest.mark.parametrize("fmt,subtype", [("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("OGG", "OPUS")])
def test_truncated_compressed(fmt, subtype):
    data = encoded(tone(2.0, 48000, seed=1), 48000, fmt, subtype)
    probe(data)  # whole: fine
    assert reason(data[:int(len(data) * 0.6)]) == "truncated"


def test_truncated_mp3():
    try:
        data = encoded(tone(2.0, 16000), 16000, "MP3", "MPEG_LAYER_III")
    except (sf.LibsndfileError, ValueError, TypeError) as exc:
        pytest.skip(f"this libsndfile cannot write MP3: {exc}")
    assert reason(data[:len(data) // 2]) == "truncated"  # the header keeps claiming 2 s; decoding gets ~1


def test_damaged_flac_is_corrupt_not_truncated():
    data = bytearray(encoded(tone(2.0, 48000, seed=2), 48000, "FLAC", "PCM_16"))
    middle = len(data) // 2
    data[middle:middle + 64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    assert reason(bytes(data)) == "corrupt"


def test_empty_files():
    assert reason(b"") == "empty"
    assert reason(encoded(np.zeros(0, np.float32), 8000, "WAV", "PCM_16")) == "empty"  # a header, zero frames


def test_not_audio():
    assert reason(b"just some notes, not a recording\n" * 20) == "not_audio"
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    assert reason(png) == "not_audio"
    assert reason(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8) == "not_audio"  # JPEG (mpg123 could find a sync)


def test_broken_wav_header_is_corrupt():
    data = wav()
    assert reason(data[:30]) == "corrupt"  # starts like a WAV, has no data chunk


def test_extension_sets():
    assert {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3"} <= AUDIO_EXTENSIONS
    assert {".m4a", ".aac", ".mp4", ".wma", ".amr", ".3gp"} <= UNSUPPORTED_EXTENSIONS
    assert not AUDIO_EXTENSIONS & UNSUPPORTED_EXTENSIONS


# -- uploads --------------------------------------------------------------------------------
def class_entries(prefix="", classes=("dog", "cat"), n=4, start=0):
    return {f"{prefix}{c}/{i}.wav": wav(start + 10 * k + i) for k, c in enumerate(classes) for i in range(n)}


def test_class_folders_with_one_bad_file_of_each_kind(tmp_path):
    good = class_entries("sounds/")
    whole = wav(99, seconds=1.0)
    bad = {"sounds/dog/phone.m4a": M4A_HEAD, "sounds/dog/renamed.wav": M4A_HEAD + b"x",
           "sounds/cat/cut.wav": whole[:len(whole) // 2], "sounds/cat/zero.wav": b"",
           "sounds/cat/notes.txt": b"recorded on tuesday\n", "sounds/cat/photo.jpg": b"\xff\xd8\xff\xe0" + bytes(500),
           "sounds/dog/copy.wav": good["sounds/dog/0.wav"], "sounds/__MACOSX/._x.wav": b"junk"}
    examples = load_audio_examples(make_zip(tmp_path / "up.zip", good | bad))
    s = examples.summary
    assert s["kind"] == "audio" and s["layout"] == "class_folders" and s["file"] == "up.zip"
    assert s["n_examples"] == 8 and s["class_counts"] == {"cat": 4, "dog": 4} and s["n_classes"] == 2
    reasons = {entry["file"]: entry["reason"] for entry in s["skipped"]}
    assert reasons == {"dog/phone.m4a": "unsupported_format", "dog/renamed.wav": "unsupported_format",
                       "cat/cut.wav": "truncated", "cat/zero.wav": "empty", "cat/notes.txt": "not_audio",
                       "cat/photo.jpg": "not_audio", "dog/copy.wav": "duplicate"}
    assert s["n_skipped"] == 7 and all(entry["message"] in MESSAGES.values() for entry in s["skipped"])
    assert next(e for e in s["skipped"] if e["reason"] == "unsupported_format")["message"].startswith("Unsupported audio")
    assert s["formats"] == {"WAV": 8} and s["sample_rates"] == {"8000": 8} and s["channels"] == {"1": 8}
    assert s["durations"] == {"min": 0.5, "median": 0.5, "max": 0.5, "total": 4.0}
    assert sorted(s["samples"]) == ["cat", "dog"] and all(len(v) == 3 for v in s["samples"].values())
    assert all(p.startswith("/") and p.endswith(".wav") for p in examples.inputs)
    assert sorted(set(examples.labels)) == ["cat", "dog"] and examples.validation is None
    assert "audio_skipped" in {i.code for i in examples.issues}
    assert not [i for i in examples.issues if i.severity == "error"]
    json.dumps(s)  # JSON-able as promised
    samples, rate = read_clip(examples.inputs[0], 0.2)
    assert rate == 8000 and len(samples) == 1600


def test_train_val_layout_and_mixed_formats(tmp_path):
    entries = class_entries("train/", n=3) | {
        "val/dog/a.flac": encoded(tone(1.0, 16000, seed=50), 16000, "FLAC", "PCM_16"),
        "val/cat/b.ogg": encoded(tone(1.0, 16000, channels=2, seed=51), 16000, "OGG", "VORBIS"),
    }
    examples = load_audio_examples(make_zip(tmp_path / "tv.zip", entries))
    s = examples.summary
    assert s["layout"] == "train_val" and s["n_examples"] == 6 and s["n_validation"] == 2
    assert s["validation_class_counts"] == {"cat": 1, "dog": 1}
    assert examples.validation is not None and sorted(examples.validation.labels) == ["cat", "dog"]
    assert s["formats"] == {"WAV": 6, "FLAC": 1, "OGG": 1}
    assert s["sample_rates"] == {"8000": 6, "16000": 2} and s["channels"] == {"1": 7, "2": 1}
    assert s["durations"]["max"] == 1.0 and s["durations"]["total"] == 5.0


def test_csv_manifest_layout(tmp_path):
    entries = {f"clips/{i:03}.wav": wav(i) for i in range(6)}
    rows = "\n".join(f"clips/{i:03}.wav,{'yes' if i % 2 else 'no'}" for i in range(6))
    entries["labels.csv"] = f"file,label\n{rows}\nclips/absent.wav,yes\n"
    examples = load_audio_examples(make_zip(tmp_path / "m.zip", entries))
    s = examples.summary
    assert s["layout"] == "manifest" and s["class_counts"] == {"no": 3, "yes": 3}
    assert [e["reason"] for e in s["skipped"]] == ["missing"]


def test_one_class_only_is_an_error_issue(tmp_path):
    examples = load_audio_examples(make_zip(tmp_path / "one.zip", class_entries(classes=("dog",))))
    assert [i.code for i in examples.issues if i.severity == "error"] == ["single_class"]


def test_no_readable_audio(tmp_path):
    entries = {"dog/a.m4a": M4A_HEAD, "cat/b.txt": b"hello"}
    with pytest.raises(FtuiError) as caught:
        load_audio_examples(make_zip(tmp_path / "none.zip", entries))
    assert caught.value.code == "no_audio" and caught.value.detail == {"skipped": 2}


def test_no_class_folders_speaks_of_audio(tmp_path):
    with pytest.raises(FtuiError) as caught:
        load_audio_examples(make_zip(tmp_path / "flat.zip", {"a.wav": wav(1), "b.wav": wav(2)}))
    assert caught.value.code == "no_audio_class_folders" and "audio" in MESSAGES[caught.value.code]


def test_unsafe_zip_is_refused(tmp_path):
    entries = class_entries() | {"../evil.wav": wav(7)}
    with pytest.raises(FtuiError) as caught:
        load_audio_examples(make_zip(tmp_path / "evil.zip", entries))
    assert caught.value.code == "unsafe_archive"
    assert not (tmp_path / "evil.wav").exists()


def test_new_codes_have_sentences():
    for code in ("no_audio", "audio_skipped", "unsupported_audio", "skip_unsupported_format", "skip_not_audio",
                 "skip_empty", "skip_truncated", "skip_audio_corrupt", "skip_audio_duplicate", "skip_missing"):
        assert code in MESSAGES
    assert "m4a" in MESSAGES["unsupported_audio"] and "{name}" in MESSAGES["unsupported_audio"]


# -- media_kind -----------------------------------------------------------------------------
def test_media_kind(tmp_path):
    audio = make_zip(tmp_path / "a.zip", {"x/a.wav": b"1", "x/b.mp3": b"2", "y/c.m4a": b"3", "notes.txt": b""})
    images = make_zip(tmp_path / "i.zip", {"x/a.jpg": b"1", "y/b.PNG": b"2", "y/c.wav": b"3"})
    m4a_only = make_zip(tmp_path / "m.zip", {"x/a.m4a": b"1", "y/b.aac": b"2"})
    litter = make_zip(tmp_path / "l.zip", {"x/a.png": b"1", "__MACOSX/x/._a.wav": b"", "x/.b.wav": b"",
                                           "y/._c.wav": b""})
    empty = make_zip(tmp_path / "e.zip", {})
    other = make_zip(tmp_path / "o.zip", {"a.txt": b"1", "b.csv": b"2"})
    tie = make_zip(tmp_path / "t.zip", {"a.png": b"1", "b.wav": b"2"})
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    assert media_kind(audio) == "audio" and media_kind(m4a_only) == "audio"
    assert media_kind(images) == "image" and media_kind(litter) == "image"
    assert media_kind(empty) is None and media_kind(other) is None and media_kind(tie) is None
    assert media_kind(tmp_path / "bad.zip") is None and media_kind(tmp_path / "missing.zip") is None
    assert not (tmp_path / "extracted").exists()  # names only: nothing was unpacked
