"""The page's language: gr.I18n for static widget text, lang_of(request) for text made in handlers.

The browser's language decides (Gradio's front end reads navigator.language; the server reads
Accept-Language), unless the switch in the page header chose one: it stores the choice in the
`ftui_lang` cookie, which both sides read, and reloads the page so handler-made text follows too.
"""
from __future__ import annotations

from http.cookies import SimpleCookie

import gradio as gr

from ftui.i18n import CATALOGS, EN, LANGS, ZH, best_lang, known, t

COOKIE = "ftui_lang"
SWITCH_CHOICES = [("English", EN), ("中文", ZH)]
# Gradio's own keys that its zh-CN lacks and whose fields its front end fills (a busy box shows this one).
GRADIO_OWN = {EN: {"status.queue_position": "In queue: {position} of {size}"},
              ZH: {"status.queue_position": "排队中：第 {position} 位，共 {size} 位"}}
# gr.I18n gets the static keys only: its front end parses ICU message syntax, where "{name}" needs a value.
I18N = gr.I18n(**{lang: {**{k: v for k, v in CATALOGS[lang].items() if "{" not in CATALOGS[EN][k]}, **GRADIO_OWN[lang]}
                  for lang in LANGS})
L = I18N  # L("data.file"): text the browser shows in its language

# Gradio keeps its chosen locale in its own module; importing that module again (same URL, same
# instance) reaches its changeLocale. Run at page load and after the switch.
_CHANGE_LOCALE = """
async function ftuiChangeLocale(lang) {
  const url = performance.getEntriesByType('resource').map(e => e.name).find(n => /\\/assets\\/core-[^/]*\\.js$/.test(n));
  if (!url) return;
  const core = await import(url);
  if (core.changeLocale) core.changeLocale(lang);
}
"""
LOAD_JS = "() => {" + _CHANGE_LOCALE + """
  const m = document.cookie.match(/(?:^|; )ftui_lang=([^;]+)/);
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  ftuiChangeLocale(m ? decodeURIComponent(m[1]) : (nav.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en'));
}"""
SWITCH_JS = """(lang) => {
  document.cookie = 'ftui_lang=' + encodeURIComponent(lang) + '; path=/; max-age=31536000; SameSite=Lax';
  window.location.reload();
  return lang;
}"""


def lang_of(request: gr.Request | None) -> str:
    """The language of the page that sent `request`: the switch's cookie, else Accept-Language, else en."""
    headers = getattr(request, "headers", None) or {}
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie") or "")
    except Exception:  # a malformed Cookie header from some other app on this host: ignore it
        pass
    if COOKIE in cookie and cookie[COOKIE].value in LANGS:
        return cookie[COOKIE].value
    return best_lang(headers.get("accept-language"))


def language_switch() -> gr.Radio:
    """English / 中文 in the page header; demo.load shows the current choice (see page.py)."""
    switch = gr.Radio(SWITCH_CHOICES, value=None, label=L("page.language"), show_label=False, container=False,
                      elem_id="lang-switch",
                      scale=0, min_width=180)
    switch.input(None, [switch], None, js=SWITCH_JS)
    return switch


def current_lang(request: gr.Request) -> str:
    """demo.load: [] -> [switch]."""
    return lang_of(request)


__all__ = ["I18N", "L", "LOAD_JS", "lang_of", "language_switch", "current_lang", "known", "t"]
