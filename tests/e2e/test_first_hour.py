"""The first hour of a new user, in a real browser: each stumble of the browser tour, fixed and kept fixed.

Runs are trained through Services (quick, on the tiny random BERT) unless the test is about the Train
button itself. Screenshots of every tab, light and dark: tests/artifacts/tour-*.png.
"""
from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from ftui.server import serve
from ftui.services import Services
from test_browser_runs import wait_done

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
QUICK = {"batch_size": 8, "max_length": 16}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def films(path: Path, n: int = 64, duplicates: int = 0) -> Path:
    good, bad = ["great", "wonderful", "superb", "loved"], ["awful", "dull", "boring", "hated"]
    rows = [f'{label},"the film was {words[i % 4]}, review {i}"' for i in range(n // 2)
            for label, words in (("pos", good), ("neg", bad))]
    path.write_text("\n".join(["label,text", *rows, *rows[:duplicates]]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_bert_dir):
    """(url, services, finished run id, data file): one app, one finished tiny text run."""
    folder = tmp_path_factory.mktemp("first-hour")
    services = Services(folder / "runs", max_upload_mb=5, max_concurrent_runs=1)
    data = films(folder / "films.csv")
    run_id = services.start_run(None, "text", str(tiny_bert_dir), data, 3e-3, 2, QUICK)
    assert wait_done(services, run_id)["state"] == "finished"
    port = free_port()
    demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/", services, run_id, data
    demo.close()
    services.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    yield page
    context.close()


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label, exact=True).click()


def follow(page, url: str, run_id: str) -> None:
    """Make this browser follow `run_id` (as Train would) through the Predict tab's runs table."""
    page.goto(url)
    open_tab(page, "3 · Predict")
    page.locator("#runs-accordion").get_by_text("All runs").click()
    cell(page, "#runs-table", run_id).click()
    page.wait_for_function("() => document.querySelector('#run-state')?.innerText.includes('finished')")


def cell(page, table: str, text: str):
    """The grid cell of `table` that shows `text` (Gradio's table also keeps a hidden editable copy)."""
    return page.locator(f"{table} [role=gridcell]", has_text=text).first


def picked_new_run(page, studio, tiny_bert_dir) -> str:
    """A new finished run, chosen in the Runs tab (its round trip landed)."""
    url, services, _, data = studio
    run_id = services.start_run(None, "text", str(tiny_bert_dir), data, 1e-3, 1, QUICK)
    wait_done(services, run_id)
    page.goto(url)
    open_tab(page, "5 · Runs")
    cell(page, "#runs-list", run_id).click()
    page.wait_for_function("id => document.querySelector('#manage-status')?.innerText.includes(id)", arg=run_id)
    return run_id


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# -- 1. Enter predicts, Shift+Enter is a new line -------------------------------------------------------
def test_enter_predicts_and_shift_enter_is_a_new_line(page, studio):
    url, _, run_id, _ = studio
    page.goto(url)
    open_tab(page, "3 · Predict")
    page.locator("#predict-run input").click()
    page.get_by_role("option").filter(has_text=run_id).first.click()
    box = page.locator("#predict-text textarea")
    box.fill("the film was great")
    box.press("Shift+Enter")
    box.type("and superb")
    assert box.input_value() == "the film was great\nand superb"
    box.press("Enter")
    page.wait_for_function("() => /pos|neg/.test(document.querySelector('#predict-label')?.innerText)")
    assert "\n" in box.input_value()  # Enter predicted; it did not add a line


# -- 2. the server judges every file; a refusal stays in the summary line ----------------------------
def test_files_the_browser_used_to_refuse_reach_the_server(page, studio, tmp_path):
    url = studio[0]
    trec = tmp_path / "train_5500.label"
    trec.write_text("".join(f"{'DESC:manner' if i % 2 else 'NUM:count'} How many question number {i} ?\n"
                            for i in range(40)), encoding="latin-1")
    m4a = tmp_path / "voice.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + bytes(2000))
    page.goto(url)
    page.locator("#data-file input[type=file]").set_input_files(str(trec))
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('40 examples')")
    assert "2 classes" in page.locator("#data-summary").inner_text()
    page.locator("#data-file").get_by_label("Clear").click()  # as a user would, before the next file
    page.locator("#data-file input[type=file]").set_input_files(str(m4a))
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('voice.m4a')")
    summary = page.locator("#data-summary").inner_text()
    assert "voice.m4a" in summary and "Upload a labelled table" not in summary and len(summary) > 40


# -- 3. answer columns first, the long input last -----------------------------------------------------------
def test_tables_show_the_answer_first(page, studio, tmp_path):
    url, _, run_id, _ = studio
    page.goto(url)
    open_tab(page, "4 · Evaluate")
    page.locator("#eval-run input").click()
    page.get_by_role("option").filter(has_text=run_id).first.click()
    page.click("#eval-validation-btn")
    page.wait_for_function("() => document.querySelector('#eval-summary')?.innerText.includes('accuracy')")
    page.locator("#eval-confusion [data-testid='cell-0-1']").click()  # the first count cell (after the row's label)
    page.wait_for_function("() => document.querySelector('#eval-examples th')")
    headers = [h.strip() for h in page.locator("#eval-examples thead th").all_inner_texts() if h.strip()]
    assert headers[:2] == ["predicted", "confidence"] and headers[-1] == "input"
    inbox = tmp_path / "inbox.csv"
    inbox.write_text("text\n" + "\n".join(f"a very long message about a film, number {i} " * 8 for i in range(5)))
    page.locator("#batch-file input[type=file]").set_input_files(str(inbox))
    page.click("#batch-btn")
    page.wait_for_function("() => document.querySelector('#batch-preview th')")
    headers = [h.strip() for h in page.locator("#batch-preview thead th").all_inner_texts() if h.strip()]
    assert headers[:2] == ["predicted", "confidence"] and headers[-1] == "input"
    box = page.locator("#batch-preview").bounding_box()
    assert box["x"] + box["width"] <= 1400  # nothing off screen


# -- 4. a second Train click asks first; Stop only when there is something to stop -----------------------
def test_train_asks_before_a_second_run_and_stop_is_off_when_idle(page, studio, tiny_bert_dir):
    url, services, _, data = studio
    page.goto(url)
    open_tab(page, "2 · Train")
    assert page.locator("#stop-btn").is_disabled()
    open_tab(page, "1 · Data")
    page.locator("#data-file input[type=file]").set_input_files(str(data))
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('64 examples')")
    open_tab(page, "2 · Train")
    page.locator("#custom-model textarea, #custom-model input").first.fill(str(tiny_bert_dir))
    page.locator("#epochs input").fill("60")
    page.click("#train-btn")
    page.wait_for_function("() => !document.querySelector('#stop-btn')?.disabled")
    runs_before = len(services.list_runs(None))
    page.click("#train-btn")
    page.wait_for_function("() => document.querySelector('#another-run-text')?.innerText.includes('still')")
    page.click("#another-run-cancel")
    assert len(services.list_runs(None)) == runs_before  # no twin queued behind the user's back
    page.click("#stop-btn")
    page.wait_for_function("() => document.querySelector('#stop-btn')?.disabled")
    assert "stopped" in page.locator("#run-state").inner_text()


# -- 5. a reload lands on the tab of the running run -------------------------------------------------------
def test_a_reload_opens_the_train_tab_of_a_running_run(page, studio, tiny_bert_dir):
    url, services, _, data = studio
    run_id = services.start_run(None, "text", str(tiny_bert_dir), data, 1e-3, 80, QUICK)
    try:
        page.goto(url)
        open_tab(page, "3 · Predict")
        page.locator("#runs-accordion").get_by_text("All runs").click()
        cell(page, "#runs-table", run_id).click()  # follow it
        page.wait_for_function("() => document.querySelector('#run-state')?.innerText.includes('training')")
        page.reload()
        page.wait_for_function("() => document.querySelector('#run-state')?.innerText.includes('training')")
        assert page.get_by_role("tab", name="2 · Train", exact=True).get_attribute("aria-selected") == "true"
    finally:
        services.stop_run(None, run_id)
        wait_done(services, run_id)


def test_a_reload_does_not_bring_back_an_earlier_files_warnings(page, studio, tmp_path):
    page.goto(studio[0])
    page.locator("#data-file input[type=file]").set_input_files(str(films(tmp_path / "dups.csv", 20, duplicates=1)))
    page.wait_for_function("() => document.querySelector('#data-issues')?.innerText.includes('duplicate')")
    page.locator("#data-file").get_by_label("Clear").click()
    page.locator("#data-file input[type=file]").set_input_files(str(films(tmp_path / "clean.csv", 24)))
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('clean.csv')")
    page.reload()
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.length > 10")
    page.wait_for_timeout(1000)  # whatever the page restores has arrived
    assert "duplicate" not in page.locator("#data-issues").inner_text()


# -- 6. the Train tab shows the followed run's own data and settings ---------------------------------------
def test_the_train_tab_names_the_followed_runs_data_and_settings(page, studio):
    url, _, run_id, data = studio
    follow(page, url, run_id)
    line = page.locator("#run-recipe").inner_text()
    assert f"This run: {data.name}" in line and "learning rate 0.003" in line and "2 epochs" in line


# -- 7. words that match the settings ----------------------------------------------------------------------
def test_words_are_true_plural_and_plain(page, studio, tmp_path):
    url = studio[0]
    page.goto(url)
    page.locator("#data-file input[type=file]").set_input_files(str(films(tmp_path / "dups.csv", 20, duplicates=1)))
    page.wait_for_function("() => document.querySelector('#data-issues')?.innerText.includes('duplicate')")
    issues = page.locator("#data-issues").inner_text()
    assert "1 duplicate row " in issues and "rows" not in issues.split("duplicate")[1][:6]
    assert "⚠" not in issues and "⛔" not in issues and "Note:" in issues
    # column headers break between words only
    open_tab(page, "5 · Runs")
    breaking = page.evaluate("""() => [...document.querySelectorAll('#runs-list th')]
        .map(th => getComputedStyle(th).wordBreak)""")
    assert breaking and all(b == "keep-all" for b in breaking)


def test_the_data_preview_has_no_placeholder_headers_before_any_data(page, studio):
    page.goto(studio[0])
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.length > 10")
    assert not page.locator("#data-preview").is_visible()


# -- 8. actions say what they did; another sign-in's run is forgotten quietly ------------------------------
def test_delete_says_it_deleted(page, studio, tiny_bert_dir):
    run_id = picked_new_run(page, studio, tiny_bert_dir)
    page.click("#delete-btn")
    page.click("#delete-confirm")
    page.wait_for_function("() => document.querySelector('#manage-status')?.innerText.includes('was deleted')")
    page.wait_for_timeout(1500)  # the refresh that follows must not wipe the sentence
    assert f"Run {run_id} was deleted" in page.locator("#manage-status").inner_text().replace("`", "")


def test_a_second_sign_in_does_not_hear_about_the_first_users_run(browser, tmp_path, tiny_bert_dir):
    services = Services(tmp_path / "runs", max_upload_mb=5)
    port = free_port()
    demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True,
                 auth=[("ann", "pw-ann"), ("bob", "pw-bob")], contact="Ada, ada@example.org")
    url = f"http://127.0.0.1:{port}/"
    try:
        run_id = services.start_run("ann", "text", str(tiny_bert_dir), films(tmp_path / "f.csv"), 1e-3, 1, QUICK)
        wait_done(services, run_id, owner="ann")
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(url)
        # -- 11. the sign-in page names the studio and who gives accounts
        page.wait_for_selector("text=ftui · fine-tuning studio")
        assert "Ada, ada@example.org" in page.content()
        shot(page, "tour-sign-in")
        for user in ("ann", "bob"):
            page.goto(url)
            page.get_by_label("username").fill(user)
            page.get_by_label("password").fill(f"pw-{user}")
            page.get_by_role("button", name="Login").click()
            page.wait_for_selector("#signed-in")
            if user == "ann":
                open_tab(page, "3 · Predict")
                page.locator("#runs-accordion").get_by_text("All runs").click()
                cell(page, "#runs-table", run_id).click()
                page.wait_for_function("() => document.querySelector('#run-state')?.innerText.includes('finished')")
                page.goto(url + "logout")
        page.wait_for_timeout(2000)
        assert "not found" not in page.locator("body").inner_text()  # no toast about ann's run
        open_tab(page, "2 · Train")
        assert run_id not in page.locator("#run-state").inner_text()
        context.close()
    finally:
        demo.close()
        services.close()


