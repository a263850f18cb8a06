"""Presets and "Show as command" in a real browser (Debian chromium via Playwright): a finished run's
settings are saved under a name on the Runs tab, its command line and Python call are shown, and picking
the preset on the Train tab fills the learning rate, the epochs and an Advanced value; deleting it takes
it off both lists.

The run is trained through Services on the tiny random BERT from tests/conftest.py (seconds).
Screenshots: tests/artifacts/presets-*.png.
"""
from __future__ import annotations

import socket

import pytest
from test_browser_runs import labelled_csv, manage, new_page, open_tab, pick, shot, wait_done

from ftui.server import serve
from ftui.services import Services

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_bert_dir):
    """(url, services, run id): the app with one finished run whose settings differ from the form's defaults."""
    services = Services(tmp_path_factory.mktemp("e2e-presets"), max_upload_mb=5, max_concurrent_runs=1)
    data = labelled_csv(tmp_path_factory.mktemp("e2e-presets-data") / "films.csv", n=32)
    upload_id = services.accept_upload(None, data, data.name)
    options = {"batch_size": 8, "max_length": 40, "val_fraction": 0.25}
    run_id = services.start_run(None, "text", str(tiny_bert_dir), None, 7e-4, 4, options, upload_id=upload_id)
    assert wait_done(services, run_id)["state"] == "finished"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/", services, run_id
    demo.close()
    services.close()


def number(page, elem_id: str) -> float:
    return float(page.locator(f"#{elem_id} input").first.input_value())


def test_save_a_preset_show_the_command_and_start_from_it(browser, studio):
    url, services, run_id = studio
    context, page = new_page(browser)
    try:
        page.goto(url)
        open_tab(page, "5 · Runs")
        manage(page, run_id)

        # the command panel: the ftui train line and the gradio_client call of this very run
        page.locator("#command-panel").get_by_text("Show as command").click()
        page.wait_for_function("() => document.querySelector('#command-cli')?.innerText.includes('ftui train')")
        cli = page.locator("#command-cli").inner_text()
        assert "films.csv" in cli and "--lr 0.0007" in cli and "--epochs 4" in cli, cli
        assert "max_length=40" in cli, cli
        python = page.locator("#command-python").inner_text()
        assert "Client(" in python and 'api_name="/start_run"' in python, python

        # save it under a name
        page.locator("#presets-panel").get_by_text("Save settings as a preset").click()
        page.locator("#preset-name textarea, #preset-name input").first.fill("slow-and-long")
        page.locator("#preset-save-btn").click()
        page.wait_for_function("() => document.querySelector('#preset-status')?.innerText.includes('slow-and-long')")
        assert [p["name"] for p in services.list_presets(None)] == ["slow-and-long"]
        shot(page, "presets-1-saved")

        # start from it: the Train form takes its rate, epochs and an Advanced value
        open_tab(page, "2 · Train")
        assert number(page, "epochs") != 4
        pick(page, "#preset-picker", "slow-and-long")
        page.wait_for_function("() => document.querySelector('#epochs input')?.value === '4'")
        assert number(page, "learning-rate") == pytest.approx(7e-4)
        page.wait_for_function("() => document.querySelector('#max-length input')?.value === '40'")
        shot(page, "presets-2-applied")

        # delete it: gone from the service and from the Train tab's picker after a reload
        open_tab(page, "5 · Runs")
        pick(page, "#preset-list", "slow-and-long")
        page.locator("#preset-delete-btn").click()
        page.wait_for_function("() => document.querySelector('#preset-status')?.innerText.includes('deleted')")
        assert services.list_presets(None) == []
        page.reload()
        open_tab(page, "2 · Train")
        page.locator("#preset-picker input").first.click()
        assert page.locator("[data-testid=dropdown-option]", has_text="slow-and-long").count() == 0
    finally:
        context.close()
