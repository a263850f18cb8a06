"""A real browser (Debian chromium via Playwright) drives the studio: upload, train, watch the
charts, reload, predict. Screenshots land in tests/artifacts/ (git-ignored).

The browser comes from tests/e2e/conftest.py (the system chromium, never `playwright install`).
"""
from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from ftui.server import serve
from ftui.services import Services

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]  # gradio + pandas 3
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# A LinePlot has drawn when a line path has a stroke and a real path (the NaN placeholder draws none).
LINES_DRAWN = """sel => [...document.querySelectorAll(sel + ' g.mark-line path')]
    .some(p => p.getAttribute('stroke') && (p.getAttribute('d') || '').length > 40)"""


# -- fixtures: one app per module (the browser: conftest.py) ------------------------------------------
@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    services = Services(tmp_path_factory.mktemp("e2e-runs"), max_upload_mb=5, max_concurrent_runs=1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = serve(services, host="127.0.0.1", port=port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()
    services.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})  # fresh localStorage per test
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> Path:
    """400 short two-class reviews: enough steps that the run is still going when we look."""
    path = tmp_path_factory.mktemp("e2e-data") / "reviews.csv"
    good, bad = ["great", "wonderful", "superb", "loved"], ["awful", "dull", "boring", "hated"]
    lines = ["label,text"] + [f'{label},"the film was {words[i % 4]} and {words[(i // 4) % 4]}, review {i}"'
                              for i in range(200) for label, words in (("pos", good), ("neg", bad))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # git-ignored (.gitignore: tests/artifacts/)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label, exact=True).click()


# -- tests ------------------------------------------------------------------------------------------
def test_upload_train_watch_reload_predict(page, app_url, reviews, tiny_bert_dir):
    page.goto(app_url)
    page.locator("#data-file input[type=file]").set_input_files(str(reviews))
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('400 examples')")
    assert "Ready to train" in page.locator("#data-summary").inner_text()
    shot(page, "1-data")

    open_tab(page, "2 · Train")
    page.locator("#custom-model textarea, #custom-model input").first.fill(str(tiny_bert_dir))
    page.locator("#learning-rate input").fill("0.0005")
    page.locator("#epochs input").fill("100")  # long enough to reload and stop while it trains
    page.locator("#advanced").get_by_text("Advanced").click()
    page.locator("#batch-size input[type=number]").fill("4")
    assert "reviews.csv" in page.locator("#train-data").inner_text()
    clicked = time.monotonic()
    page.click("#train-btn")
    page.wait_for_function(LINES_DRAWN, arg="#loss-plot", timeout=120_000)
    first_point_s = time.monotonic() - clicked
    # Gradio's "processing | 0.4s" tracker can sit inside #run-state while an update is pending: wait for the
    # sentence itself and take the run id by its shape, not by word position.
    page.wait_for_function("() => /Run \\S+ is training/.test(document.querySelector('#run-state')?.innerText)")
    run_id = re.search(r"Run (\d{8}-\d{6}-\w+) is training", page.locator("#run-state").inner_text()).group(1)
    shot(page, "2-training")

    page.reload()
    open_tab(page, "2 · Train")
    page.wait_for_function(LINES_DRAWN, arg="#loss-plot", timeout=60_000)  # re-attached: charts again
    assert run_id in page.locator("#run-state").inner_text()
    assert "is training" in page.locator("#run-state").inner_text()  # the reload did not stop the run
    # the widgets show the run's own settings again, not the defaults
    page.wait_for_function("() => document.querySelector('#epochs input')?.value === '100'")
    assert page.locator("#custom-model textarea, #custom-model input").first.input_value() == str(tiny_bert_dir)
    # the chosen dataset is remembered too (Train would not ask for a file again)
    page.wait_for_function("() => document.querySelector('#train-data')?.innerText.includes('reviews.csv')")
    page.wait_for_function("() => document.querySelectorAll('#val-plot g.mark-symbol path, "
                           "#val-plot g.mark-point path').length > 0", timeout=120_000)
    page.click("#stop-btn")
    page.wait_for_function("() => /stopped|finished|failed/.test(document.querySelector('#run-state').innerText)",
                           timeout=120_000)
    assert "was stopped" in page.locator("#run-state").inner_text()
    shot(page, "3-stopped-after-reload")

    open_tab(page, "3 · Predict")
    page.wait_for_function("id => document.querySelector('#predict-run input')?.value.includes(id)", arg=run_id)
    page.locator("#predict-text textarea").fill("the film was wonderful and superb")
    page.click("#predict-btn")
    page.wait_for_function("() => /pos|neg/.test(document.querySelector('#predict-label').innerText)")
    page.wait_for_timeout(500)  # let the fade-in finish before the screenshot
    shot(page, "4-predict")
    (ARTIFACTS / "timings.json").write_text(json.dumps({"train_click_to_first_chart_line_s": round(first_point_s, 2)}))


def test_a_bad_upload_says_what_is_wrong(page, app_url, tmp_path):
    photo = tmp_path / "photo.csv"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    page.goto(app_url)
    page.locator("#data-file input[type=file]").set_input_files(str(photo))
    page.wait_for_function("() => /photo\\.csv:.*PNG/.test(document.querySelector('#data-summary')?.innerText)")
    toasts = page.locator("[data-testid='toast-text']")
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='toast-text']\").length > 0")
    assert "PNG" in toasts.first.inner_text()  # the same sentence pops up as a warning
    open_tab(page, "2 · Train")
    page.wait_for_function("() => document.querySelector('#train-data')?.innerText.includes('problems to fix')")
    before = toasts.count()
    page.click("#train-btn")  # nothing to train on: one more warning, and no run starts
    page.wait_for_function("n => document.querySelectorAll(\"[data-testid='toast-text']\").length > n", arg=before)
    assert "No run yet" in page.locator("#run-progress").inner_text()
    shot(page, "5-bad-upload")


