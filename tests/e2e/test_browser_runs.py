"""The Runs and Evaluate tabs in a real browser (Debian chromium via Playwright): two tiny text runs are
listed, compared (overlaid curves, the differing learning rate marked), renamed, exported as a ZIP
(a real download), evaluated with a click on a confusion-matrix cell, and one is deleted.

Runs are trained through Services directly (the Train tab has its own browser test), on the tiny random
BERT from tests/conftest.py, so they take seconds. Screenshots: tests/artifacts/runs-*.png, evaluate-*.png.
"""
from __future__ import annotations

import socket
import time
import zipfile
from pathlib import Path

import pytest

from ftui.app import serve
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


def wait_done(services: Services, run_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = services.run_status(None, run_id, since=10**9)
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
            assert "example(s)" in page.locator("#eval-cell").inner_text()
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
