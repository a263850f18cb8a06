"""One Debian chromium (via Playwright) for the whole browser-test session.

Never `playwright install` (it downloads); the system chromium is used. Without it the tests skip,
unless CI=true, where a missing browser is a failure. Playwright's sync API allows one instance per
thread, so every e2e file shares this fixture rather than starting its own.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("FTUI_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"chromium not found at {CHROMIUM} (CI=true: e2e tests must run)")
        pytest.skip(f"chromium not found at {CHROMIUM}; apt-get install chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
