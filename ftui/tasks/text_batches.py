"""Text batches: tokenised once, then grouped by length into a few padded shapes.

Shuffled batches (training) are drawn within length buckets: every text is padded to its bucket's
width, so a pass has at most `buckets` distinct sequence lengths (few shapes: what torch.compile
and the GPU's kernels like) and little padding (what a CPU likes). The bucket edges minimise the
padded tokens over the whole set (a small dynamic programme over the sorted lengths). Each epoch
reshuffles the texts inside each bucket and then the order of the batches, from (seed, epoch) only.
Unshuffled batches (evaluation, prediction) keep the input order and pad to their own longest text.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ftui.tasks.base import epoch_seed

LENGTH_BUCKETS = 6  # distinct padded lengths in a training pass (measured: see bench/quality.py notes)
PAD_MULTIPLE = 8  # bucket widths are rounded up to a multiple of 8 (tensor-core and SIMD friendly)


def bucket_edges(lengths: Sequence[int], buckets: int, multiple: int = PAD_MULTIPLE) -> list[int]:
    """Up to `buckets` padded widths (ascending, multiples of `multiple`) minimising the total padded
    tokens when each text is padded to the smallest width that holds it."""
    if not lengths:
        return []
    rounded = Counter(-(-int(n) // multiple) * multiple for n in lengths)
    widths = sorted(rounded)
    counts = [rounded[w] for w in widths]
    k = max(1, min(buckets, len(widths)))
    # cost[j][i]: least padded tokens covering widths[0..i] with j+1 buckets, the last ending at widths[i]
    inf = float("inf")
    prefix = [0]
    for c in counts:
        prefix.append(prefix[-1] + c)
    cost = [[inf] * len(widths) for _ in range(k)]
    back = [[-1] * len(widths) for _ in range(k)]
    for i, w in enumerate(widths):
        cost[0][i] = prefix[i + 1] * w
    for j in range(1, k):
        for i in range(j, len(widths)):
            for m in range(j - 1, i):  # the previous bucket ends at widths[m]
                c = cost[j - 1][m] + (prefix[i + 1] - prefix[m + 1]) * widths[i]
                if c < cost[j][i]:
                    cost[j][i], back[j][i] = c, m
    j, i, edges = k - 1, len(widths) - 1, []
    while i >= 0 and j >= 0:
        edges.append(widths[i])
        i, j = back[j][i], j - 1
    return sorted(edges)


class TextBatches:
    """Tokenized once; `iter()` yields batches (bucketed when shuffling, input order otherwise)."""

    def __init__(self, tokenizer: Any, texts: list[str], label_ids: Sequence[int] | None, *, max_length: int,
                 batch_size: int, shuffle: bool, seed: int, buckets: int = LENGTH_BUCKETS):
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)  # own RNG: shuffling never shifts dropout
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.max_length = max_length
        encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=False)
        # Keep only what the model takes; overflow/offset extras are not inputs.
        self.columns = {key: encoded[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded}
        self.lengths = [len(ids) for ids in self.columns["input_ids"]]
        self.labels = None if label_ids is None else torch.as_tensor(list(label_ids), dtype=torch.long)
        self.n = len(texts)
        self.edges = bucket_edges(self.lengths, buckets) if shuffle else []
        self.members: list[list[int]] = [[] for _ in self.edges]  # rows of each bucket, in input order
        for row, length in enumerate(self.lengths if self.edges else ()):
            self.members[bisect_left(self.edges, length)].append(row)

    def __len__(self) -> int:
        if not self.edges:
            return (self.n + self.batch_size - 1) // self.batch_size
        return sum((len(rows) + self.batch_size - 1) // self.batch_size for rows in self.members)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(epoch_seed(self.seed, epoch))

    def __iter__(self) -> Iterator[dict]:
        if not self.shuffle:
            for start in range(0, self.n, self.batch_size):
                yield self._collate(list(range(start, min(self.n, start + self.batch_size))))
            return
        groups = []
        for width, rows in zip(self.edges, self.members):
            mixed = [rows[i] for i in torch.randperm(len(rows), generator=self.generator).tolist()]
            groups += [(width, mixed[s:s + self.batch_size]) for s in range(0, len(mixed), self.batch_size)]
        for i in torch.randperm(len(groups), generator=self.generator).tolist():
            width, rows = groups[i]
            yield self._collate(rows, width)

    def feature_pass(self, batch_size: int) -> Iterator[tuple[list[int], dict]]:
        """Every text once, longest first (similar lengths share a batch: least padding), no shuffling."""
        order = sorted(range(self.n), key=lambda r: -self.lengths[r])
        for start in range(0, self.n, batch_size):
            rows = order[start:start + batch_size]
            yield rows, self._collate(rows)

    def _collate(self, rows: list[int], width: int | None = None) -> dict:
        ids = self.columns["input_ids"]
        width = width or max(len(ids[r]) for r in rows)
        batch = {}
        for key, values in self.columns.items():
            pad = self.pad_id if key == "input_ids" else 0
            tensor = torch.full((len(rows), width), pad, dtype=torch.long)
            for i, r in enumerate(rows):
                tensor[i, : len(values[r])] = torch.as_tensor(values[r], dtype=torch.long)
            batch[key] = tensor
        if self.labels is not None:
            batch["labels"] = self.labels[rows]
        return batch
