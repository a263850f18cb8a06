"""Evaluation and batch prediction: metrics against hand-computed numbers, the files under
run_dir/eval and run_dir/predictions, unlabelled batch files, and the services on a tiny trained run."""
from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from ftui import evaluation
from ftui.data.unlabelled import read_unlabelled
from ftui.errors import FtuiError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FakePredictor:
    """Probabilities from a table: input -> row (in `labels` order). Counts its calls."""

    def __init__(self, labels, table, task="text"):
        self.labels = labels
        self.table = table
        self.task = SimpleNamespace(name=task)
        self.calls = []

    def probabilities(self, inputs):
        self.calls.append(len(inputs))
        return np.array([self.table(x) for x in inputs], dtype=np.float64)


# -- metrics ------------------------------------------------------------------------------
def test_metrics_match_a_hand_computed_example():
    # 10 items, 3 classes.            true:  a a a a b b b c c c
    true = list("aaaabbbccc")  #      pred:  a a b c b b a c c b
    pred = list("aabcbbaccb")
    m = evaluation.metrics(true, pred, ["a", "b", "c"])
    # confusion (rows true, cols predicted):  a: 2 1 1 | b: 1 2 0 | c: 0 1 2
    assert m["confusion"] == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(6 / 10)
    # a: predicted 3 times, 2 right -> P 2/3; 4 true, 2 found -> R 1/2; F1 = 2PR/(P+R) = 4/7
    # b: predicted 4 times, 2 right -> P 1/2; 3 true, 2 found -> R 2/3; F1 = 4/7
    # c: predicted 3 times, 2 right -> P 2/3; 3 true, 2 found -> R 2/3; F1 = 2/3
    expected = {"a": (2 / 3, 1 / 2, 4 / 7, 4), "b": (1 / 2, 2 / 3, 4 / 7, 3), "c": (2 / 3, 2 / 3, 2 / 3, 3)}
    assert [row["label"] for row in m["per_class"]] == ["a", "b", "c"]
    for row in m["per_class"]:
        precision, recall, f1, support = expected[row["label"]]
        assert row["precision"] == pytest.approx(precision)
        assert row["recall"] == pytest.approx(recall)
        assert row["f1"] == pytest.approx(f1)
        assert row["support"] == support
    assert m["macro_f1"] == pytest.approx((4 / 7 + 4 / 7 + 2 / 3) / 3)  # = 38/63
    assert m["weighted_f1"] == pytest.approx((4 * 4 / 7 + 3 * 4 / 7 + 3 * 2 / 3) / 10)  # = 0.6
    json.dumps(m)  # plain JSON types only


def test_a_class_absent_from_the_file_does_not_lower_macro_f1():
    # labels a, b, c; this file holds only a and b, and c is never predicted
    m = evaluation.metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b", "c"])
    # a: P 1/1, R 1/2, F1 2/3;  b: P 2/3, R 2/2, F1 4/5;  c: no support, never predicted
    assert m["per_class"][2] == {"label": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 * 4 / 5) / 4)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]


# -- evaluate_run, cell_examples ----------------------------------------------------------
def _cue_table(text):
    """'pos' texts lean pos, 'neg' texts lean neg; the digit sets how confident (and 'x' flips it)."""
    strength = 0.5 + int(text[-1]) / 20  # 0.5 .. 0.95
    p_pos = strength if "pos" in text else 1 - strength
    if "x" in text:
        p_pos = 1 - p_pos
    return [1 - p_pos, p_pos]  # labels: neg, pos


