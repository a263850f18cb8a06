"""The recipe line (ftui/engine/adapt.py `summary`, stored in English with the run) in Chinese, part by part.

Each " · " part comes from a small fixed set of phrases; a part not known here is shown as it is.
"""
from __future__ import annotations

import re

_PARTS = [
    (r"head first, then everything", "先训练分类头，再训练全部"),
    (r"everything from the start", "从一开始就训练全部"),
    (r"head only, on frozen features", "只训练分类头（基于冻结的特征）"),
    (r"head only \(body frozen\)", "只训练分类头（主体冻结）"),
    (r"batch (\S+)", r"批大小 \1"),
    (r"head rate ×(\S+)", r"分类头学习率 ×\1"),
    (r"label smoothing (\S+)", r"标签平滑 \1"),
    (r"mean pooling", "平均池化"),
    (r"cls pooling", "首 token 池化"),
    (r"(\S+) pooling", r"\1 池化"),
    (r"(\d+) px", r"\1 px"),
    (r"batch-norm statistics kept", "保持批归一化统计量"),
    (r"batch-norm statistics updated", "更新批归一化统计量"),
    (r"crops ≥ (\S+)", r"裁剪 ≥ \1"),
    (r"compiled", "已编译"),
]
_COMPILED = [(re.compile(rf"^{pattern}$"), chinese) for pattern, chinese in _PARTS]


def recipe_zh(recipe: str) -> str:
    """'head first, then everything · batch 16' -> '先训练分类头，再训练全部 · 批大小 16'."""
    out = []
    for part in str(recipe).split(" · "):
        for pattern, chinese in _COMPILED:
            if pattern.match(part):
                part = pattern.sub(chinese, part)
                break
        out.append(part)
    return " · ".join(out)