def test_example_dataset_in_one_click(page, app_url):
    page.goto(app_url)
    page.click("#use-example")
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('500 examples')")
    # ham and spam bars (the chart draws a moment after the summary text)
    page.wait_for_function("() => document.querySelectorAll('#class-histogram g.mark-rect path').length === 2")


def test_images_example_train_and_predict_a_picture(page, app_url, tmp_path):
    """The image path in a real browser: example ZIP in one click, gallery, EfficientNet-Lite0 at 64 px,
    charts, then a picture predicted from a file upload."""
    import zipfile

    example = Path(__file__).resolve().parents[2] / "assets" / "examples" / "ants_bees_sample.zip"
    with zipfile.ZipFile(example) as archive:
        bee = next(n for n in archive.namelist() if n.startswith("bees/"))
        picture = tmp_path / "bee.jpg"
        picture.write_bytes(archive.read(bee))

    page.goto(app_url)
    page.click("#use-example-images")
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('60 pictures')")
    page.wait_for_function("() => document.querySelectorAll('#data-gallery img').length >= 4")  # thumbnails
    shot(page, "6-image-data")

    open_tab(page, "2 · Train")
    page.wait_for_function("() => document.querySelector('#model input')?.value.includes('EfficientNet')")
    page.locator("#epochs input").fill("2")
    page.locator("#advanced").get_by_text("Advanced").click()
    page.locator("#image-size input[type=number]").fill("64")
    page.locator("#batch-size input[type=number]").fill("4")  # a dozen steps: a line, not two dots
    page.click("#train-btn")
    page.wait_for_function(LINES_DRAWN, arg="#loss-plot", timeout=180_000)
    page.wait_for_function("() => /finished|stopped|failed/.test(document.querySelector('#run-state').innerText)",
                           timeout=300_000)
    assert "finished" in page.locator("#run-state").inner_text()
    shot(page, "7-image-trained")

    open_tab(page, "3 · Predict")
    page.wait_for_function("() => document.querySelector('#predict-run input')?.value.includes('efficientnet')")
    page.locator("#predict-image input[type=file]").set_input_files(str(picture))
    page.wait_for_function("() => /ants|bees/.test(document.querySelector('#predict-label').innerText)")
    shot(page, "8-image-predict")


def test_audio_example_listen_train_and_predict_a_sound(page, app_url, tmp_path):
    """The audio path in a real browser: example ZIP of spoken digits in one click, summary with
    durations and sample rates, playable examples, Whisper tiny.en with a 1 s window, then a clip
    predicted from a file upload."""
    import zipfile

    example = Path(__file__).resolve().parents[2] / "assets" / "examples" / "spoken_digits_sample.zip"
    with zipfile.ZipFile(example) as archive:
        name = next(n for n in archive.namelist() if "/seven/" in n and n.endswith(".wav"))
        clip = tmp_path / "seven.wav"
        clip.write_bytes(archive.read(name))

    page.goto(app_url)
    page.click("#use-example-audio")
    page.wait_for_function("() => document.querySelector('#data-summary')?.innerText.includes('120 clips')")
    summary = page.locator("#data-summary").inner_text()
    assert "8,000 Hz" in summary and "mono" in summary and "s long" in summary
    page.wait_for_function("() => document.querySelectorAll('#listen-1 audio, #listen-1 .waveform-container, "
                           "#listen-1 button').length > 0")  # a player with a clip in it
    shot(page, "9-audio-data")

    open_tab(page, "2 · Train")
    page.wait_for_function("() => document.querySelector('#model input')?.value.includes('Whisper')")
    page.locator("#epochs input").fill("3")
    page.locator("#advanced").get_by_text("Advanced").click()
    page.locator("#clip-seconds input[type=number]").fill("1")
    page.locator("#batch-size input[type=number]").fill("8")
    page.click("#train-btn")
    page.wait_for_function(LINES_DRAWN, arg="#loss-plot", timeout=180_000)
    page.wait_for_function("() => /finished|stopped|failed/.test(document.querySelector('#run-state').innerText)",
                           timeout=300_000)
    assert "finished" in page.locator("#run-state").inner_text()
    shot(page, "10-audio-trained")

    open_tab(page, "3 · Predict")
    page.wait_for_function("() => document.querySelector('#predict-run input')?.value.includes('whisper')")
    page.wait_for_selector("#predict-audio", state="visible")
    page.locator("#predict-audio input[type=file]").set_input_files(str(clip))
    page.wait_for_function("() => /zero|one|two|three|four|five|six|seven|eight|nine/"
                           ".test(document.querySelector('#predict-label').innerText)", timeout=120_000)
    shot(page, "11-audio-predict")
