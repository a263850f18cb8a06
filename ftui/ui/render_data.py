"""Pure rendering of datasets: an inspection's summary, problems, preview and class histogram.

No gradio and no torch here (unit-tested on plain dicts). Text that comes from users (file names,
labels, error messages) is HTML-escaped before it goes into HTML or Markdown.
"""
from __future__ import annotations


import pandas as pd

from ftui.messages import count
from ftui.vocab import TaskName


def class_histogram(class_counts: dict | None) -> pd.DataFrame:
    """{label: n} -> rows for a BarPlot(x="label", y="examples"), largest class first."""
    items = sorted((class_counts or {}).items(), key=lambda kv: (-kv[1], str(kv[0])))
    return pd.DataFrame({"label": [str(k) for k, _ in items], "examples": [int(v) for _, v in items]},
                        columns=["label", "examples"]).astype({"label": "string", "examples": "int64"})


def preview_frame(preview: list[dict] | None) -> pd.DataFrame:
    return pd.DataFrame(preview or [])


def skipped_frame(skipped: list[dict] | None) -> pd.DataFrame:
    """Files of an image upload that were left out, and why (for the table under the summary)."""
    rows = [{"skipped file": s.get("file"), "why": s.get("message") or s.get("reason")} for s in skipped or []]
    return pd.DataFrame(rows, columns=["skipped file", "why"])


def issues_markdown(issues: list[dict] | None) -> str:
    """Problems first (they block training), then warnings, each as one plain sentence."""
    issues = issues or []
    errors = [i for i in issues if i.get("severity") == "error"]
    warnings = [i for i in issues if i.get("severity") != "error"]
    lines = []
    if errors:
        lines.append("**Must be fixed before training:**")
        lines += [f"- **Error:** {_message(i)}" for i in errors]
    if warnings:
        lines.append("**Worth a look:**")
        lines += [f"- **Note:** {_message(i)}" for i in warnings]
    return "\n".join(lines)


def _message(issue: dict) -> str:
    return issue.get("message") or issue.get("code", "unknown problem").replace("_", " ")


def summary_markdown(summary: dict | None) -> str:
    """'**spam.csv**: 200 examples in 2 classes; text column `text`, label column `label`.'"""
    if not summary:
        return "Upload a labelled table (texts) or a ZIP of class folders (images or sounds), or use an example."
    name = summary.get("file") or "your file"
    n = summary.get("n_examples", 0)
    k = len(summary.get("class_counts") or {})
    if summary.get("kind") == "images":
        line = f"**{name}**: {count(n, 'picture')} in {count(k, 'class')}"
        if summary.get("n_validation"):
            line += f", plus {summary['n_validation']} validation pictures from its own `val/` folder"
        sizes = summary.get("image_sizes") or {}
        if sizes.get("width"):
            line += (f"; sizes from {sizes['width']['min']}×{sizes['height']['min']} to "
                     f"{sizes['width']['max']}×{sizes['height']['max']} px")
        if summary.get("n_skipped"):
            line += f"; {count(summary['n_skipped'], 'file')} skipped (listed below)"
        line += "."
    elif summary.get("kind") == TaskName.AUDIO:
        line = f"**{name}**: {count(n, 'clip')} in {count(k, 'class')}"
        if summary.get("n_validation"):
            line += f", plus {summary['n_validation']} validation clips from its own `val/` folder"
        line += audio_details(summary)
        if summary.get("n_skipped"):
            line += f"; {count(summary['n_skipped'], 'file')} skipped (listed below)"
        line += "."
    else:
        line = (f"**{name}**: {n} examples in {k} classes; text column `{summary.get('text_column')}`, "
                f"label column `{summary.get('label_column')}`.")
    if summary.get("ok", True):
        return line + " Ready to train."
    return line + " Fix the problems below before training."


def audio_details(summary: dict) -> str:
    """'; 0.2-1.2 s long (median 0.5 s, 57 s in all); 8,000 Hz; mono; WAV'."""
    parts = []
    d = summary.get("durations") or {}
    if d.get("max") is not None:
        parts.append(f"{d['min']:g}–{d['max']:g} s long (median {d['median']:g} s, {d['total']:,.0f} s in all)")
    rates = summary.get("sample_rates") or {}
    if rates:
        parts.append(", ".join(f"{int(r):,} Hz" + (f" ×{c}" if len(rates) > 1 else "") for r, c in rates.items()))
    channels = summary.get("channels") or {}
    if channels:
        parts.append(" / ".join({"1": "mono", "2": "stereo"}.get(str(c), f"{c} channels") for c in channels))
    formats = summary.get("formats") or {}
    if formats:
        parts.append(", ".join(formats))
    return "; " + "; ".join(parts) if parts else ""
