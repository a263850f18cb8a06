"""Pure rendering of datasets: an inspection's summary, problems, preview and class histogram.

No gradio and no torch here (unit-tested on plain dicts). Text that comes from users (file names,
labels, error messages) is HTML-escaped before it goes into HTML or Markdown.
"""
from __future__ import annotations


import pandas as pd

from ftui.i18n import t
from ftui.messages import MESSAGES, describe
from ftui.vocab import TaskName


def class_histogram(class_counts: dict | None) -> pd.DataFrame:
    """{label: n} -> rows for a BarPlot(x="label", y="examples"), largest class first."""
    items = sorted((class_counts or {}).items(), key=lambda kv: (-kv[1], str(kv[0])))
    return pd.DataFrame({"label": [str(k) for k, _ in items], "examples": [int(v) for _, v in items]},
                        columns=["label", "examples"]).astype({"label": "string", "examples": "int64"})


def preview_frame(preview: list[dict] | None) -> pd.DataFrame:
    return pd.DataFrame(preview or [])


def skipped_frame(skipped: list[dict] | None, lang: str = "en") -> pd.DataFrame:
    """Files of an image upload that were left out, and why (for the table under the summary)."""
    file_col, why_col = t("data.col_skipped", lang), t("data.col_why", lang)
    rows = [{file_col: s.get("file"), why_col: issue_message(s, lang) if s.get("code") and lang != "en"
             else s.get("message") or s.get("reason")} for s in skipped or []]
    return pd.DataFrame(rows, columns=[file_col, why_col])


def issues_markdown(issues: list[dict] | None, lang: str = "en") -> str:
    """Problems first (they block training), then warnings, each as one plain sentence."""
    issues = issues or []
    errors = [i for i in issues if i.get("severity") == "error"]
    warnings = [i for i in issues if i.get("severity") != "error"]
    lines = []
    if errors:
        lines.append(t("data.must_fix", lang))
        lines += [t("data.error", lang, message=issue_message(i, lang)) for i in errors]
    if warnings:
        lines.append(t("data.worth_a_look", lang))
        lines += [t("data.note", lang, message=issue_message(i, lang)) for i in warnings]
    return "\n".join(lines)


def issue_message(issue: dict, lang: str = "en") -> str:
    """An issue's sentence: English as the reader wrote it; another language from its code and detail."""
    if lang != "en" and issue.get("code") in MESSAGES:
        return describe(issue["code"], issue.get("detail") or {}, lang)
    return issue.get("message") or issue.get("code", "unknown problem").replace("_", " ")


def summary_markdown(summary: dict | None, lang: str = "en") -> str:
    """'**spam.csv**: 200 examples in 2 classes; text column `text`, label column `label`.'"""
    if not summary:
        return t("data.summary_empty", lang)
    name = summary.get("file") or t("data.your_file", lang)
    n = summary.get("n_examples", 0)
    k = len(summary.get("class_counts") or {})
    if summary.get("kind") in ("images", TaskName.AUDIO):
        pictures = summary.get("kind") == "images"
        line = t("data.pictures" if pictures else "data.clips", lang, name=name, n=n, k=k)
        if summary.get("n_validation"):
            line += t("data.val_pictures" if pictures else "data.val_clips", lang, n=summary["n_validation"])
        sizes = summary.get("image_sizes") or {}
        if pictures and sizes.get("width"):
            line += t("data.sizes", lang, w0=sizes["width"]["min"], h0=sizes["height"]["min"],
                      w1=sizes["width"]["max"], h1=sizes["height"]["max"])
        if not pictures:
            line += audio_details(summary, lang)
        if summary.get("n_skipped"):
            line += t("data.skipped", lang, n=summary["n_skipped"])
        line += t("data.end", lang)
    else:
        line = t("data.texts", lang, name=name, n=n, k=k, text=summary.get("text_column"),
                 label=summary.get("label_column"))
    return line + t("data.ready" if summary.get("ok", True) else "data.fix", lang)


def audio_details(summary: dict, lang: str = "en") -> str:
    """'; 0.2-1.2 s long (median 0.5 s, 57 s in all); 8,000 Hz; mono; WAV'."""
    parts = []
    d = summary.get("durations") or {}
    if d.get("max") is not None:
        parts.append(t("data.durations", lang, min=d["min"], max=d["max"], median=d["median"], total=d["total"]))
    rates = summary.get("sample_rates") or {}
    if rates:
        parts.append(", ".join(f"{int(r):,} Hz" + (f" ×{c}" if len(rates) > 1 else "") for r, c in rates.items()))
    channels = summary.get("channels") or {}
    if channels:
        names = {"1": t("data.mono", lang), "2": t("data.stereo", lang)}
        parts.append(" / ".join(names.get(str(c)) or t("data.channels", lang, n=c) for c in channels))
    formats = summary.get("formats") or {}
    if formats:
        parts.append(", ".join(formats))
    sep = "；" if lang == "zh-CN" else "; "
    return sep + sep.join(parts) if parts else ""
