"""The Runs and Evaluate tabs in a real browser (Debian chromium via Playwright): two tiny text runs are
listed, compared (overlaid curves, the differing learning rate marked), renamed, exported as a ZIP
(a real download), evaluated with a click on a confusion-matrix cell, and one is deleted.

A second test (its own app and Services) clones a finished run into Train and trains its twin, is refused
the delete of an active run (then stops it from the Runs tab), resumes a stopped run and trains it one more
epoch (the Train tab follows it; its loss chart spans the whole run), exports ONNX (parity sentence, ZIP
download with the .onnx file) and predicts a whole unlabelled CSV on the Evaluate tab (CSV download, preview).

Runs are trained through Services directly (the Train tab has its own browser test), on the tiny random
BERT from tests/conftest.py, so they take seconds. Screenshots: tests/artifacts/runs-*.png, evaluate-*.png.
"""
from __future__ import annotations

import socket
import time
import zipfile
from pathlib import Path

import pytest

from ftui.server import serve
from ftui.services import Services

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def on_browser(browser):
    """run(fn(browser)) -> fn's result, on the session's chromium (tests/e2e/conftest.py)."""
    return lambda fn: fn(browser)


def labelled_csv(path: Path, n: int = 64) -> Path:
    good, bad = ["great", "wonderful", "superb", "loved"], ["awful", "dull", "boring", "hated"]
    lines = ["label,text"] + [f'{label},"the film was {words[i % 4]}, review {i}"'
                              for i in range(n // 2) for label, words in (("pos", good), ("neg", bad))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_done(services: Services, run_id: str, owner: str | None = None, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = services.run_status(owner, run_id, since=10**9)
        if snap["state"] not in ("queued", "running"):
            return snap
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not end in {timeout} s")


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_bert_dir):
    """(url, services, [run ids]): the app with two finished tiny runs that differ in learning rate."""
    services = Services(tmp_path_factory.mktemp("e2e-runs-tab"), max_upload_mb=5, max_concurrent_runs=1)
    data = labelled_csv(tmp_path_factory.mktemp("e2e-runs-data") / "films.csv")
    upload_id = services.accept_upload(None, data, data.name)
    options = {"batch_size": 8, "max_length": 32, "val_fraction": 0.25}
    run_ids = [services.start_run(None, "text", str(tiny_bert_dir), None, lr, epochs, options, upload_id=upload_id)
               for lr, epochs in ((5e-4, 2), (5e-3, 3))]
    for run_id in run_ids:
        assert wait_done(services, run_id)["state"] == "finished"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/", services, run_ids
    demo.close()
    services.close()


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label, exact=True).click()


def pick(page, dropdown: str, text: str) -> None:
    """Choose the option containing `text` in a gr.Dropdown (single or multiselect)."""
    page.locator(f"{dropdown} input").first.click()
    page.locator("[data-testid=dropdown-option]", has_text=text).first.click()


def table_text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


