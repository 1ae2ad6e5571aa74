"""The example uploads shipped under assets/examples/ (made by scripts/make_examples.py), offered as one-click
``gr.Examples`` under the tabs' upload inputs."""
from __future__ import annotations

from pathlib import Path

DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
LABELS = {  # file -> what the examples table shows
    "photo-3-ruled.jpg": "photo: 3 on ruled paper",
    "photo-7-shadow.jpg": "photo: 7 in a shadow",
    "photo-4-perspective.jpg": "photo: 4, taken at an angle",
    "photo-5-squared.jpg": "photo: 5 on squared paper",
    "scan-8.png": "scan: 8",
    "drawing-2.png": "drawing: 2",
}
UPLOADS = tuple(LABELS)  # every example, for a single upload input
PAIRS = (("photo-3-ruled.jpg", "scan-8.png"), ("drawing-2.png", "photo-7-shadow.jpg"),
         ("photo-4-perspective.jpg", "photo-5-squared.jpg"))  # Interpolate's endpoint pairs

COLOUR = {"emoji/grinning-face.png": "emoji: 😀 grinning face",  # colour uploads (assets/examples/emoji/, Noto)
          "emoji/pouting-face.png": "emoji: 😡 pouting face"}
COLOUR_PAIRS = (("emoji/grinning-face.png", "emoji/pouting-face.png"),)
COLOUR_MODEL = "vae-emoji32"  # the shipped colour VAE the colour examples run with (offered when it is there)


def path(name: str) -> str:
    """Absolute path of a shipped example file."""
    return str(DIR / name)


def digit(name: str) -> int:
    """The digit an example shows (the second word of its name: ``photo-3-ruled.jpg`` -> 3)."""
    return int(name.split("-")[1].split(".")[0])


# gr.Examples settings shared by the tabs: not cached (each tab's result depends on the visitor's model pick; the
# click runs the tab's function through the event chained on ``load_input_event``), no API endpoint of their own
KW = dict(cache_examples=False, api_visibility="private", examples_per_page=len(LABELS))


def labels(names) -> list[str]:
    """What the examples table shows for ``names`` (a gr.File input lists files by name otherwise)."""
    return [LABELS.get(n) or COLOUR[n] for n in names]
