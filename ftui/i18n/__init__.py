"""The studio's two languages: English ("en") and Simplified Chinese ("zh-CN").

`t(key, lang, **fields)` gives a UI sentence from the catalogs (ui_en.py, ui_zh.py), formatted like the
problem sentences of ftui/messages.py; `best_lang` picks a language from an Accept-Language header.
No gradio here: the engine may format sentences too. Static widget text reaches the browser through
gr.I18n (ftui/ui/lang.py), which translates it there; text made in a handler is translated here.
"""
from __future__ import annotations

from ftui.i18n.live_en import LIVE_EN
from ftui.i18n.live_zh import LIVE_ZH
from ftui.i18n.recipe import recipe_zh
from ftui.i18n.results_en import RESULTS_EN
from ftui.i18n.results_zh import RESULTS_ZH
from ftui.i18n.share_en import SHARE_EN
from ftui.i18n.share_zh import SHARE_ZH
from ftui.i18n.ui_en import UI_EN
from ftui.i18n.ui_zh import UI_ZH

EN, ZH = "en", "zh-CN"
LANGS = (EN, ZH)
CATALOGS = {EN: {**UI_EN, **LIVE_EN, **RESULTS_EN, **SHARE_EN}, ZH: {**UI_ZH, **LIVE_ZH, **RESULTS_ZH, **SHARE_ZH}}


def best_lang(accept_language: str | None) -> str:
    """"zh-CN,zh;q=0.9,en;q=0.8" -> "zh-CN"; the most wanted of ours by q, ties in header order; else en."""
    wanted = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        tag = tag.strip().lower()
        lang = ZH if tag.startswith("zh") else EN if tag.startswith("en") else None
        if lang and q > 0:
            wanted.append((-q, i, lang))
    return min(wanted)[2] if wanted else EN


def known(lang: str | None) -> str:
    """A language we have (a cookie or a parameter can hold anything)."""
    return lang if lang in LANGS else EN


def columns(names, lang: str = EN) -> list[str]:
    """Table headers in `lang`: each English header `h` has the key "col.h"; one without stays as it is."""
    return list(names) if lang == EN else [CATALOGS[lang].get(f"col.{n}", n) for n in names]


def marker(key: str) -> str:
    """Text that Gradio's front end replaces with `key` in the page's language: the form gr.I18n("key")
    takes inside a string (gradio/i18n.py, I18nData.__str__), for code that must not import gradio."""
    return '__i18n__{"__type__": "translation_metadata", "key": "%s"}' % key


def t(key: str, lang: str = EN, **fields) -> str:
    """The sentence `key` in `lang` (English when that language lacks it), with its fields filled in."""
    from ftui.messages import _Sentences  # here, not at the top: ftui.messages imports this package

    template = CATALOGS.get(lang, CATALOGS[EN]).get(key) or CATALOGS[EN].get(key, key)
    try:
        return _Sentences().format(template, **fields) if fields else template
    except (KeyError, ValueError, IndexError, TypeError):
        return template
