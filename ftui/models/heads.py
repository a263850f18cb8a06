"""Cut a classifier where its new head begins, for the head-first stage (engine/head.py).

`split_at(model, head_names)` finds the smallest submodule that holds exactly the new parameters
(EfficientNet's `_fc`, a torchvision model's last Linear, a transformers model's `classifier`) and
returns a HeadSplit whose `features(batch)` is that module's input, captured by a forward pre-hook.
When no submodule holds exactly the new parameters (e.g. a head split over two places with pooling
between them) there is no exact cut, and None says so: the run then trains in one stage.
"""
from __future__ import annotations

import torch.nn as nn

from ftui.tasks.base import HeadSplit


class _Captured(Exception):
    """Raised by the pre-hook once the head's input is known: the head itself need not run."""

    def __init__(self, value):
        super().__init__("captured")
        self.value = value


def head_module(model: nn.Module, head_names: frozenset[str]) -> nn.Module | None:
    """The submodule whose parameters are exactly `head_names` (the deepest such), or None."""
    if not head_names:
        return None
    best = None
    for prefix, module in model.named_modules():
        names = {f"{prefix}.{n}" if prefix else n for n, _ in module.named_parameters()}
        if names == set(head_names):
            best = module  # named_modules goes parent before child: the last match is the deepest
    return best


def split_at(model: nn.Module, head_names: frozenset[str]) -> HeadSplit | None:
    module = head_module(model, head_names)
    if module is None or module is model:
        return None

    def hook(_module, args):
        raise _Captured(args[0])

    def features(batch: dict):
        handle = module.register_forward_pre_hook(hook)
        try:
            model(**batch)
        except _Captured as captured:
            return captured.value
        finally:
            handle.remove()
        raise RuntimeError("the head was never called in the model's forward pass")

    return HeadSplit(features=features, head=module, model=model)
