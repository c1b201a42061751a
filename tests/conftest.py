"""The ``browser`` fixture shared by the browser tests: Debian's Chromium, driven by Playwright."""

import pytest

from browser_helpers import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (tests/test_browser.py and
    tests/test_standalone_page.py). Missing pieces fail the test: the browser tests never skip."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: `pip install -r requirements-test.txt` "
                    "(or `pip install playwright`). The browser itself comes from Debian, not Playwright.")
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install Debian's build with "
                    f"`apt-get install -y chromium` (never `playwright install`).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