# -- the test -------------------------------------------------------------------------------------
def test_runs_compare_rename_export_evaluate_delete(on_browser, studio):
    url, services, (run_a, run_b) = studio
    evaluation = {}

    def scenario(browser):
        context, page = new_page(browser)
        try:
            page.goto(url)
            open_tab(page, "5 · Runs")
            page.wait_for_function("ids => ids.every(id => document.querySelector('#runs-list')?.innerText"
                                   ".includes(id))", arg=[run_a, run_b])
            assert "finished" in table_text(page, "#runs-list")
            shot(page, "runs-1-table")

            # compare both: two loss lines, the learning-rate row marked as differing
            pick(page, "#runs-compare", run_a)
            pick(page, "#runs-compare", run_b)
            page.locator("#runs-intro").click()  # close the dropdown
            page.wait_for_function("() => document.querySelector('#compare-loss img')?.naturalWidth > 100",
                                   timeout=60_000)
            page.wait_for_function("() => document.querySelector('#compare-config')?.innerText.includes('≠')")
            marked = page.evaluate("""() => {
                const rows = [...document.querySelectorAll('#compare-config [role=row].virtual-row')];
                const named = name => rows.find(r => r.querySelector('[role=gridcell]').innerText.trim() === name);
                const row = named('learning_rate'), same = named('upload');
                const bg = r => [r.querySelector('[role=gridcell]'), r.querySelector('[role=gridcell] .cell-wrap')]
                    .map(e => getComputedStyle(e).backgroundColor).join('|');
                const text = r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.textContent.trim()).join('|');
                return {text: text(row), bg: bg(row), same_bg: bg(same)};
            }""")
            assert "≠" in marked["text"] and "0.0005" in marked["text"] and "0.005" in marked["text"]
            assert marked["bg"] != marked["same_bg"]  # the differing row is tinted, an equal one is not
            page.locator("#compare-config").scroll_into_view_if_needed()
            shot(page, "runs-2-compare")

            # rename run A (pick it by clicking its row), then export it as a ZIP download
            page.locator("#runs-list [role=gridcell]", has_text=run_a).first.click()
            page.wait_for_function("id => document.querySelector('#manage-run input')?.value.includes(id)",
                                   arg=run_a)
            # the choice's own round trip (it fills the name box) must land before we type a new name
            page.wait_for_function("id => document.querySelector('#manage-status')?.innerText.includes(id)",
                                   arg=run_a)
            page.locator("#rename-text textarea, #rename-text input").first.fill("baseline lr 5e-4")
            page.click("#rename-btn")
            page.wait_for_function("() => document.querySelector('#runs-list')?.innerText"
                                   ".includes('baseline lr 5e-4')")
            page.click("#export-zip-btn")
            page.wait_for_selector("#export-download", state="visible", timeout=120_000)
            assert "Model ZIP ready" in page.locator("#export-status").inner_text()
            with page.expect_download() as download_info:
                page.click("#export-download")
            saved = download_info.value.path()  # Playwright's own temp copy, removed with the context
            with zipfile.ZipFile(saved) as archive:
                names = archive.namelist()
            assert "README.md" in names and any(n.startswith("model/") for n in names)
            shot(page, "runs-3-renamed-exported")

            # evaluate run A on its validation split, then click a confusion cell that has examples
            open_tab(page, "4 · Evaluate")
            page.wait_for_function("() => document.querySelector('#eval-run input')?.value")
            pick(page, "#eval-run", run_a)
            page.click("#eval-validation-btn")
            page.wait_for_function("() => document.querySelector('#eval-summary')?.innerText.includes('accuracy')",
                                   timeout=120_000)
            result = services.list_evaluations(None, run_a)[0]
            row, col = next((i, j) for i, counts in enumerate(result["confusion"])
                            for j, count in enumerate(counts) if count)
            evaluation.update(result=result, row=row, col=col)
            cell = page.locator(f"#eval-confusion [data-testid='cell-{row}-{col + 1}']")
            assert cell.inner_text().strip() == str(result["confusion"][row][col])
            cell.click()
            page.wait_for_function("() => document.querySelector('#eval-examples')?.innerText.includes('the film was')")
            assert "examples were" in page.locator("#eval-cell").inner_text()
            page.wait_for_timeout(300)
            shot(page, "evaluate-1-cell")

            # delete run B, with its confirmation step
            open_tab(page, "5 · Runs")
            page.wait_for_function("id => document.querySelector('#runs-list')?.innerText.includes(id)", arg=run_b)
            pick(page, "#manage-run", run_b)
            page.wait_for_function("id => document.querySelector('#manage-status')?.innerText.includes(id)",
                                   arg=run_b)  # the choice's round trip hides the confirm row: let it land first
            page.click("#delete-btn")
            page.wait_for_selector("#delete-confirm", state="visible")
            assert "cannot be undone" in page.locator("#delete-confirm-text").inner_text()
            shot(page, "runs-4-confirm-delete")
            page.click("#delete-confirm")
            page.wait_for_function("id => !document.querySelector('#runs-list')?.innerText.includes(id)", arg=run_b)
            assert run_a in table_text(page, "#runs-list")
            shot(page, "runs-5-deleted")
        except Exception:
            shot(page, "runs-failure")  # what the page showed when it went wrong
            raise
        finally:
            context.close()

    on_browser(scenario)
    examples = services.evaluation_examples(None, run_a, "validation",
                                            evaluation["result"]["labels"][evaluation["row"]],
                                            evaluation["result"]["labels"][evaluation["col"]])
    assert examples  # the cell clicked had examples behind it
    assert [r["run_id"] for r in services.list_runs(None)] == [run_a]
    assert services.run_config(None, run_a)["name"] == "baseline lr 5e-4"


