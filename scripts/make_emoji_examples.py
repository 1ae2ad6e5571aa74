"""Write assets/examples/emoji/: the colour example uploads (😀 grinning face, 😡 pouting face; Noto Emoji, 64 px on
white, as data/emoji/ holds them), which the Interpolate and Reconstruct tabs offer with the shipped colour VAE.

    .venv/bin/python scripts/make_emoji_examples.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "examples" / "emoji"
sys.path.insert(0, str(ROOT))

FACES = {"grinning-face.png": "grinning face", "pouting-face.png": "pouting face"}  # file -> emoji name (Noto)


def main() -> None:
    from imggen.data import emoji_arrays

    a = emoji_arrays()
    noto = list(a["styles"]).index("noto")
    OUT.mkdir(parents=True, exist_ok=True)
    for file, name in FACES.items():
        i = np.flatnonzero((a["name"] == name) & (a["style"] == noto))[0]
        Image.fromarray(a["images"][i]).save(OUT / file, optimize=True)
        print(OUT / file, (OUT / file).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
