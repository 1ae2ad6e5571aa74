"""The app opened in Debian's chromium through Playwright, shared by the browser tests (tests/browser/conftest.py
skips them where chromium is missing outside CI and gives each module one ``page`` on the app)."""
import os
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SLOW = 180_000  # ms: what a page waits for server work on a busy 2-core CI runner
ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run")


def launch(p, *args: str):
    """Headless Debian chromium from a sync_playwright ``p`` (never a downloaded browser)."""
    return p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*ARGS, *args])


@contextmanager
def open_app(url: str, *, height: int = 1000, wait_ms: int = 60_000, init_script: str | None = None):
    """A page on the app at ``url`` with its tabs rendered; page errors collected in ``page.errors``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1600, "height": height})
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        if init_script:
            page.add_init_script(init_script)
        page.goto(url, wait_until="domcontentloaded")  # not networkidle: the queue keeps connections open
        page.locator("gradio-app").wait_for()
        page.get_by_role("tab").first.wait_for(timeout=wait_ms)
        try:
            yield page
        finally:
            browser.close()
