"""The stakeholder page of a shared run, as plain HTML: the page, and the live part it refreshes.

Pure functions of `ShareActions.shared_view` (no gradio, no torch). The charts are small inline SVGs drawn
here, so the page needs no script library and no file from the server; every value from the run is
escaped, and so is every sentence around it. The page speaks the visitor's language (`lang`, which
share_page.py reads from the request); its text lives in ftui/i18n/share_en.py and share_zh.py.
The page has no control other than the prediction box the owner may have allowed.
"""
from __future__ import annotations

import html
import json
import math

from ftui.i18n import CATALOGS, EN, ZH, known, recipe_zh, t
from ftui.ui.render import format_duration
from ftui.vocab import RunState, TaskName

WIDTH, HEIGHT, PAD = 560, 220, 36


def _say(key: str, lang: str, **fields) -> str:
    """A sentence of the page in `lang`, escaped as a whole: the run's values in it are escaped with it."""
    return html.escape(t(key, lang, **fields))


def _word(kind: str, value, lang: str) -> str:
    """A state, task or setting name in `lang` ("share.state_running"); a name without a key stays as it is."""
    key = f"share.{kind}_{str(value).replace(' ', '_')}"
    return t(key, lang) if key in CATALOGS[EN] else str(value)


def svg_chart(series: dict[str, list[tuple[float, float]]], title: str, y_max: float | None = None,
              dots: bool = False, lang: str = EN) -> str:
    """A line chart of named series of (step, value) points, axes from 0; an empty chart says so."""
    points = [p for values in series.values() for p in values if all(map(math.isfinite, p))]
    head = f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>'
    if not points:
        return head + f'<p class="empty">{_say("share.no_points", lang)}</p></figure>'
    x_max = max(p[0] for p in points) or 1.0
    top = y_max if y_max is not None else (max(p[1] for p in points) or 1.0) * 1.08

    def xy(step, value):
        return (PAD + (WIDTH - 2 * PAD) * step / x_max, HEIGHT - PAD - (HEIGHT - 2 * PAD) * min(value, top) / top)

    last_step = _say("share.axis_step", lang, step=f"{x_max:.0f}")
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
             f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{top:.3g}</text>',
             f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end">0</text>',
             f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" text-anchor="end">{last_step}</text>']
    for index, (name, values) in enumerate(series.items()):
        coords = [xy(*p) for p in values if all(map(math.isfinite, p))]
        if not coords:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline class="series s{index}" points="{path}"><title>{html.escape(name)}</title></polyline>')
        if dots or len(coords) == 1:
            parts += [f'<circle class="s{index}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in coords]
    legend = "".join(f'<span class="key s{i}">{html.escape(name)}</span>' for i, name in enumerate(series))
    return head + "".join(parts) + "</svg>" + f'<div class="legend">{legend}</div></figure>'


def live_html(view: dict, lang: str = EN) -> str:
    """State, progress, curves and the latest evaluation: the part of the page that refreshes."""
    rows = view.get("rows") or []
    train = [(r["step"], r["loss"]) for r in rows if r.get("split") == "train"]
    val_loss = [(r["step"], r["loss"]) for r in rows if r.get("split") == "validation"]
    val_acc = [(r["step"], r["accuracy"]) for r in rows if r.get("split") == "validation"]
    state = view.get("state")
    facts = [f"<b>{html.escape(_word('state', state, lang))}</b>",
             _say("share.done", lang, percent=float(view.get("progress") or 0) * 100)]
    if state == RunState.RUNNING and isinstance(view.get("eta_s"), (int, float)):
        facts.append(_say("share.left", lang, time=format_duration(view["eta_s"], lang)))
    if isinstance(view.get("elapsed_s"), (int, float)):
        facts.append(_say("share.trained_for", lang, time=format_duration(view["elapsed_s"], lang)))
    if isinstance(view.get("best_accuracy"), (int, float)):
        facts.append(_say("share.best_on" if view.get("n_validation") else "share.best", lang,
                          percent=view["best_accuracy"] * 100, n=view.get("n_validation")))
    losses = {t("share.training_loss", lang): train, t("share.validation_loss", lang): val_loss}
    return (f'<p class="state">{" · ".join(facts)}</p>'
            f'<progress max="1" value="{float(view.get("progress") or 0):.3f}"></progress>'
            '<div class="charts">'
            + svg_chart(losses, t("share.loss", lang), lang=lang)
            + svg_chart({t("share.validation_accuracy", lang): val_acc}, t("share.accuracy_title", lang),
                        y_max=1.0, dots=True, lang=lang)
            + "</div>" + evaluation_html(view.get("evaluation"), lang))


def evaluation_html(result: dict | None, lang: str = EN) -> str:
    if not result or not result.get("labels"):
        return ""
    labels = [html.escape(str(label)) for label in result["labels"]]
    head = "".join(f"<th>{label}</th>" for label in labels)
    body = "".join(f"<tr><th>{labels[i]}</th>" + "".join(f"<td>{int(n)}</td>" for n in row) + "</tr>"
                   for i, row in enumerate(result.get("confusion") or []))
    accuracy = result.get("accuracy")
    summary = (t("share.accuracy_on", lang, percent=accuracy * 100, n=result.get("n"))
               if isinstance(accuracy, (int, float)) else t("share.evaluation", lang))
    if isinstance(result.get("macro_f1"), (int, float)):
        summary += t("share.macro_f1", lang, f1=result["macro_f1"])
    return (f'<h2>{_say("share.latest_evaluation", lang)}</h2><p>{_say("share.sentence", lang, text=summary)}</p>'
            f'<table class="confusion"><caption>{_say("share.confusion", lang)}</caption>'
            f'<tr><th></th>{head}</tr>{body}</table>')


def page_html(view: dict, token: str, lang: str = EN) -> str:
    """The whole page: what was trained and how (fixed), then the live part, then the prediction box."""
    lang = known(lang)
    name = html.escape(str(view.get("name")))
    counts = ", ".join(f"{k}: {v}" for k, v in (view.get("class_counts") or {}).items())
    # the model's name is bold: a stand-in goes through the escaping, then the escaped name in <b> replaces it
    what = _say("share.what", lang, task=_word("task", view.get("task"), lang), model="\0", counts=counts)
    what = what.replace("\0", f"<b>{html.escape(str(view.get('model')))}</b>", 1)
    settings = " · ".join(html.escape(f"{_word('set', k, lang)} {t('share.auto', lang) if v == 'auto' else v}")
                          for k, v in (view.get("settings") or {}).items())
    recipe_line = recipe_zh(view["recipe"]) if lang == ZH and view.get("recipe") else view.get("recipe")
    recipe = f"<p>{_say('share.recipe', lang, recipe=recipe_line)}</p>" if view.get("recipe") else ""
    predict = ""
    if view.get("allow_predict"):
        field = (f'<textarea name="input" rows="3" required placeholder="{_say("share.placeholder", lang)}">'
                 '</textarea>' if view.get("task") == TaskName.TEXT else '<input type="file" name="file" required>')
        predict = (f'<h2>{_say("share.try_it", lang)}</h2><form id="predict">{field}'
                   f'<button type="submit">{_say("share.predict", lang)}</button></form>'
                   '<div id="answer" aria-live="polite"></div>')
    base = f"/share/{html.escape(token)}"
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{name} · ftui</title>
<style>{STYLE}</style></head><body><main>
<h1>{name}</h1>
<p class="what">{what}</p><p class="settings">{settings}</p>{recipe}
<section id="live">{live_html(view, lang)}</section>{predict}
<footer>{_say("share.footer", lang)}</footer>
</main><script>{script(base, lang)}</script></body></html>"""


def gone_html(lang: str = EN) -> str:
    """The answer to an unknown, expired or withdrawn link (a 404), in the visitor's language."""
    return (f"<!doctype html><html lang='{known(lang)}'><meta charset='utf-8'><meta name='robots' content='noindex'>"
            f"<title>{_say('share.not_found', lang)}</title>"
            f"<p style='font:16px system-ui;margin:40px'>{_say('share.gone', lang)}</p>")


def _js(text: str) -> str:
    """A JavaScript string literal that cannot end the <script> it sits in."""
    return json.dumps(text, ensure_ascii=False).replace("<", "\\u003c")


def script(base: str, lang: str = EN) -> str:
    gone = _js(f"<p class='state'>{_say('share.gone', lang)}</p>")
    return f"""
const live = document.getElementById("live");
async function refresh() {{
  const answer = await fetch("{base}/live", {{cache: "no-store"}});
  if (answer.ok) live.innerHTML = await answer.text();
  else if (answer.status === 404) live.innerHTML = {gone};
}}
setInterval(refresh, 2000);
const form = document.getElementById("predict");
if (form) form.addEventListener("submit", async (event) => {{
  event.preventDefault();
  const out = document.getElementById("answer");
  out.textContent = "…";
  const answer = await fetch("{base}/predict", {{method: "POST", body: new FormData(form)}});
  const data = await answer.json();
  if (!answer.ok) {{ out.textContent = data.error || {_js(t("share.no_answer", lang))}; return; }}
  out.replaceChildren(...Object.entries(data).map(([label, p]) => {{
    const bar = document.createElement("div"), name = document.createElement("span"), value = document.createElement("b");
    bar.className = "bar";
    bar.style.setProperty("--p", p);
    name.textContent = label;
    value.textContent = (p * 100).toFixed(1) + "%";
    bar.append(name, value);
    return bar;
  }}));
}});
"""


STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f7f7f8;color:#1d1d1f}
main{max-width:1180px;margin:0 auto;padding:24px}h1{margin:0 0 4px}h2{margin-top:28px}
.what,.settings{margin:4px 0;color:#444}.state{font-size:17px}progress{width:100%;height:10px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{flex:1 1 520px;margin:0;background:#fff;border-radius:8px;padding:8px}
figcaption{font-weight:600}svg{width:100%;height:auto}svg text{font-size:11px;fill:#555}.axis{stroke:#999}
.series{fill:none;stroke-width:2}.s0{stroke:#2563eb;fill:#2563eb}.s1{stroke:#ea580c;fill:#ea580c}
polyline.s0,polyline.s1{fill:none}.legend{font-size:12px}.key{margin-right:12px}.key::before{content:"● "}
.key.s0{color:#2563eb}.key.s1{color:#ea580c}.empty{color:#777}
table.confusion{border-collapse:collapse;background:#fff}table.confusion td,table.confusion th{border:1px solid #ddd;padding:4px 10px;text-align:right}
caption{caption-side:bottom;font-size:12px;color:#666;padding-top:4px}textarea{width:100%;font:inherit}
.bar{display:flex;gap:8px;background:linear-gradient(90deg,#dbeafe calc(var(--p)*100%),transparent 0);padding:2px 6px;max-width:480px}
.bar b{margin-left:auto}footer{margin-top:32px;font-size:12px;color:#777}
@media (prefers-color-scheme: dark){body{background:#111;color:#eee}.chart,table.confusion{background:#1c1c1e}
.what,.settings{color:#bbb}svg text{fill:#bbb}}
"""