# -- 9. disk use per run, and the actions that give it back ------------------------------------------------
def test_runs_show_their_disk_use_and_checkpoints_can_go(page, studio, tiny_bert_dir):
    services = studio[1]
    run_id = picked_new_run(page, studio, tiny_bert_dir)
    row = page.locator("#runs-list [role=row]").filter(has_text=run_id).first
    assert "MB" in row.inner_text() or "KB" in row.inner_text()
    page.click("#free-checkpoints-btn")
    page.wait_for_function("() => document.querySelector('#manage-status')?.innerText.includes('freed')")
    assert not (services.store.run_dir(None, run_id) / "checkpoints").exists()


def test_the_same_file_uploaded_twice_is_stored_once(page, studio, tmp_path):
    url, services, _, _ = studio
    uploads = services.store.owner_dir(None) / "uploads"
    before = {p.name for p in uploads.iterdir() if p.is_dir()}
    data = films(tmp_path / "once.csv", 48)
    page.goto(url)
    for attempt in range(2):
        if attempt:
            page.locator("#data-file").get_by_label("Clear").click()
        page.locator("#data-file input[type=file]").set_input_files(str(data))
        page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('48 examples')")
    added = {p.name for p in uploads.iterdir() if p.is_dir()} - before
    assert len(added) == 1, added  # the second upload of the same bytes reuses the first


