"""Every test under tests/browser/ drives a real browser: it is marked ``browser`` here (so `make test-fast` leaves
it out), skipped where /usr/bin/chromium is missing outside CI (in CI it always runs), and a module's tests share one
``page`` on the running app unless the module defines its own."""
from pathlib import Path

import pytest
from browser_page import CHROMIUM, IN_CI, SLOW, open_app

HERE = Path(__file__).resolve().parent
MISSING = pytest.mark.skipif(not CHROMIUM.exists() and not IN_CI,
                             reason="/usr/bin/chromium is missing (make test installs it; in CI this test always runs)")


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(MISSING)


@pytest.fixture(scope="module")
def page(app_url):
    """One page per test module on the app launched once per session (tests/conftest.py ``app_url``)."""
    with open_app(app_url, wait_ms=SLOW) as page:
        yield page
