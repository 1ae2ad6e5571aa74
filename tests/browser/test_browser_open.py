"""A new visitor's first look, in a real browser: Sample, Complete and Train show images before any button is
pressed, and one click on an example in each upload tab gives that tab's result."""
import re


LOAD_MS = 180_000  # the page-open work (a grid, a completion) on a slow, busy 2-core CI machine


def _shown(page, selector: str, timeout: int = LOAD_MS) -> None:
    """Wait until an <img> under ``selector`` has loaded pixels."""
    page.wait_for_function(
        "sel => Array.from(document.querySelectorAll(sel + ' img')).some(e => e.complete && e.naturalWidth > 0)",
        arg=selector, timeout=timeout)


def _no_error(page) -> None:
    assert page.get_by_test_id("toast-body").count() == 0, page.get_by_test_id("toast-body").all_inner_texts()
    assert not page.errors, page.errors


def test_tabs_have_content_before_any_click(page, artifacts):
    """Only tabs are clicked (an inactive tab's children are not rendered): no Generate, Complete or Start."""
    from playwright.sync_api import expect

    _shown(page, "#sample-grid")  # the Sample tab is the one open
    expect(page.locator("#sample-info")).to_contain_text(re.compile(r"\d+ samples from \S+"), timeout=LOAD_MS)
    assert page.locator("#sample-gallery img").count() >= 8
    page.screenshot(path=str(artifacts / "open-sample.png"), full_page=True)

    page.get_by_role("tab", name="Complete").click()
    _shown(page, "#cmp-masked")
    _shown(page, "#cmp-out")
    expect(page.locator("#cmp-info")).to_contain_text("completion 1", timeout=LOAD_MS)
    # the mask editor shows the input: its canvas holds the digit (white strokes on black), not a blank canvas
    editor = page.locator("#cmp-editor")
    page.wait_for_timeout(500)  # the editor draws its background a frame after the value arrives
    _assert_not_blank(editor.screenshot(path=str(artifacts / "open-complete-editor.png")))
    page.screenshot(path=str(artifacts / "open-complete.png"), full_page=True)

    page.get_by_role("tab", name="Train").click()
    gif = page.locator("#train-preview-gif img")
    expect(gif).to_have_attribute("src", re.compile(r"\.gif"), timeout=60_000)
    _shown(page, "#train-preview-gif")
    expect(page.locator("#train-preview-info")).to_contain_text(re.compile(r"\d+ steps"))
    page.screenshot(path=str(artifacts / "open-train.png"), full_page=True)
    _no_error(page)


def _assert_not_blank(png: bytes) -> None:
    import io

    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)
    dark, bright = (a < 40).mean(), (a > 200).mean()
    assert dark > 0.2 and bright > 0.01, f"the editor looks blank (dark {dark:.2f}, bright {bright:.2f})"


def _click_example(page, examples_id: str, label: str | None = None) -> None:
    """Click one example of the gr.Examples whose dataset has ``examples_id`` (by its label, else the first)."""
    box = page.locator(f"#{examples_id}")
    box.scroll_into_view_if_needed()
    (box.get_by_text(label, exact=True) if label else box.locator("img").first).click()


def test_one_click_on_an_example_runs_each_upload_tab(page, artifacts):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Sample").click()
    page.get_by_text("Detection: real or generated?").click()
    _click_example(page, "detect-examples")
    expect(page.locator("#detect-result")).to_contain_text("Score", timeout=LOAD_MS)
    _shown(page, "#detect-plot")
    page.screenshot(path=str(artifacts / "example-detection.png"), full_page=True)
    _no_error(page)

    page.get_by_role("tab", name="Complete").click()
    expect(page.locator("#cmp-info")).to_contain_text("completion 1", timeout=LOAD_MS)  # the page-open view first
    _click_example(page, "cmp-examples", "photo: 7 in a shadow")
    expect(page.locator("#cmp-source input[value='Upload']")).to_be_checked(timeout=30_000)
    expect(page.locator("#cmp-info")).to_contain_text(re.compile(r"input \(before masking\)\s*7 \("),
                                                      timeout=LOAD_MS)
    page.screenshot(path=str(artifacts / "example-complete.png"), full_page=True)
    _no_error(page)

    page.get_by_role("tab", name="Reconstruct").click()
    _click_example(page, "rec-examples", "scan: 8")
    expect(page.locator("#rec-source input[value='Upload']")).to_be_checked(timeout=30_000)
    expect(page.locator("#rec-info")).to_contain_text("MSE", timeout=LOAD_MS)
    expect(page.locator("#rec-pct input")).to_be_visible(timeout=60_000)
    _shown(page, "#rec-output")
    page.screenshot(path=str(artifacts / "example-reconstruct.png"), full_page=True)
    _no_error(page)

    page.get_by_role("tab", name="Interpolate").click()
    _click_example(page, "int-examples", "photo: 3 on ruled paper → scan: 8")
    expect(page.locator("#int-a-source input[value='Upload']")).to_be_checked(timeout=30_000)
    expect(page.locator("#int-b-source input[value='Upload']")).to_be_checked()
    expect(page.locator("#int-info")).to_contain_text("frames", timeout=LOAD_MS)
    _shown(page, "#int-strip")
    page.screenshot(path=str(artifacts / "example-interpolate.png"), full_page=True)
    _no_error(page)
