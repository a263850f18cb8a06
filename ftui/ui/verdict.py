"""How much an accuracy says: its uncertainty on this many examples, whether it beats chance, and the next
step the data supports. Pure functions (unit-tested); the Train and Evaluate tabs show their sentences."""
from __future__ import annotations

import math

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


def accuracy_sentence(accuracy, n, n_classes: int, majority: float | None = None) -> str:
    """'**91.7%** on 12 examples (95% interval 65–99%)', and a note when that interval reaches chance:
    1 / classes, or the largest class's share when it is known (always answering it scores that much)."""
    if not isinstance(accuracy, (int, float)) or not n:
        return ""
    low, high = interval(accuracy, int(n))
    text = f"**{accuracy * 100:.1f}%** on {int(n)} example{'s' if n != 1 else ''} (95% interval {low * 100:.0f}–{high * 100:.0f}%)"
    chance = max(1 / max(1, n_classes), majority or 0.0)
    if low <= chance:
        what = "always answering the largest class" if majority and majority > 1 / max(1, n_classes) else "guessing"
        text += f"; no better than chance yet ({what} scores about {chance * 100:.0f}%)"
    return text


def next_step(accuracy, n_validation: int, n_train: int, n_classes: int, head_only: bool, epochs: int,
              stopped_early: bool = False) -> str:
    """One suggestion the run's own numbers support, or "" when the result is good and well measured."""
    if not isinstance(accuracy, (int, float)):
        return ""
    if n_validation and n_validation < SMALL_VALIDATION:
        return (f"With {n_validation} validation examples the accuracy is a rough guess: add examples "
                f"(at least {SMALL_VALIDATION} would be held out).")
    if accuracy >= WEAK:
        return ""
    if n_train < 20 * max(2, n_classes):
        return "Few examples per class: more labelled examples will help most."
    if head_only:
        return "Try the recipe *Head first, then everything*: fine-tuning the backbone usually adds several points."
    if not stopped_early and epochs < 10:
        return "It may not have converged: train more epochs (Runs tab: *Train more*)."
    return "Check the confusion matrix (Evaluate tab): the mistakes may come from a few confusable classes."
