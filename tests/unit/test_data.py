"""Readers, column detection, validation issues and the split: on small files the tests write."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from ftui.config import DataOptions
from ftui.data.sources import read_table
from ftui.data.split import read_split, split_examples, write_split
from ftui.data.tabular import choose_columns, load_text_examples
from ftui.data.validate import check_labels
from ftui.errors import FtuiError

ROWS = [("great film, loved it", "pos"), ("terrible acting", "neg"), ("what a joy", "pos"), ("boring plot", "neg")]


def codes(issues):
    return {i.code for i in issues}


def write(tmp_path, name, content, mode="w", encoding="utf-8"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=encoding)
    return path


# -- readers -------------------------------------------------------------------------------
def test_csv_with_quoted_commas_and_newlines(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\n"hello, world",a\n"two\nlines",b\n')
    frame, encoding = read_table(path)
    assert frame["text"].tolist() == ["hello, world", "two\nlines"]
    assert encoding == "utf-8"


def test_tsv_keeps_stray_quotes_inside_messages(tmp_path):
    # SMS Spam has messages that start with a quote; honouring quotes would merge lines.
    path = write(tmp_path, "d.tsv", 'Label\tSMS\nham\t"Hi there\nspam\tWin "big" now\nham\tok\n')
    frame, _ = read_table(path)
    assert len(frame) == 3 and frame["SMS"][0] == '"Hi there'


def test_semicolon_csv_is_sniffed(tmp_path):
    path = write(tmp_path, "d.csv", "text;label\nhello there;a\nbye now;b\n")
    assert list(read_table(path)[0].columns) == ["text", "label"]


def test_jsonl_and_json_array(tmp_path):
    lines = "\n".join(json.dumps({"sentence": t, "label": y}) for t, y in ROWS)
    assert len(read_table(write(tmp_path, "d.jsonl", lines))[0]) == 4
    array = json.dumps([{"sentence": t, "label": y} for t, y in ROWS])
    assert len(read_table(write(tmp_path, "d.json", array))[0]) == 4


def test_xlsx(tmp_path):
    path = tmp_path / "d.xlsx"
    pd.DataFrame(ROWS, columns=["review", "sentiment"]).to_excel(path, index=False)
    frame, encoding = read_table(path)
    assert frame["review"].tolist()[0] == "great film, loved it" and encoding == "xlsx"


def test_latin1_file_is_decoded(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\ncafé crème,a\nnaïve résumé,b\n", encoding="latin-1")
    frame, encoding = read_table(path)
    assert frame["text"][0] == "café crème" and encoding in ("cp1252", "latin-1")


def test_utf16_with_bom(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\nhello,a\nworld,b\n", encoding="utf-16")
    assert read_table(path)[0]["text"].tolist() == ["hello", "world"]


def test_label_lines_like_trec(tmp_path):
    path = write(tmp_path, "train.label", "DESC:manner How did serfdom develop ?\nHUM:ind Who killed Gandhi ?\n")
    frame, _ = read_table(path)
    assert frame["label"].tolist() == ["DESC", "HUM"] and frame["fine_label"][0] == "DESC:manner"
    assert frame["text"][1] == "Who killed Gandhi ?"


@pytest.mark.parametrize("content", [b"", b"   \n\n  "])
def test_empty_file(tmp_path, content):
    with pytest.raises(FtuiError) as err:
        read_table(write(tmp_path, "d.csv", content, "wb"))
    assert err.value.code == "empty_file"


def test_binary_renamed_csv(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    with pytest.raises(FtuiError) as err:
        read_table(write(tmp_path, "photo.csv", png, "wb"))
    assert err.value.code == "binary_file" and "PNG" in err.value.to_dict()["message"]


def test_fake_xlsx(tmp_path):
    with pytest.raises(FtuiError) as err:
        read_table(write(tmp_path, "d.xlsx", "text,label\na,b\n"))
    assert err.value.code == "binary_file"


def test_unsupported_suffix(tmp_path):
    with pytest.raises(FtuiError) as err:
        read_table(write(tmp_path, "d.docx", "x"))
    assert err.value.code == "unsupported_format"


# -- columns -------------------------------------------------------------------------------
def test_columns_detected_by_name():
    frame = pd.DataFrame({"id": ["1", "2"], "Category": ["a", "b"], "Message": ["hi there", "bye now"]})
    assert choose_columns(frame, None, None) == ("Message", "Category")


def test_columns_detected_by_shape():
    frame = pd.DataFrame({"c1": ["x", "y", "x", "y"] * 3, "c2": [f"a long sentence number {i}" for i in range(12)]})
    assert choose_columns(frame, None, None) == ("c2", "c1")


def test_user_choice_wins_and_is_checked():
    frame = pd.DataFrame({"text": ["a b", "c d"], "label": ["x", "y"], "other": ["p", "q"]})
    assert choose_columns(frame, "text", "other") == ("text", "other")
    with pytest.raises(FtuiError) as err:
        choose_columns(frame, "txt", None)
    assert err.value.code == "missing_column" and "text, label, other" in err.value.to_dict()["message"]
    with pytest.raises(FtuiError) as err:
        choose_columns(frame, "text", "text")
    assert err.value.code == "same_column"


def test_no_usable_text_column():
    frame = pd.DataFrame({"label": ["a", "b", "a"], "score": ["1", "2", "3"]})
    with pytest.raises(FtuiError) as err:
        choose_columns(frame, None, None)
    assert err.value.code == "no_text_column"


def test_load_drops_and_counts_empty_rows(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\nhello,a\n  ,b\nworld,\nfine,b\nmore,a\nagain,b\n")
    ex = load_text_examples(path, DataOptions())
    assert ex.inputs == ["hello", "fine", "more", "again"]
    assert ex.summary["dropped_empty"] == 2 and ex.summary["class_counts"] == {"b": 2, "a": 2}
    assert "empty_texts_dropped" in codes(ex.issues)
    assert ex.summary["preview"][0] == {"text": "hello", "label": "a"}


# -- validation ----------------------------------------------------------------------------
def test_single_class_is_an_error():
    issues = check_labels(["a", "b", "c"], ["x", "x", "x"])
    assert [i.severity for i in issues if i.code == "single_class"] == ["error"]


def test_too_few_and_few_per_class():
    issues = check_labels([f"t{i}" for i in range(13)], ["a"] * 10 + ["b"] * 2 + ["c"])
    found = {(i.code, i.detail.get("label")): i.severity for i in issues}
    assert found[("too_few_per_class", "c")] == "error"
    assert found[("few_per_class", "b")] == "warning"
    assert ("too_few_per_class", "a") not in found


def test_duplicates_conflicts_and_imbalance():
    texts = ["same"] * 3 + ["x"] + [f"t{i}" for i in range(20)]
    labels = ["a", "a", "b", "b"] + ["a"] * 20
    issues = {i.code: i for i in check_labels(texts, labels)}
    assert issues["duplicate_rows"].detail["count"] == 1
    assert issues["conflicting_duplicates"].detail["count"] == 1
    assert issues["imbalanced"].detail["largest"] == "a"


def test_clean_data_has_no_issues():
    texts = [f"text number {i}" for i in range(20)]
    assert check_labels(texts, ["a", "b"] * 10) == []


# -- split ---------------------------------------------------------------------------------
def test_split_is_stratified_and_deterministic():
    labels = ["a"] * 80 + ["b"] * 20
    train, val = split_examples(labels, 0.2, seed=1)
    assert sorted(train + val) == list(range(100)) and not set(train) & set(val)
    assert sum(labels[i] == "b" for i in val) == 4 and len(val) == 20
    assert split_examples(labels, 0.2, seed=1) == (train, val)
    assert split_examples(labels, 0.2, seed=2) != (train, val)


def test_split_keeps_duplicates_on_one_side():
    inputs = ["dup"] * 10 + [f"t{i}" for i in range(30)]
    labels = ["a"] * 20 + ["b"] * 20
    for seed in range(5):
        train, val = split_examples(labels, 0.3, seed, inputs=inputs)
        dup = set(range(10))
        assert dup <= set(train) or dup <= set(val)


def test_split_subset_and_tiny_classes():
    labels = ["a"] * 900 + ["b"] * 100
    train, val = split_examples(labels, 0.2, 0, max_examples=100)
    assert 95 <= len(train) + len(val) <= 105 and sum(labels[i] == "b" for i in train + val) == 10
    train, val = split_examples(["a", "a", "b", "b"], 0.2, 0)
    assert len(val) == 2 and len(train) == 2  # each class keeps one example on each side
    assert split_examples(["a", "b"] * 3, 0, 0) == (list(range(6)), [])


def test_split_files_round_trip(tmp_path):
    inputs, labels = ["x", "y", "z"], ["a", "b", "a"]
    write_split(tmp_path / "data", inputs, labels, [0, 2], [1])
    assert read_split(tmp_path / "data", "train") == (["x", "z"], ["a", "a"])
    assert read_split(tmp_path / "data", "validation") == (["y"], ["b"])
