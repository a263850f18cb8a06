"""Examples: what a task's reader hands to validation, the split and the engine."""
from __future__ import annotations

from dataclasses import dataclass, field

from ftui.errors import Issue


@dataclass
class Examples:
    inputs: list[str]  # texts (image/audio: file paths inside the upload)
    labels: list[str]
    summary: dict = field(default_factory=dict)  # JSON-able, shown before training (see docs/CONTRACTS.md)
    issues: list[Issue] = field(default_factory=list)
    # A validation set that came inside the same upload (an image ZIP's val/ folder); services use
    # it as they use a separate validation file.
    validation: Examples | None = None
