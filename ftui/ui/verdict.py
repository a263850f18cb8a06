"""How much an accuracy says: its uncertainty on this many examples, whether it beats chance, and the next
step the data supports. Pure functions (unit-tested); the Train and Evaluate tabs show their sentences."""
from __future__ import annotations

import math

from ftui.i18n import t

Z95 = 1.96
SMALL_VALIDATION = 30  # fewer validation examples than this: every answer moves the accuracy by 3+ points
WEAK = 0.80  # below this a hint about the next step is worth showing


def interval(accuracy: float, n: int) -> tuple[float, float]:
    """Wilson's 95% interval for a proportion (sound for small n and for 0 or 1, unlike p +- 2 SE)."""
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, accuracy))
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_sentence(accuracy, n, n_classes: int, majority: float | None = None, lang: str = "en") -> str:
    """'**91.7%** on 12 examples (95% interval 65–99%)', and a note when that interval reaches chance:
    1 / classes, or the largest class's share when it is known (always answering it scores that much)."""
    if not isinstance(accuracy, (int, float)) or not n:
        return ""
    low, high = interval(accuracy, int(n))
    text = t("verdict.accuracy", lang, percent=accuracy * 100, n=int(n), low=low * 100, high=high * 100)
    chance = max(1 / max(1, n_classes), majority or 0.0)
    if low <= chance:
        what = t("verdict.largest" if majority and majority > 1 / max(1, n_classes) else "verdict.guessing", lang)
        text += t("verdict.chance", lang, what=what, chance=chance * 100)
    return text


def next_step(accuracy, n_validation: int, n_train: int, n_classes: int, head_only: bool, epochs: int,
              stopped_early: bool = False, lang: str = "en") -> str:
    """One suggestion the run's own numbers support, or "" when the result is good and well measured."""
    if not isinstance(accuracy, (int, float)):
        return ""
    if n_validation and n_validation < SMALL_VALIDATION:
        return t("verdict.small_val", lang, n=n_validation, minimum=SMALL_VALIDATION)
    if accuracy >= WEAK:
        return ""
    if n_train < 20 * max(2, n_classes):
        return t("verdict.few", lang)
    if head_only:
        return t("verdict.head_only", lang)
    if not stopped_early and epochs < 10:
        return t("verdict.more_epochs", lang)
    return t("verdict.confusion", lang)
