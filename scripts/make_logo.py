"""Draw assets/logo.png: a pixel-art '8' emerging from noise on an indigo tile (deterministic)."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

S = 256
BG = (79, 70, 229)  # indigo-600
DIGIT = ["01110", "10001", "10001", "01110", "10001", "10001", "01110"]  # 5x7 '8'


def main(out: Path = Path(__file__).resolve().parents[1] / "assets" / "logo.png") -> None:
    rng = np.random.default_rng(0)
    im = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle([0, 0, S - 1, S - 1], radius=48, fill=(*BG, 255))
    cell, cols, rows = 24, 9, 9
    x0 = y0 = (S - cols * cell) // 2
    for r in range(rows):
        for c in range(cols):
            on = 1 <= r <= 7 and 2 <= c <= 6 and DIGIT[r - 1][c - 2] == "1"
            # left columns are noise, fading into the clean digit on the right (a generator at work)
            noise = rng.random() * max(0.0, 1.0 - c / 4)
            v = 255 if on else int(255 * noise * 0.7)
            if on and c < 4:
                v = int(170 + 85 * rng.random())
            if v > 20:
                box = [x0 + c * cell + 2, y0 + r * cell + 2, x0 + (c + 1) * cell - 2, y0 + (r + 1) * cell - 2]
                a = v / 255  # blend white over the indigo tile (drawing RGBA replaces pixels, it does not blend)
                d.rounded_rectangle(box, radius=4, fill=(*(int(b + (255 - b) * a) for b in BG), 255))
    out.parent.mkdir(parents=True, exist_ok=True)
    im.save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
