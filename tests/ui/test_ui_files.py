"""UI files only wire components to the core: each imggen/ui/*.py stays at most 350 lines (issue 26)."""
from pathlib import Path

MAX_LINES = 350
UI = Path(__file__).resolve().parents[2] / "imggen" / "ui"


def test_every_ui_file_is_at_most_350_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in sorted(UI.glob("*.py"))}
    assert len(sizes) > 5  # the folder was found
    long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not long, f"UI files over {MAX_LINES} lines (move logic that is not gradio wiring to the core): {long}"
