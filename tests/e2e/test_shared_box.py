"""The shared box in a browser: a queued run says its place in line, and a stakeholder opens a live link
in a browser that never signed in, sees the curves grow and nothing to click but Predict; once withdrawn,
the link answers that it no longer works."""
from __future__ import annotations

import time

import pytest

from ftui.server import serve
from ftui.services import Services
from test_first_hour import QUICK, cell, films, free_port, open_tab, shot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ANN, ADA = ("ann", "pw-ann-1"), ("ada", "pw-ada-1", "admin")


@pytest.fixture(scope="module")
def box(tmp_path_factory, tiny_bert_dir):
    folder = tmp_path_factory.mktemp("shared-box")
    services = Services(folder / "runs", max_upload_mb=5, max_concurrent_runs=1)
    port = free_port()
    demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True, auth=[ANN, ADA])
    yield f"http://127.0.0.1:{port}/", services, films(folder / "films.csv", n=96)
    demo.close()
    services.close()


def signed_in(browser, url, who=ANN):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    page.get_by_label("username").fill(who[0])
    page.get_by_label("password").fill(who[1])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#signed-in")
    return context, page


def test_queue_place_and_a_live_link_for_a_stakeholder(browser, box, tiny_bert_dir):
    url, services, data = box
    training = services.start_run("ann", "text", str(tiny_bert_dir), data, 5e-4, 100, {**QUICK, "log_every_steps": 1})
    waiting = services.start_run("ann", "text", str(tiny_bert_dir), data, 5e-4, 1, QUICK)
    deadline = time.monotonic() + 120
    while services.run_status("ann", training, since=10**9).get("best_step") is None:
        assert time.monotonic() < deadline, "the run never evaluated"
        time.sleep(0.3)
    context, page = signed_in(browser, url)
    try:
        open_tab(page, "5 · Runs")
        assert "queued (next in line" in cell(page, "#runs-list", waiting).locator("xpath=..").inner_text()
        cell(page, "#runs-list", training).click()
        page.wait_for_function("id => document.querySelector('#manage-status')?.innerText.includes(id)",
                               arg=training)
        page.locator("#share-panel").get_by_text("Share a live link").click()
        page.get_by_label("Let them try predictions").check()
        page.click("#share-btn")
        page.wait_for_function("() => document.querySelector('#share-link textarea, #share-link input')?.value"
                               ".includes('/share/')")
        link = page.locator("#share-link textarea, #share-link input").first.input_value()
        shot(page, "share-1-owner")

        stranger = browser.new_context(viewport={"width": 1300, "height": 1000})  # no cookie, no account
        view = stranger.new_page()
        view.goto(link)
        view.wait_for_selector("svg polyline")
        points = view.evaluate("() => document.querySelector('polyline.s0').getAttribute('points').length")
        view.wait_for_function("n => document.querySelector('polyline.s0').getAttribute('points').length > n",
                               arg=points, timeout=60_000)  # the curve grows without a reload
        assert [b.inner_text() for b in view.locator("button").all()] == ["Predict"]
        assert view.locator("a").count() == 0 and view.locator("input[type=file]").count() == 0
        view.locator("textarea").fill("the film was great")
        view.click("button")
        view.wait_for_selector("#answer .bar")
        assert {view.locator("#answer .bar span").nth(i).inner_text() for i in range(2)} == {"pos", "neg"}
        shot(view, "share-2-stakeholder")

        page.click("#unshare-btn")
        page.wait_for_function("() => document.querySelector('#share-state')?.innerText.includes('Not shared')")
        view.wait_for_function("() => document.body.innerText.includes('expired or was withdrawn')", timeout=10_000)
        assert view.goto(link).status == 404
        stranger.close()
    finally:
        services.stop_run("ann", training)
        context.close()


def test_only_an_admin_sees_the_box_tab_with_the_slot_and_its_run(browser, box, tiny_bert_dir):
    url, services, data = box
    run_id = services.start_run("ann", "text", str(tiny_bert_dir), data, 5e-4, 100, {**QUICK, "log_every_steps": 1})
    deadline = time.monotonic() + 120
    while services.run_status("ann", run_id, since=10**9)["state"] != "running":  # an earlier test's run may go first
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.3)
    try:
        context, page = signed_in(browser, url)
        page.wait_for_timeout(1500)  # the page's load events have run
        assert page.get_by_role("tab", name="6 · Box").count() == 0
        context.close()
        context, page = signed_in(browser, url, ADA)
        open_tab(page, "6 · Box")
        page.wait_for_function("id => document.querySelector('#box-slots')?.innerText.includes(id)", arg=run_id)
        assert "CPU slot 1" in page.locator("#box-slots").inner_text()
        shot(page, "box-admin")
        context.close()
    finally:
        services.stop_run("ann", run_id)
