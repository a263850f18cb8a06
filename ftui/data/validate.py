"""Pure checks on labelled examples -> list[Issue]. Severity "error" blocks training.

Wording lives in ftui/messages.py; here only codes and numbers.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from ftui.errors import Issue

MIN_PER_CLASS = 2  # one for training, one for validation
FEW_PER_CLASS = 8  # below this a class's results are noise
IMBALANCE_RATIO = 10


def check_labels(inputs: list[str], labels: list[str], label_column: str = "label") -> list[Issue]:
    issues: list[Issue] = []
    if not inputs:
        return [Issue("no_examples", "error")]
    counts = Counter(labels)
    if len(counts) == 1:
        issues.append(Issue("single_class", "error", {"label": labels[0]}))
    if len(counts) > max(100, len(labels) // 2) and len(labels) >= 20:
        issues.append(Issue("too_many_classes", "warning", {"count": len(counts), "column": label_column}))
    for label, count in sorted(counts.items(), key=lambda kv: kv[1]):
        if count < MIN_PER_CLASS and len(counts) > 1:
            issues.append(Issue("too_few_per_class", "error", {"label": label, "count": count, "minimum": MIN_PER_CLASS}))
        elif count < FEW_PER_CLASS and len(counts) > 1:
            issues.append(Issue("few_per_class", "warning", {"label": label, "count": count}))
    if len(counts) > 1:
        (largest, most), (smallest, least) = counts.most_common()[0], counts.most_common()[-1]
        if most >= IMBALANCE_RATIO * least:
            issues.append(Issue("imbalanced", "warning", {"largest": largest, "smallest": smallest,
                                                          "ratio": most / least}))
    pairs = Counter(zip(inputs, labels))
    duplicates = sum(n - 1 for n in pairs.values() if n > 1)
    if duplicates:
        issues.append(Issue("duplicate_rows", "warning", {"count": duplicates}))
    labels_of = defaultdict(set)
    for text, label in pairs:
        labels_of[text].add(label)
    conflicting = sum(1 for s in labels_of.values() if len(s) > 1)
    if conflicting:
        issues.append(Issue("conflicting_duplicates", "warning", {"count": conflicting}))
    return issues
