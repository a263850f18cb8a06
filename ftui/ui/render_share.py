"""The stakeholder page of a shared run, as plain HTML: the page, and the live part it refreshes.

Pure functions of `ShareActions.shared_view` (no gradio, no torch). The charts are small inline SVGs drawn
here, so the page needs no script library and no file from the server; every value from the run is
escaped. The page has no control other than the prediction box the owner may have allowed.
"""
from __future__ import annotations

import html
import math

from ftui.ui.render import format_duration
from ftui.vocab import RunState, TaskName

WIDTH, HEIGHT, PAD = 560, 220, 36
STATE_WORDS = {RunState.QUEUED: "waiting to start", RunState.RUNNING: "training", RunState.FINISHED: "done",
               RunState.STOPPED: "stopped early by its owner", RunState.FAILED: "stopped by an error",
               RunState.INTERRUPTED: "cut short when the studio stopped", RunState.DAMAGED: "unavailable"}


def svg_chart(series: dict[str, list[tuple[float, float]]], title: str, y_max: float | None = None,
              dots: bool = False) -> str:
    """A line chart of named series of (step, value) points, axes from 0; an empty chart says so."""
    points = [p for values in series.values() for p in values if all(map(math.isfinite, p))]
    head = f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>'
    if not points:
        return head + '<p class="empty">No points yet.</p></figure>'
    x_max = max(p[0] for p in points) or 1.0
    top = y_max if y_max is not None else (max(p[1] for p in points) or 1.0) * 1.08

    def xy(step, value):
        return (PAD + (WIDTH - 2 * PAD) * step / x_max, HEIGHT - PAD - (HEIGHT - 2 * PAD) * min(value, top) / top)

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
             f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{top:.3g}</text>',
             f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end">0</text>',
             f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" text-anchor="end">step {x_max:.0f}</text>']
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


def live_html(view: dict) -> str:
    """State, progress, curves and the latest evaluation: the part of the page that refreshes."""
    rows = view.get("rows") or []
    train = [(r["step"], r["loss"]) for r in rows if r.get("split") == "train"]
    val_loss = [(r["step"], r["loss"]) for r in rows if r.get("split") == "validation"]
    val_acc = [(r["step"], r["accuracy"]) for r in rows if r.get("split") == "validation"]
    state = view.get("state")
    facts = [f"<b>{html.escape(STATE_WORDS.get(state, str(state)))}</b>",
             f"{float(view.get('progress') or 0) * 100:.0f}% done"]
    if state == RunState.RUNNING and isinstance(view.get("eta_s"), (int, float)):
        facts.append(f"about {format_duration(view['eta_s'])} left")
    if isinstance(view.get("elapsed_s"), (int, float)):
        facts.append(f"trained for {format_duration(view['elapsed_s'])}")
    if isinstance(view.get("best_accuracy"), (int, float)):
        facts.append(f"best validation accuracy {view['best_accuracy'] * 100:.1f}%"
                     + (f" on {view['n_validation']} examples" if view.get("n_validation") else ""))
    return (f'<p class="state">{" · ".join(facts)}</p>'
            f'<progress max="1" value="{float(view.get("progress") or 0):.3f}"></progress>'
            '<div class="charts">'
            + svg_chart({"training loss": train, "validation loss": val_loss}, "Loss")
            + svg_chart({"validation accuracy": val_acc}, "Validation accuracy", y_max=1.0, dots=True)
            + "</div>" + evaluation_html(view.get("evaluation")))


def evaluation_html(result: dict | None) -> str:
    if not result or not result.get("labels"):
        return ""
    labels = [html.escape(str(label)) for label in result["labels"]]
    head = "".join(f"<th>{label}</th>" for label in labels)
    body = "".join(f"<tr><th>{labels[i]}</th>" + "".join(f"<td>{int(n)}</td>" for n in row) + "</tr>"
                   for i, row in enumerate(result.get("confusion") or []))
    accuracy = result.get("accuracy")
    summary = (f"Accuracy {accuracy * 100:.1f}% on {result.get('n')} examples" if isinstance(accuracy, (int, float))
               else "Evaluation")
    if isinstance(result.get("macro_f1"), (int, float)):
        summary += f", macro-F1 {result['macro_f1']:.3f}"
    return (f'<h2>Latest evaluation</h2><p>{summary}.</p><table class="confusion"><caption>true label (rows) '
            f'× predicted label (columns)</caption><tr><th></th>{head}</tr>{body}</table>')


def page_html(view: dict, token: str) -> str:
    """The whole page: what was trained and how (fixed), then the live part, then the prediction box."""
    name = html.escape(str(view.get("name")))
    counts = ", ".join(f"{html.escape(str(k))}: {v}" for k, v in (view.get("class_counts") or {}).items())
    settings = " · ".join(f"{html.escape(k)} {html.escape(str(v))}" for k, v in (view.get("settings") or {}).items())
    recipe = f"<p>Recipe: {html.escape(str(view['recipe']))}</p>" if view.get("recipe") else ""
    predict = ""
    if view.get("allow_predict"):
        field = ('<textarea name="input" rows="3" required placeholder="Type a text to classify"></textarea>'
                 if view.get("task") == TaskName.TEXT else '<input type="file" name="file" required>')
        predict = (f'<h2>Try it</h2><form id="predict">{field}<button type="submit">Predict</button></form>'
                   '<div id="answer" aria-live="polite"></div>')
    base = f"/share/{html.escape(token)}"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{name} · ftui</title>
<style>{STYLE}</style></head><body><main>
<h1>{name}</h1>
<p class="what">{html.escape(str(view.get('task')))} classification on <b>{html.escape(str(view.get('model')))}</b>;
classes (training examples): {counts}.</p><p class="settings">{settings}</p>{recipe}
<section id="live">{live_html(view)}</section>{predict}
<footer>A read-only live view shared from ftui; the link stops working when it expires or is withdrawn.</footer>
</main><script>{script(base)}</script></body></html>"""


def script(base: str) -> str:
    return f"""
const live = document.getElementById("live");
async function refresh() {{
  const answer = await fetch("{base}/live", {{cache: "no-store"}});
  if (answer.ok) live.innerHTML = await answer.text();
  else if (answer.status === 404) live.innerHTML = "<p class='state'>This link has expired or was withdrawn.</p>";
}}
setInterval(refresh, 2000);
const form = document.getElementById("predict");
if (form) form.addEventListener("submit", async (event) => {{
  event.preventDefault();
  const out = document.getElementById("answer");
  out.textContent = "…";
  const answer = await fetch("{base}/predict", {{method: "POST", body: new FormData(form)}});
  const data = await answer.json();
  if (!answer.ok) {{ out.textContent = data.error || "No answer."; return; }}
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