# -- clone, resume, train more, refused delete, ONNX export, batch prediction ---------------------
RUN_ID = r"\d{8}-\d{6}-[0-9a-f]{4}"
# A LinePlot has drawn when a line path has a stroke and a real path (as in test_browser.py).
LINES_DRAWN = """sel => [...document.querySelectorAll(sel + ' g.mark-line path')]
    .some(p => p.getAttribute('stroke') && (p.getAttribute('d') || '').length > 40)"""


def wait_state(services: Services, run_id: str, test, timeout: float = 120) -> dict:
    """Poll run_status until test(snap) holds (the step counter, a checkpoint...)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = services.run_status(None, run_id, since=10**9)
        if test(snap):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"run {run_id}: condition not met in {timeout} s (last: {snap.get('state')})")


@pytest.fixture(scope="module")
def workshop(tmp_path_factory, tiny_bert_dir):
    """(url, services, finished, stopped, upload_id): its own app and Services. `finished` (lr 5e-3,
    6 epochs, default batch size / length, val. share 0.25) has learnt the cue words; `stopped` was
    stopped after its first checkpoint (end of epoch 1 of 10), so resuming it really continues it."""
    from ftui.engine import checkpoint

    services = Services(tmp_path_factory.mktemp("e2e-runs-more"), max_upload_mb=5, max_concurrent_runs=1)
    data = labelled_csv(tmp_path_factory.mktemp("e2e-runs-more-data") / "films.csv", n=400)
    upload_id = services.accept_upload(None, data, data.name)
    finished = services.start_run(None, "text", str(tiny_bert_dir), None, 5e-3, 6,
                                  {"val_fraction": 0.25, "batch_size": 8, "seed": 7},  # Advanced: cloned too
                                  upload_id=upload_id)
    snap = wait_done(services, finished)
    assert snap["state"] == "finished"
    assert snap["best_accuracy"] > 0.9, snap  # learnable: the batch predictions below rely on it
    stopped = services.start_run(None, "text", str(tiny_bert_dir), None, 5e-3, 10,
                                 {"batch_size": 8, "max_length": 32, "val_fraction": 0.25}, upload_id=upload_id)
    run_dir = services.store.run_dir(None, stopped)
    wait_state(services, stopped,
               lambda s: checkpoint.find(run_dir) is not None or s["state"] not in ("queued", "running"))
    services.stop_run(None, stopped)
    snap = wait_done(services, stopped)
    assert snap["state"] == "stopped" and snap["step"] < snap["total_steps"], snap
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/", services, finished, stopped, upload_id
    demo.close()
    services.close()


def manage(page, run_id: str) -> None:
    """Choose `run_id` under Manage one run, and let the choice's own round trip land (it resets the
    name box, hides the download and the delete confirmation) before anything else is clicked."""
    if run_id in page.locator("#manage-run input").input_value():
        return  # already chosen: choosing it again sends no change event
    pick(page, "#manage-run", run_id)
    page.wait_for_function("id => document.querySelector('#manage-status')?.innerText.includes(id + ' chosen')",
                           arg=run_id)


def run_row(page, run_id: str) -> dict[str, str]:
    """The runs table's row of `run_id` as {column: text}."""
    return page.evaluate("""id => {
        const root = document.querySelector('#runs-list');
        const heads = [...root.querySelectorAll('thead th, [role=columnheader]')].map(h => h.innerText.trim());
        const row = [...root.querySelectorAll('tbody tr, [role=row]')].find(r => {
            const first = r.querySelector('td, [role=gridcell]');
            return first && first.innerText.trim() === id;
        });
        if (!row) return null;
        const cells = [...row.querySelectorAll('td, [role=gridcell]')].map(c => c.innerText.trim());
        return Object.fromEntries(heads.slice(0, cells.length).map((h, i) => [h, cells[i]]));
    }""", run_id)


def wait_row_state(page, run_id: str, state: str, timeout: float = 60_000) -> None:
    page.wait_for_function("""([id, state]) => [...document.querySelectorAll(
            '#runs-list tbody tr, #runs-list [role=row]')].some(r => { const c = [...r.querySelectorAll('td, [role=gridcell]')].map(x => x.innerText.trim());
                     return c[0] === id && c.includes(state); })""", arg=[run_id, state], timeout=timeout)


def progress_steps(page) -> tuple[int, int] | None:
    import re

    found = re.search(r"step (\d+) / (\d+)", page.locator("#run-progress").inner_text())
    return (int(found[1]), int(found[2])) if found else None