# -- 10. how much an accuracy says ------------------------------------------------------------------------
def test_the_accuracy_comes_with_its_interval(page, studio):
    url, _, run_id, _ = studio
    follow(page, url, run_id)
    state = page.locator("#run-state").inner_text()
    assert re.search(r"accuracy: [\d.]+% on \d+ examples \(95% interval \d+–\d+%\)", state), state


# -- screenshots of every tab, light and dark ---------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_tab_in_light_and_dark(page, studio, theme):
    url, _, run_id, _ = studio
    follow(page, url + ("?__theme=dark" if theme == "dark" else ""), run_id)
    for label, name in (("1 · Data", "data"), ("2 · Train", "train"), ("3 · Predict", "predict"),
                        ("4 · Evaluate", "evaluate"), ("5 · Runs", "runs")):
        open_tab(page, label)
        if name == "predict" and not page.locator("#runs-table").is_visible():
            page.locator("#runs-accordion").get_by_text("All runs").click()
        page.wait_for_timeout(800)
        shot(page, f"tour-{theme}-{name}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
        hidden = page.evaluate("""() => [...document.querySelectorAll('#runs-table .virtual-table-viewport, #runs-list .virtual-table-viewport')]
            .filter(el => el.offsetParent !== null).map(el => el.scrollWidth - el.clientWidth)""")
        assert len(hidden) == (name in ("predict", "runs")), hidden
        assert all(px <= 1 for px in hidden), f"{name}: a runs table hides columns behind a scroll bar ({hidden})"

