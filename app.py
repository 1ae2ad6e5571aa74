"""imggen studio: build the Gradio app from imggen.ui and launch it (`make run`)."""
from pathlib import Path

import gradio as gr

from imggen.ui import build_app

ROOT = Path(__file__).resolve().parent
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="violet")
CSS = """
.imggen-header { display: flex; align-items: center; gap: 14px; }
.imggen-header h1 { margin: 0; font-size: 1.7em; }
.imggen-header p { margin: 2px 0 0 0; opacity: 0.8; }
"""


def launch_kwargs() -> dict:
    """Everything `launch()` needs besides host/port (tests launch with the same settings)."""
    return dict(theme=THEME, css=CSS, max_file_size="10mb", footer_links=["api", "gradio", "settings"],
                favicon_path=str(ROOT / "assets" / "logo.png"), show_error=False)


demo = build_app()

if __name__ == "__main__":
    demo.launch(**launch_kwargs())