def chart_span(page, selector: str) -> tuple[float, float] | None:
    """(first, last) step the drawn lines of a LinePlot span, read off the SVG: the lines' left and right
    edges on screen, mapped to steps by two labelled ticks of the x axis."""
    found = page.evaluate("""sel => {
        const root = document.querySelector(sel);
        const lines = [...root.querySelectorAll('g.mark-line path')]
            .filter(p => p.getAttribute('stroke') && (p.getAttribute('d') || '').length > 40);
        const axis = [...root.querySelectorAll('g.role-axis')]
            .find(g => (g.getAttribute('aria-label') || '').startsWith('X-axis'));
        if (!lines.length || !axis) return null;
        const ticks = [...axis.querySelectorAll('g.role-axis-label text')].map(t => {
            const box = t.getBoundingClientRect();
            return [parseFloat(t.textContent.replace(/,/g, '')), box.left + box.width / 2];
        }).filter(([value]) => Number.isFinite(value));
        const boxes = lines.map(p => p.getBoundingClientRect());
        return {left: Math.min(...boxes.map(b => b.left)), right: Math.max(...boxes.map(b => b.right)), ticks};
    }""", selector)
    if not found or len(found["ticks"]) < 2:
        return None
    (v1, x1), (v2, x2) = found["ticks"][0], found["ticks"][-1]
    step = lambda x: v1 + (x - x1) * (v2 - v1) / (x2 - x1)  # noqa: E731
    return step(found["left"]), step(found["right"])


def settled_span(page, selector: str, total: int, timeout: float = 30) -> tuple[float, float] | None:
    """chart_span once the chart has been redrawn for `total` steps (its last ticks re-send it), or
    the last span read when it never is."""
    deadline, span = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        span = chart_span(page, selector)
        if span and abs(span[1] - total) < 0.03 * total:
            break
        page.wait_for_timeout(250)
    page.wait_for_timeout(800)  # the progress bar's fill slides for 0.6 s: a still screenshot
    return chart_span(page, selector) or span


def unlabelled_csv(path: Path, n: int = 30) -> Path:
    good, bad = ["great", "wonderful", "superb", "loved"], ["awful", "dull", "boring", "hated"]
    texts = [f"the film was {(good if i % 2 else bad)[i % 4]}, new review {i}" for i in range(n)]
    path.write_text("text\n" + "\n".join(f'"{t}"' for t in texts) + "\n", encoding="utf-8")
    return path


