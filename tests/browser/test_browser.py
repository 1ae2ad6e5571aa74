"""A real browser (Debian's chromium via Playwright) clicks through every tab of the running app."""
import re


from imggen import list_models

GENERATE = re.compile(r"^\s*(generate|sample|interpolate)\b", re.I)  # buttons that must produce an image from defaults


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "tab"


def _image_srcs(panel) -> list[str]:
    return panel.locator("img").evaluate_all("els => els.filter(e => e.naturalWidth > 0).map(e => e.src)")


def test_header_logo(page, artifacts):
    logo = page.locator("#header img")
    logo.wait_for()
    assert logo.evaluate("e => e.complete && e.naturalWidth") > 0
    page.screenshot(path=str(artifacts / "app.png"), full_page=True)


def test_every_tab(page, artifacts):
    from playwright.sync_api import expect

    tabs = page.get_by_role("tab")
    names = [tabs.nth(i).inner_text().strip() for i in range(tabs.count())]
    assert "Models" in names, names
    generated = []
    for i, name in enumerate(names):
        tab = tabs.nth(i)
        assert tab.is_visible(), f"tab {name!r} is hidden (overflow menu?)"
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")
        panel = page.locator(f"#{tab.get_attribute('aria-controls')}")
        expect(panel).to_be_visible()
        slug = _slug(name)
        for dice in panel.locator("button[id$='-dice']").all():  # common.seed_input: 🎲 draws a new seed
            if dice.is_visible():
                box = panel.locator(f"#{dice.get_attribute('id')[:-len('-dice')]} input")
                old = box.input_value()
                dice.click()
                expect(box).not_to_have_value(old)
        buttons = [b for b in panel.locator("button[id]").all() if b.is_visible() and GENERATE.match(b.inner_text())]
        if buttons and list_models():  # generating needs at least one registered model
            before = set(_image_srcs(panel))
            buttons[0].click()
            page.wait_for_function(
                "([id, before]) => Array.from(document.getElementById(id).querySelectorAll('img'))"
                ".some(e => e.naturalWidth > 0 && !before.includes(e.src))",
                arg=[panel.get_attribute("id"), sorted(before)], timeout=180_000)
            assert page.get_by_test_id("toast-body").count() == 0, f"{name}: an error toast appeared"
            generated.append(name)
        page.screenshot(path=str(artifacts / f"tab-{i:02d}-{slug}.png"), full_page=True)
    (artifacts / "browser-tabs.txt").write_text(
        "tabs: " + ", ".join(names) + "\nimages generated in: " + (", ".join(generated) or "none") + "\n")
    assert not page.errors, page.errors


def test_models_tab_shows_cards(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Models").click()
    expect(page.locator("#models-table")).to_contain_text("classifier-mnist", timeout=30_000)
    page.locator("#models-pick input").click()
    page.get_by_role("option", name="classifier-mnist").click()
    expect(page.locator("#models-card")).to_contain_text("test_accuracy", timeout=30_000)
    expect(page.locator("#models-card")).to_contain_text("469,103")


def test_sample_refine_keep_and_candidates_sliders(page):
    """Sample tab: an unconditional GAN shows the refinement, keep and best-of-N sliders; 5 steps, keep 0.5 and
    the best of 2 make a grid whose info line says all three."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Sample").click()
    page.locator("#sample-model input").click()
    page.get_by_role("option", name="dcgan-mnist").click()
    steps = page.locator("#sample-refine input[type='number']")
    expect(steps).to_be_visible(timeout=30_000)
    keep = page.locator("#sample-keep input[type='number']")
    expect(keep).to_be_visible()
    card = list_models()["dcgan-mnist"]
    # the card's recommended start (metadata); once it shows, the model change has set every slider, so what is
    # typed next is not reset by a late update (seen in a busy full suite)
    expect(keep).to_have_value(f"{card['sampling']['keep']:g}")
    steps.fill("5")
    steps.press("Enter")
    keep.fill("0.5")
    keep.press("Enter")
    best = page.locator("#sample-candidates input[type='number']")
    expect(best).to_be_visible()
    best.fill("2")
    best.press("Enter")
    page.locator("#sample-btn").click()
    expect(page.locator("#sample-info")).to_contain_text("refined 5 steps", timeout=120_000)
    expect(page.locator("#sample-info")).to_contain_text("kept the 50 % least steep")
    expect(page.locator("#sample-info")).to_contain_text("each the best of 2 by the discriminator")
    if card["config"].get("prior_components"):
        expect(page.locator("#sample-info")).to_contain_text(
            f"latents from its fitted {card['config']['prior_components']}-Gaussian mixture")
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors


def test_interpolate_plays_the_gif_in_the_page(page):
    """Interpolate: the animated GIF is shown as an image (it plays), not only offered as a file."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Interpolate").click()
    page.locator("#int-btn").click()
    gif = page.locator("#int-gif img")
    expect(gif).to_have_attribute("src", re.compile(r"\.gif"), timeout=120_000)
    page.wait_for_function("() => document.querySelector('#int-gif img').naturalWidth > 0", timeout=30_000)
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors
    if "stylegan-mnist" in list_models():  # a StyleGAN is offered (and walks) the straight line in its style space
        page.locator("#int-model input").click()
        page.get_by_role("option", name="stylegan-mnist").click()
        expect(page.locator("#int-mode input[value='w']")).to_be_checked(timeout=30_000)
        page.locator("#int-btn").click()
        expect(page.locator("#int-info")).to_contain_text("frames, w, |w| from", timeout=120_000)
        assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors


def test_reconstruct_shows_typicality_only_once_scored(page, tmp_path):
    """Reconstruct: the percentile box stays hidden until an upload is scored (an empty number box reads "0")."""
    from playwright.sync_api import expect
    from PIL import Image, ImageDraw

    digit = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(digit).line([(60, 15), (60, 105)], fill=0, width=12)  # a dark "1" on white paper
    digit.save(tmp_path / "one.png")
    page.get_by_role("tab", name="Reconstruct").click()
    expect(page.locator("#rec-pct")).to_be_hidden()
    page.locator("#rec-upload input[type='file']").set_input_files(str(tmp_path / "one.png"))
    expect(page.locator("#rec-source input[value='Upload']")).to_be_checked(timeout=30_000)
    page.locator("#rec-btn").click()
    box = page.locator("#rec-pct input")
    expect(box).to_be_visible(timeout=120_000)
    assert 0 <= float(box.input_value()) <= 100
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors


def test_prompt_draws_the_described_digit(page, artifacts):
    """Sample → Prompt → image: the default prompt is understood and drawn by the conditional GAN."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Sample").click()
    page.get_by_text("Prompt → image").click()
    page.locator("#prompt-btn").click()
    expect(page.locator("#prompt-info")).to_contain_text("understood: digit 7, thickness +2, slant +2",
                                                         timeout=120_000)
    expect(page.locator("#prompt-grid img").first).to_be_visible(timeout=60_000)
    page.screenshot(path=str(artifacts / "prompt.png"), full_page=True)
