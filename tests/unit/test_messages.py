"""Every problem code raised anywhere in ftui has a sentence for people."""
from __future__ import annotations

import re
from pathlib import Path

from ftui.messages import MESSAGES, describe

FTUI = Path(__file__).resolve().parents[2] / "ftui"
RAISED = re.compile(r"""(?:FtuiError|Issue|_issue)\(\s*["']([a-z_]+)["']""")


def test_every_raised_code_has_a_sentence():
    raised = {code for path in FTUI.rglob("*.py") for code in RAISED.findall(path.read_text())}
    assert raised, "the pattern found no codes: it is out of date"
    assert sorted(raised - set(MESSAGES)) == []


def test_describe_fills_details_and_never_raises():
    assert describe("single_class", {"label": "ham"}) == "Only one class ('ham') was found; training needs at least two."
    assert describe("single_class", {}).startswith("Only one class")  # missing detail: no KeyError
    assert describe("brand_new_code") == "Brand new code."
