"""Label map, stratified train/validation split, and the frozen split files of a run.

Identical inputs are kept on one side of the split: a duplicate in both train and validation would
make validation accuracy look better than it is.
"""
from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path


NUMBER_WORDS = {word: i for i, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}


def natural_key(label: str) -> tuple:
    """Number-like names in number order: "2" < "10", "class9" < "class10", "two" < "ten" (English words up
    to twenty); everything else alphabetically, after them."""
    word = str(label).strip().lower()
    if word in NUMBER_WORDS:
        return (0, NUMBER_WORDS[word], "")
    parts = re.split(r"(\d+)", str(label))
    return (1, 0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p))


def label_names(labels) -> list[str]:
    """The ordered label list of a run (index = class id), number-like names in number order."""
    return sorted(set(labels), key=natural_key)


def split_examples(labels: list[str], val_fraction: float, seed: int, max_examples: int | None = None,
                   inputs: list[str] | None = None) -> tuple[list[int], list[int]]:
    """(train indices, validation indices), stratified by label; deterministic for a seed.

    max_examples: first draw a stratified subset of that size (quick demos on big files).
    inputs: when given, identical inputs go to the same side.
    """
    rng = random.Random(seed)
    indices = list(range(len(labels)))
    if max_examples and max_examples < len(indices):
        indices = _stratified_take(indices, labels, max_examples, rng)
    if val_fraction <= 0:
        return sorted(indices), []
    groups = _groups(indices, inputs)
    by_label: dict[str, list[list[int]]] = defaultdict(list)
    for group in groups:
        by_label[labels[group[0]]].append(group)
    train, val = [], []
    for label in sorted(by_label):
        label_groups = by_label[label]
        rng.shuffle(label_groups)
        total = sum(len(g) for g in label_groups)
        # at least one validation example per class when the class has two or more groups
        want = max(1, round(total * val_fraction)) if len(label_groups) > 1 else 0
        taken = 0
        for k, group in enumerate(label_groups):
            is_last = k == len(label_groups) - 1  # the class keeps at least one training group
            if taken < want and not is_last:
                val += group
                taken += len(group)
            else:
                train += group
    return sorted(train), sorted(val)


def _groups(indices: list[int], inputs: list[str] | None) -> list[list[int]]:
    if inputs is None:
        return [[i] for i in indices]
    by_input: dict[str, list[int]] = {}
    for i in indices:
        by_input.setdefault(inputs[i], []).append(i)
    return list(by_input.values())


def _stratified_take(indices: list[int], labels: list[str], n: int, rng: random.Random) -> list[int]:
    """About n indices with the label proportions kept (and at least 2 per class where possible)."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i in indices:
        by_label[labels[i]].append(i)
    out = []
    for label in sorted(by_label):
        members = by_label[label]
        rng.shuffle(members)
        out += members[:max(min(2, len(members)), round(n * len(members) / len(indices)))]
    return out


def write_split(data_dir: Path, inputs: list[str], labels: list[str], train_idx: list[int], val_idx: list[int]) -> None:
    """data/train.jsonl and data/validation.jsonl: {"index", "input", "label"} per line (the frozen split)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    for split, idx in (("train", train_idx), ("validation", val_idx)):
        with open(data_dir / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for i in idx:
                f.write(json.dumps({"index": i, "input": inputs[i], "label": labels[i]}, ensure_ascii=False) + "\n")


def read_split(data_dir: Path, split: str) -> tuple[list[str], list[str]]:
    """(inputs, labels) of one side of a frozen split."""
    inputs, labels = [], []
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.is_file():
        return inputs, labels
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            inputs.append(row["input"])
            labels.append(row["label"])
    return inputs, labels
