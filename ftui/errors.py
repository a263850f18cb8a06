"""Typed problems. Code raises FtuiError(code, **detail); the edge (UI, API) turns it into words
with ftui.messages.describe, so wording never leaks into data or engine code."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class FtuiError(Exception):
    """A problem a person can fix: bad input, unknown model, missing run..."""

    def __init__(self, code: str, **detail: Any):
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)

    def to_dict(self) -> dict:
        from ftui.messages import describe  # late: messages imports nothing heavy, but keep errors leaf-level

        return {"code": self.code, "detail": self.detail, "message": describe(self.code, self.detail)}


@dataclass(frozen=True)
class Issue:
    """One finding about a dataset. severity: "error" blocks training, "warning" does not."""

    code: str
    severity: str = "warning"
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        from ftui.messages import describe

        return {"code": self.code, "severity": self.severity, "detail": self.detail,
                "message": describe(self.code, self.detail)}