def test_evaluate_run_writes_files_reports_unseen_labels_and_scores_the_rest(tmp_path):
    predictor = FakePredictor(["neg", "pos"], _cue_table)
    inputs = ["pos 9", "pos 7", "pos x3", "neg 8", "neg x9", "neg 6", "meh 5", "meh 4", "odd 3"]
    truth = ["pos", "pos", "pos", "neg", "neg", "neg", "neutral", "neutral", "other"]
    result = evaluation.evaluate_run(tmp_path, predictor, inputs, truth, source="reviews.csv")
    assert result["unseen_labels"] == {"neutral": 2, "other": 1}
    assert result["n"] == 6 and result["n_total"] == 9
    # pos 9, pos 7 right; pos x3 -> neg; neg 8, neg 6 right; neg x9 -> pos
    assert result["confusion"] == [[2, 1], [1, 2]] and result["accuracy"] == pytest.approx(4 / 6)
    assert result["name"].startswith("file-") and result["source"] == "reviews.csv"

    folder = tmp_path / "eval" / result["name"]
    saved = json.loads((folder / "evaluation.json").read_text())
    assert saved["accuracy"] == result["accuracy"] and saved["labels"] == ["neg", "pos"]
    assert saved["created"] > 0 and saved["confusion"] == [[2, 1], [1, 2]]
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(9))
    assert rows[2] == {"index": 2, "input": "pos x3", "true": "pos", "pred": "neg", "confidence": 0.65,
                       "known": True, "probabilities": {"neg": 0.65, "pos": 0.35}}
    assert rows[6]["known"] is False and rows[6]["true"] == "neutral"
    png = (folder / "confusion.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(folder / "confusion.png") as im:
        assert 400 <= im.width <= 2000 and 400 <= im.height <= 2000

    # the same file again -> the same folder; the run's split -> "validation"
    again = evaluation.evaluate_run(tmp_path, predictor, inputs, truth, source="reviews.csv")
    assert again["name"] == result["name"]
    split = evaluation.evaluate_run(tmp_path, predictor, inputs[:6], truth[:6], source="validation")
    assert split["name"] == "validation" and split["unseen_labels"] == {}
    assert [e["name"] for e in evaluation.list_evaluations(tmp_path)] == ["validation", result["name"]]


def test_an_evaluation_with_no_known_label_is_refused(tmp_path):
    predictor = FakePredictor(["neg", "pos"], _cue_table)
    with pytest.raises(FtuiError) as err:
        evaluation.evaluate_run(tmp_path, predictor, ["meh 1"], ["neutral"], source="x.csv")
    assert err.value.code == "no_known_labels" and "neutral" in err.value.to_dict()["message"]


def test_cell_examples_are_the_cell_most_confident_first(tmp_path):
    predictor = FakePredictor(["neg", "pos"], _cue_table)
    inputs = ["pos 6", "pos 9", "pos 7", "pos x2", "pos x8", "neg 5"]
    result = evaluation.evaluate_run(tmp_path, predictor, inputs, ["pos"] * 5 + ["neg"], source="validation")
    right = evaluation.cell_examples(tmp_path, result["name"], "pos", "pos")
    assert [e["input"] for e in right] == ["pos 9", "pos 7", "pos 6"]
    assert right[0]["probabilities"] == {"pos": 0.95, "neg": 0.05}  # most likely first
    assert right[0]["confidence"] == 0.95 and right[0]["index"] == 1
    wrong = evaluation.cell_examples(tmp_path, "validation", "pos", "neg")
    assert [e["input"] for e in wrong] == ["pos x8", "pos x2"]  # the most confidently wrong first
    assert evaluation.cell_examples(tmp_path, "validation", "pos", "pos", limit=1)[0]["input"] == "pos 9"
    assert evaluation.cell_examples(tmp_path, "validation", "neg", "pos") == []
    for bad in ("../../etc", "file-zz", "missing-name", "file-0123456789"):
        with pytest.raises(FtuiError) as err:
            evaluation.cell_examples(tmp_path, bad, "pos", "pos")
        assert err.value.code == "unknown_evaluation"


def test_image_evaluations_name_files_by_their_place_in_the_upload(tmp_path):
    folder = tmp_path / "uploads" / "u-1" / "extracted" / "val"
    inputs = [str(folder / "cats" / "a.png"), str(folder / "dogs" / "b.png")]
    predictor = FakePredictor(["cats", "dogs"], lambda path: [0.8, 0.2], task="image")
    result = evaluation.evaluate_run(tmp_path / "run", predictor, inputs, ["cats", "dogs"], source="validation")
    examples = evaluation.cell_examples(tmp_path / "run", result["name"], "dogs", "cats")
    assert examples == [{"index": 1, "input": "val/dogs/b.png", "path": inputs[1], "true": "dogs", "pred": "cats",
                         "confidence": 0.8, "known": True, "probabilities": {"cats": 0.8, "dogs": 0.2}}]


def test_a_confusion_matrix_of_twenty_classes_is_readable(tmp_path):
    labels = [f"class_{i:02d}_with_a_long_name" for i in range(20)]
    confusion = [[(7 if i == j else (i * j) % 3) for j in range(20)] for i in range(20)]
    out = evaluation.plot_confusion(confusion, labels, tmp_path / "c.png", title="twenty")
    with Image.open(out) as im:
        assert im.format == "PNG" and 1000 <= im.width <= 2000 and 900 <= im.height <= 2000


# -- batch prediction ---------------------------------------------------------------------
def test_predict_batch_writes_a_csv_and_reports_progress(tmp_path):
    predictor = FakePredictor(["neg", "pos"], _cue_table)
    inputs = [f"{'pos' if i % 3 else 'neg'} {i % 10}" for i in range(150)]
    names = [f"name {i}" for i in range(150)]
    seen = []
    out = evaluation.predict_batch(predictor, inputs, names, tmp_path / "out" / "p.csv",
                                   progress=lambda done, total: seen.append((done, total)))
    assert seen == [(64, 150), (128, 150), (150, 150)] and predictor.calls == [64, 64, 22]
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["input", "predicted", "confidence", "p_neg", "p_pos"]
    assert len(rows) == 150 and rows[1] == {"input": "name 1", "predicted": "pos", "confidence": "0.550000",
                                            "p_neg": "0.450000", "p_pos": "0.550000"}
    assert rows[0]["predicted"] == "neg" and rows[0]["confidence"] == "0.500000"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp file left


# -- unlabelled files ---------------------------------------------------------------------
def test_read_unlabelled_texts_from_tables_and_lines(tmp_path):
    labelled = tmp_path / "a.csv"
    labelled.write_text("label,text\nham,see you at noon\nspam,win a free prize now\n,\n", encoding="utf-8")
    batch = read_unlabelled("text", labelled)
    assert batch.inputs == ["see you at noon", "win a free prize now"] and batch.names == batch.inputs
    assert batch.skipped == [{"item": "row 3", "reason": "empty_text", "code": "skip_empty_text"}]

    other = tmp_path / "b.tsv"  # no text-like column name: the longest non-numeric column wins
    other.write_text("id\tcategory\tbody_of_mail\n1\ta\thello there friend\n2\tb\tcall me later today\n")
    assert read_unlabelled("text", other).inputs == ["hello there friend", "call me later today"]

    single = tmp_path / "c.csv"
    single.write_text("message\nfirst one\nsecond one\n", encoding="utf-8")
    assert read_unlabelled("text", single).inputs == ["first one", "second one"]
    headerless = tmp_path / "d.csv"  # the first line is a text, not a column name
    headerless.write_text("this is the very first text\nand here is a second\n", encoding="utf-8")
    assert read_unlabelled("text", headerless).inputs == ["this is the very first text", "and here is a second"]

    lines = tmp_path / "e.txt"
    lines.write_text("Free entry, win now!\n\nsee you, later\n", encoding="utf-8")
    assert read_unlabelled("text", lines).inputs == ["Free entry, win now!", "see you, later"]
    fasttext = tmp_path / "f.txt"
    fasttext.write_text("__label__spam win cash\n__label__ham hi mum\n", encoding="utf-8")
    assert read_unlabelled("text", fasttext).inputs == ["win cash", "hi mum"]
    jsonl = tmp_path / "g.jsonl"
    jsonl.write_text('{"text": "one"}\n{"text": "two"}\n', encoding="utf-8")
    assert read_unlabelled("text", jsonl).inputs == ["one", "two"]


def test_read_unlabelled_refuses_empty_files_clearly(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(FtuiError) as err:
        read_unlabelled("text", empty)
    assert err.value.code == "empty_file" and "empty.csv" in err.value.to_dict()["message"]
    blank = tmp_path / "blank.csv"
    blank.write_text("id,text\n1,\n2,   \n", encoding="utf-8")
    with pytest.raises(FtuiError) as err:
        read_unlabelled("text", blank)
    assert err.value.code == "empty_batch" and err.value.detail["skipped"] == 2
    assert "blank.csv" in err.value.to_dict()["message"]


def _png_bytes(color, size=(24, 20)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def test_read_unlabelled_images_from_flat_and_nested_zips(tmp_path):
    flat = tmp_path / "flat" / "batch.zip"
    flat.parent.mkdir()
    with zipfile.ZipFile(flat, "w") as z:
        z.writestr("b.png", _png_bytes("red"))
        z.writestr("a.png", _png_bytes("blue"))
        z.writestr("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
        z.writestr("__MACOSX/._a.png", b"litter")
    batch = read_unlabelled("image", flat)
    assert batch.names == ["a.png", "b.png"]
    assert all(p.endswith(n) and (tmp_path / "flat" / "extracted") in Path(p).parents
               for p, n in zip(batch.inputs, batch.names))
    assert batch.skipped == [{"item": "broken.jpg", "reason": "corrupt", "code": "skip_corrupt"}]

    nested = tmp_path / "nested" / "batch.zip"
    nested.parent.mkdir()
    with zipfile.ZipFile(nested, "w") as z:
        z.writestr("photos/day1/x.png", _png_bytes("green"))
        z.writestr("photos/day2/y.png", _png_bytes("white"))
        z.writestr("photos/notes.txt", b"hello")
        z.writestr("photos/empty.png", b"")
    batch = read_unlabelled("image", nested)
    assert batch.names == ["photos/day1/x.png", "photos/day2/y.png"]
    assert sorted((s["item"], s["reason"]) for s in batch.skipped) == [
        ("photos/empty.png", "empty_file"), ("photos/notes.txt", "not_an_image")]

    nothing = tmp_path / "none" / "batch.zip"
    nothing.parent.mkdir()
    with zipfile.ZipFile(nothing, "w") as z:
        z.writestr("x.png", b"garbage")
    with pytest.raises(FtuiError) as err:
        read_unlabelled("image", nothing)
    assert err.value.code == "empty_batch" and err.value.detail["skipped"] == 1


def test_read_unlabelled_audio_skips_what_cannot_be_decoded(tmp_path):
    pytest.importorskip("ftui.data.audio")
    import wave

    clip = io.BytesIO()
    with wave.open(clip, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x01" * 1600)
    path = tmp_path / "clips.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("day1/beep.wav", clip.getvalue())
        z.writestr("day1/photo.wav", _png_bytes("red"))
    batch = read_unlabelled("audio", path)
    assert batch.names == ["day1/beep.wav"]
    assert [s["item"] for s in batch.skipped] == ["day1/photo.wav"]
    assert batch.skipped[0]["code"].startswith("skip_")


# -- services on a tiny trained text run ----------------------------------------------------
@pytest.fixture
def finished_run(make_text_run):
    """(Services, run_id) of a run trained on the tiny BERT and marked finished."""
    from ftui.engine import loop
    from ftui.worker import read_train_data
    from ftui.engine.sinks import MemorySink
    from ftui.runs.store import update_status
    from ftui.services import Services
    from ftui.tasks import get_task

    store, run_dir, config, source = make_text_run(n=48, epochs=1)
    loop.train(config, get_task("text"), source, read_train_data(run_dir), MemorySink(), threading.Event(),
               run_dir / "model")
    update_status(run_dir, state="finished")
    services = Services(store.root)
    yield services, run_dir.name
    services.close()


def test_services_evaluate_the_validation_split_and_an_uploaded_file(finished_run, tmp_path):
    services, run_id = finished_run
    result = services.evaluate(None, run_id)
    assert result["name"] == "validation" and result["n"] == 12 and result["unseen_labels"] == {}
    assert sum(map(sum, result["confusion"])) == 12 and 0 <= result["accuracy"] <= 1
    run_dir = services.store.run_dir(None, run_id)
    assert (run_dir / "eval" / "validation" / "confusion.png").read_bytes().startswith(PNG_SIGNATURE)

    upload = tmp_path / "test set.csv"
    upload.write_text("sentiment,review\npos,a great movie\nneg,an awful plot\npos,love it\nmeh,so so\n",
                      encoding="utf-8")
    seen = []
    result = services.evaluate(None, run_id, upload, progress=lambda d, t: seen.append((d, t)))
    assert result["name"].startswith("file-") and result["source"] == "test_set.csv"
    assert result["n"] == 3 and result["unseen_labels"] == {"meh": 1} and seen == [(4, 4)]
    listed = services.list_evaluations(None, run_id)
    assert {e["name"] for e in listed} == {"validation", result["name"]}

    cell = result["confusion"]
    labels = result["labels"]
    for i, true in enumerate(labels):
        for j, pred in enumerate(labels):
            examples = services.evaluation_examples(None, run_id, result["name"], true, pred)
            assert len(examples) == cell[i][j]
            assert all(e["true"] == true and e["pred"] == pred for e in examples)
            assert [e["confidence"] for e in examples] == sorted((e["confidence"] for e in examples), reverse=True)
    with pytest.raises(FtuiError) as err:  # another user sees nothing of it
        services.evaluation_examples("bob", run_id, "validation", "pos", "pos")
    assert err.value.code == "unknown_run"


def test_services_predict_batch_writes_the_csv_into_the_run(finished_run, tmp_path):
    services, run_id = finished_run
    upload = tmp_path / "new.csv"
    upload.write_text("id,text\n" + "\n".join(f"{i},the movie was {w}" if w else f"{i},"
                                              for i, w in enumerate(("great", "awful", "", "fun"))) + "\n",
                      encoding="utf-8")
    seen = []
    out = services.predict_batch(None, run_id, upload, progress=lambda d, t: seen.append((d, t)))
    assert out["n"] == 3 and seen == [(3, 3)] and out["labels"] == ["neg", "pos"]
    assert out["skipped"] == [{"item": "row 3", "reason": "empty_text", "code": "skip_empty_text",
                               "message": "Empty text."}]
    path = services.store.run_dir(None, run_id) / "predictions"
    assert out["csv"].startswith(str(path))
    rows = list(csv.DictReader(open(out["csv"], encoding="utf-8")))
    assert [r["input"] for r in rows] == ["the movie was great", "the movie was awful", "the movie was fun"]
    for row in rows:
        assert row["predicted"] in ("neg", "pos")
        assert float(row["p_neg"]) + float(row["p_pos"]) == pytest.approx(1, abs=1e-5)
        assert float(row["confidence"]) == max(float(row["p_neg"]), float(row["p_pos"]))


def test_services_refuse_a_run_that_is_not_ready(make_text_run):
    from ftui.services import Services

    store, run_dir, _, _ = make_text_run(n=16, epochs=1)  # queued, never trained
    services = Services(store.root)  # start-up marks the left-over queued run interrupted
    try:
        for call in (lambda: services.evaluate(None, run_dir.name),
                     lambda: services.predict_batch(None, run_dir.name, upload_id="u-0000000000000000")):
            with pytest.raises(FtuiError) as err:
                call()
            assert err.value.code == "run_not_ready" and err.value.detail["state"] == "interrupted"
        assert services.list_evaluations(None, run_dir.name) == []
    finally:
        services.close()
