"""How much an accuracy says: Wilson intervals, chance, and the suggested next step."""
from __future__ import annotations

import pytest

from ftui.ui import verdict


def test_the_interval_is_wide_on_few_examples_and_never_leaves_zero_to_one():
    low, high = verdict.interval(7 / 12, 12)  # 58% on 12 validation images (a real first-hour result)
    assert low == pytest.approx(0.320, abs=0.005) and high == pytest.approx(0.807, abs=0.005)
    assert verdict.interval(1.0, 20)[1] == 1.0 and verdict.interval(1.0, 20)[0] > 0.8
    assert verdict.interval(0.0, 5) == (0.0, pytest.approx(0.434, abs=0.005))
    narrow = verdict.interval(0.9, 2000)
    assert narrow[1] - narrow[0] < 0.03


def test_a_result_near_chance_says_so():
    text = verdict.accuracy_sentence(7 / 12, 12, 2)
    assert "**58.3%** on 12 examples (95% interval 32–81%)" in text and "no better than chance" in text
    assert "chance" not in verdict.accuracy_sentence(0.97, 500, 2)
    # imbalanced data: always answering the largest class is the bar to clear
    assert "always answering the largest class scores about 87%" in verdict.accuracy_sentence(0.88, 200, 2, 0.87)


def test_the_next_step_follows_the_numbers():
    assert "rough guess" in verdict.next_step(1.0, 8, 32, 2, head_only=False, epochs=3)
    assert verdict.next_step(0.97, 300, 1200, 2, head_only=False, epochs=3) == ""
    assert "more labelled examples" in verdict.next_step(0.6, 40, 50, 3, head_only=False, epochs=3)
    assert "Head first, then everything" in verdict.next_step(0.7, 100, 400, 2, head_only=True, epochs=3)
    assert "more epochs" in verdict.next_step(0.7, 100, 400, 2, head_only=False, epochs=3)
