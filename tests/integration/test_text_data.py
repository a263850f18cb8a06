"""The real text datasets read as a user would upload them (warts included)."""
from __future__ import annotations

import pytest

from ftui.config import DataOptions
from ftui.data.tabular import load_text_examples

pytestmark = pytest.mark.integration


def test_sms_spam_tsv(shared_data):
    ex = load_text_examples(shared_data / "text" / "sms_spam.tsv", DataOptions())
    s = ex.summary
    assert (s["text_column"], s["label_column"]) == ("SMS", "Label")
    assert s["n_examples"] == 5574 and s["class_counts"] == {"ham": 4827, "spam": 747}
    assert any(i.code == "duplicate_rows" for i in ex.issues)


def test_trec_latin1_train_file(shared_data):
    ex = load_text_examples(shared_data / "text" / "trec" / "train_5500.label", DataOptions())
    assert ex.summary["encoding"] in ("cp1252", "latin-1") and ex.summary["n_examples"] == 5452
    assert set(ex.summary["class_counts"]) == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    assert not any("\ufffd" in t for t in ex.inputs)  # nothing lost to a wrong decoding
    fine = load_text_examples(shared_data / "text" / "trec" / "train_5500.label",
                              DataOptions(label_column="fine_label"))
    assert fine.summary["n_classes"] == 50