def test_clone_resume_delete_refused_onnx_batch(on_browser, workshop, tiny_bert_dir, tmp_path):
    import csv
    import io
    import re

    url, services, finished, stopped, upload_id = workshop
    batch_input = unlabelled_csv(tmp_path / "new-reviews.csv")
    seen = {}

    def scenario(browser):
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        context, page = new_page(browser)
        try:
            page.goto(url)
            open_tab(page, "5 · Runs")
            page.wait_for_function("ids => ids.every(id => document.querySelector('#runs-list')?.innerText"
                                   ".includes(id))", arg=[finished, stopped])
            original = run_row(page, finished)
            assert original["data"] == "films.csv" and original["state"] == "finished", original

            # 1. clone the finished run into Train: its settings and data are shown; Train starts a twin
            manage(page, finished)
            page.click("#clone-btn")
            page.wait_for_selector("#tab-train", state="visible")
            page.wait_for_function("dir => document.querySelector('#custom-model textarea, #custom-model input')"
                                   "?.value === dir", arg=str(tiny_bert_dir))
            page.wait_for_function("() => document.querySelector('#learning-rate input')?.value === '0.005'")
            page.wait_for_function("() => document.querySelector('#epochs input')?.value === '6'")
            page.wait_for_function("() => document.querySelector('#train-data')?.innerText.includes('films.csv')")
            # the Advanced values too (the accordion opens, then they are set)
            page.wait_for_function("() => document.querySelector('#batch-size input[type=number]')?.value === '8'")
            page.wait_for_function("() => document.querySelector('#seed input')?.value === '7'")
            page.click("#train-btn")
            page.wait_for_function(f"() => /Run {RUN_ID}/.test(document.querySelector('#run-state')?.innerText)")
            twin = re.search(RUN_ID, page.locator("#run-state").inner_text())[0]
            assert twin not in (finished, stopped)
            page.wait_for_function("id => document.querySelector('#run-state')?.innerText.includes(id + ' finished')",
                                   arg=twin, timeout=180_000)
            page.wait_for_function(LINES_DRAWN, arg="#loss-plot", timeout=60_000)
            page.wait_for_timeout(800)  # the progress bar's fill slides for 0.6 s
            shot(page, "runs-6-cloned-trained")
            open_tab(page, "5 · Runs")
            wait_row_state(page, twin, "finished")
            copy = run_row(page, twin)
            same = ["task", "model", "data", "learning rate", "epochs", "batch size"]
            assert {k: copy[k] for k in same} == {k: original[k] for k in same}, (copy, original)
            seen["twin"] = twin

            # 5. deleting an active run is refused with a warning, and it stays listed; then it is stopped
            busy = services.start_run(None, "text", str(tiny_bert_dir), None, 5e-3, 100,
                                      {"batch_size": 8, "max_length": 32, "val_fraction": 0.25}, upload_id=upload_id)
            seen["busy"] = busy
            wait_state(services, busy, lambda s: s["state"] == "running")
            page.click("#runs-refresh")
            page.wait_for_function("id => document.querySelector('#runs-list')?.innerText.includes(id)", arg=busy)
            manage(page, busy)
            page.click("#delete-btn")
            page.wait_for_function("() => [...document.querySelectorAll(\"[data-testid='toast-text']\")]"
                                   ".some(t => t.innerText.includes('stop it first'))")
            assert services.run_status(None, busy, since=10**9)["state"] == "running"  # still active
            assert not page.locator("#delete-confirm").is_visible()
            assert busy in table_text(page, "#runs-list")
            assert "setting" in table_text(page, "#compare-config")  # its headers, not "1 2 3", before a comparison
            toast = page.locator("[data-testid='toast-text']", has_text="stop it first").first.bounding_box()
            assert toast and 0 <= toast["y"] < 1000 and toast["width"] > 100, toast  # on screen
            page.wait_for_timeout(700)  # the toast fades in
            shot(page, "runs-7-delete-refused")
            # ... stopped from here (the Train tab follows another run: its Stop would not reach this one)
            page.click("#manage-stop-btn")
            page.wait_for_function("id => document.querySelector('#manage-status')?.innerText"
                                   ".includes(`Stopping run ${id}`)", arg=busy)
            assert wait_done(services, busy)["state"] == "stopped"
            for close in page.locator("[data-testid='toast-close']").all():  # out of the later screenshots
                try:
                    close.click(timeout=2_000)
                except PlaywrightTimeout:
                    pass  # it closed itself meanwhile

            # 2. resume the stopped run where it left off: the Train tab follows it to its end
            page.click("#runs-refresh")
            wait_row_state(page, busy, "stopped")
            manage(page, stopped)
            page.locator("#more-epochs input").fill("0")
            page.click("#resume-btn")
            page.wait_for_selector("#tab-train", state="visible")
            page.wait_for_function("id => document.querySelector('#run-state')?.innerText.includes(id + ' finished')",
                                   arg=stopped, timeout=180_000)
            total = services.run_status(None, stopped, since=10**9)["total_steps"]
            page.wait_for_function("t => document.querySelector('#run-progress')?.innerText"
                                   ".includes(`step ${t} / ${t}`)", arg=total)
            page.wait_for_function(LINES_DRAWN, arg="#loss-plot", timeout=60_000)
            seen["resumed_total"] = total
            # the chart shows the whole run: the steps before the stop and the resumed ones, to the last
            seen["resumed_span"] = settled_span(page, "#loss-plot", total)
            shot(page, "runs-8-resumed")
            open_tab(page, "5 · Runs")
            wait_row_state(page, stopped, "finished")

            # ... and train it one more epoch: the total step count grows
            manage(page, stopped)
            page.locator("#more-epochs input").fill("1")
            page.click("#resume-btn")
            page.wait_for_selector("#tab-train", state="visible")
            page.wait_for_function("""([id, before]) => {
                const m = /step (\\d+) \\/ (\\d+)/.exec(document.querySelector('#run-progress')?.innerText || '');
                return m && +m[2] > before && m[1] === m[2]
                    && document.querySelector('#run-state')?.innerText.includes(id + ' finished');
            }""", arg=[stopped, total], timeout=180_000)
            seen["more_total"] = progress_steps(page)[1]
            page.wait_for_function(LINES_DRAWN, arg="#loss-plot", timeout=60_000)
            seen["more_span"] = settled_span(page, "#loss-plot", seen["more_total"])
            shot(page, "runs-9-one-more-epoch")

            # 3. ONNX export: the parity sentence, and a ZIP download holding the .onnx file
            open_tab(page, "5 · Runs")
            page.wait_for_function("id => document.querySelector('#runs-list')?.innerText.includes(id)", arg=twin)
            manage(page, finished)
            page.click("#export-onnx-btn")
            page.wait_for_selector("#export-download", state="visible", timeout=180_000)
            status = page.locator("#export-status").inner_text()
            assert "ONNX model ready" in status and "max |Δlogit|" in status and "same top label" in status, status
            seen["onnx_status"] = status
            with page.expect_download() as download_info:
                page.click("#export-download")
            with zipfile.ZipFile(download_info.value.path()) as archive:
                seen["onnx_names"] = archive.namelist()
            shot(page, "runs-10-onnx")

            # 4. batch prediction of an unlabelled file on the Evaluate tab
            open_tab(page, "4 · Evaluate")
            page.wait_for_function("() => document.querySelector('#eval-run input')?.value")
            assert "precision" in table_text(page, "#eval-per-class")  # its headers before any evaluation
            pick(page, "#eval-run", finished)
            page.wait_for_function("id => document.querySelector('#eval-run input')?.value.includes(id)", arg=finished)
            page.locator("#batch-file input[type=file]").set_input_files(str(batch_input))
            page.wait_for_function("n => document.querySelector('#batch-file')?.innerText.includes(n)",
                                   arg=batch_input.name)
            page.click("#batch-btn")
            page.wait_for_selector("#batch-download", state="visible", timeout=120_000)
            assert "Predicted 30 inputs" in page.locator("#batch-status").inner_text()
            page.wait_for_function("() => document.querySelector('#batch-preview')?.innerText.includes('new review')")
            seen["preview"] = table_text(page, "#batch-preview")
            with page.expect_download() as download_info:
                page.click("#batch-download")
            seen["csv"] = Path(download_info.value.path()).read_text(encoding="utf-8")
            seen["csv_name"] = download_info.value.suggested_filename
            shot(page, "evaluate-2-batch")
        except Exception:
            shot(page, "runs-6-failure")  # what the page showed when it went wrong
            raise
        finally:
            context.close()

    on_browser(scenario)

    # the twin has the cloned run's settings and data
    a, b = services.run_config(None, finished), services.run_config(None, seen["twin"])
    for key in ("task", "model", "upload", "learning_rate", "epochs", "train"):
        assert a[key] == b[key], key
    assert b["data"]["val_fraction"] == a["data"]["val_fraction"] == 0.25
    # resumed, then one more epoch: its curve reaches the last step each time
    snap = services.run_status(None, stopped, since=0)
    assert snap["state"] == "finished" and snap["total_steps"] == seen["more_total"] > seen["resumed_total"]
    steps = [r["step"] for r in snap["rows"] if r.get("split") == "train"]
    assert steps == sorted(steps) and max(steps) == snap["total_steps"]
    for span, total in ((seen["resumed_span"], seen["resumed_total"]), (seen["more_span"], seen["more_total"])):
        assert span is not None, "no line / x axis found in #loss-plot"
        first, last = span
        assert first < 0.05 * total and abs(last - total) < 0.03 * total, (span, total)
    # the refused delete left the active run alone (stopped, not deleted)
    assert services.run_status(None, seen["busy"], since=10**9)["state"] == "stopped"
    assert any(n.endswith(".onnx") for n in seen["onnx_names"]), seen["onnx_names"]
    rows = list(csv.DictReader(io.StringIO(seen["csv"])))
    assert seen["csv_name"].endswith(".csv") and len(rows) == 30
    assert {"input", "predicted", "confidence", "p_neg", "p_pos"} <= set(rows[0])
    assert all(abs(float(r["p_neg"]) + float(r["p_pos"]) - 1) < 1e-3 for r in rows)
    right = sum((r["predicted"] == "pos") == any(w in r["input"] for w in ("great", "wonderful", "superb", "loved"))
                for r in rows)
    assert right >= 27, rows  # the run learnt the cue words (> 90% on its validation split)
    assert "new review" in seen["preview"] and "p_pos" in seen["preview"]
