"""The app opened in Debian's chromium through Playwright, shared by the browser tests."""
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def open_app(url: str, *, height: int = 1000, wait_ms: int = 60_000):
    """A page on the app at ``url`` with its tabs rendered; page errors collected in ``page.errors``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"])
        page = browser.new_page(viewport={"width": 1600, "height": height})
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(url, wait_until="domcontentloaded")  # not networkidle: the queue keeps connections open
        page.locator("gradio-app").wait_for()
        page.get_by_role("tab").first.wait_for(timeout=wait_ms)
        try:
            yield page
        finally:
            browser.close()
