"""The upload pipeline on phone photos of handwritten digits (``imggen.preprocess.prepare_digit``), before and after.

The photo corpus is ``tests/photo_corpus.py``: MNIST test digits (held out, never trained on) drawn as pen strokes on
synthetic paper under one condition each (ruled/squared paper, shadow, perspective, blur, heavy JPEG, specks, the
paper's edge, EXIF rotation, a 12 MP JPEG, HEIC, a mix of three). Each photo goes through the pipeline as it was
before the photo work (``imggen/preprocess.py`` at commit BEFORE, loaded from git) and as it is now; the shipped
classifier (``classifier-mnist``) reads both outputs. Reported: accuracy per condition side by side, the time to read
a 50 MP JPEG and a 12 MP HEIC, and a gallery of the failures (photo | what the model sees | label/read).

    python -m imggen bench uploads --per-condition 40
Writes bench/results/uploads.{json,md} and bench/results/uploads-failures.png.
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]

from bench.common import RESULTS, machine, save
from imggen import preprocess
from imggen.metrics import classify
from tests import photo_corpus

BEFORE = "0c7e86820a91225c717ee2d6f0e853ed32c649cb"  # the last commit of imggen/preprocess.py before the photo work


def old_pipeline():
    """prepare_digit as it was at BEFORE, as a function (it runs under its own PIL pixel limit)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:imggen/preprocess.py"], check=True,
                         capture_output=True, text=True).stdout
    mod = types.ModuleType("preprocess_before")
    limit = Image.MAX_IMAGE_PIXELS
    exec(compile(src, "preprocess_before.py", "exec"), mod.__dict__)
    Image.MAX_IMAGE_PIXELS, old_limit = limit, mod.MAX_PIXELS

    def run(raw):
        if isinstance(raw, bytes) and raw[4:8] == b"ftyp":  # the old code had no HEIC reader (PIL alone: "Not an
            # image"); this process has pillow-heif registered (the corpus encodes HEIC), so say what it said
            raise mod.ImageInputError("Not an image file (or an unsupported format).")
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, old_limit
        try:
            return mod.prepare_digit(raw)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    return run, mod.ImageInputError


def read_all(fn, errors, photos) -> tuple[torch.Tensor, list[str | None], float]:
    """(outputs (N, 1, 28, 28), error message or None per photo, mean ms per photo)."""
    outs, errs = [], []
    t = time.perf_counter()
    for raw in photos:
        try:
            outs.append(fn(raw))
            errs.append(None)
        except errors as e:
            outs.append(torch.full((1, 28, 28), -1.0))
            errs.append(str(e))
    return torch.stack(outs), errs, 1000 * (time.perf_counter() - t) / max(len(photos), 1)


def timings(old_fn, old_err, repeats: int = 3) -> dict:
    """Seconds to read (prepare_digit) a 50 MP phone JPEG (smooth, and with sensor grain) and a 12 MP HEIC, best of
    ``repeats``; what the old pipeline did with each."""
    from imggen.data import load_data

    d = load_data("mnist5k", split="test")
    scene = Image.open(io.BytesIO(photo_corpus.photo(d.images[0], "clean", 0))).convert("RGB")
    out = {}
    rng = np.random.default_rng(0)
    for name, size, fmt, noise in (("jpeg_50mp", (8192, 6144), "JPEG", 0), ("jpeg_50mp_sensor_noise", (8192, 6144),
                                                                             "JPEG", 6), ("heic_12mp", (4032, 3024), "HEIF", 0)):
        buf = io.BytesIO()
        if fmt == "HEIF":
            preprocess._heif_class()
        big = scene.resize(size, Image.Resampling.BILINEAR)
        if noise:  # a real phone photo's grain: ~10x the bytes of the smooth upsampled scene, and the Huffman
            # decoding (which a draft cannot skip) grows with the bytes
            a = np.asarray(big, dtype=np.int16) + rng.integers(-noise, noise + 1, (size[1], size[0], 1), dtype=np.int16)
            big = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        big.save(buf, fmt, quality=92 if noise else 85)
        raw = buf.getvalue()
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            preprocess.prepare_digit(raw)
            best = min(best, time.perf_counter() - t)
        try:
            t = time.perf_counter()
            old_fn(raw)
            before = f"{time.perf_counter() - t:.3f} s"
        except old_err as e:
            before = f"refused: {e}"
        out[name] = {"size": f"{size[0]}x{size[1]}", "megabytes": round(len(raw) / 1e6, 2), "seconds": round(best, 3),
                     "before": before}
        print(f"{name}: {out[name]}", flush=True)
    return out


def gallery(path: Path, rows: list[tuple[bytes, torch.Tensor, str]], cols: int = 6) -> None:
    """Failures as tiles: the photo (upright, shrunk) beside what the model sees, captioned."""
    tile = 132
    n = max(len(rows), 1)
    sheet = Image.new("RGB", (cols * 2 * tile, -(-n // cols) * (tile + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (raw, x, caption) in enumerate(rows):
        r, c = divmod(k, cols)
        try:
            ph = preprocess.open_image(raw, draft=tile).convert("RGB")
            ph.thumbnail((tile, tile))
        except preprocess.ImageInputError:
            ph = Image.new("RGB", (tile, tile), "gray")
        seen = Image.fromarray(((x[0].numpy() + 1) * 127.5).astype(np.uint8)).resize((tile, tile), Image.NEAREST)
        sheet.paste(ph, (c * 2 * tile, r * (tile + 14)))
        sheet.paste(seen.convert("RGB"), (c * 2 * tile + tile, r * (tile + 14)))
        draw.text((c * 2 * tile + 2, r * (tile + 14) + tile), caption, fill="black")
    sheet.save(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-condition", type=int, default=40, help="photos per condition")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "uploads"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t = time.perf_counter()
    items = list(photo_corpus.corpus(a.per_condition, seed=a.seed))
    print(f"corpus: {len(items)} photos in {time.perf_counter() - t:.0f} s", flush=True)
    conds = [c for c, *_ in items]
    labels = torch.tensor([lab for _, _, lab, _ in items])
    photos = [raw for *_, raw in items]
    old_fn, old_err = old_pipeline()
    before, before_err, before_ms = read_all(old_fn, (old_err,), photos)
    after, after_err, after_ms = read_all(preprocess.prepare_digit, (preprocess.ImageInputError,), photos)
    read_b, read_a = classify(before)[1].argmax(1), classify(after)[1].argmax(1)
    from imggen.data import load_data

    originals = load_data("mnist5k", split="test").images[[i for _, i, _, _ in items]]
    ok_o = classify(originals)[1].argmax(1) == labels  # the ceiling: the digits themselves, 28x28 as MNIST has them
    ok_b = (read_b == labels) & torch.tensor([e is None for e in before_err])
    ok_a = (read_a == labels) & torch.tensor([e is None for e in after_err])
    rows = []
    for cond in photo_corpus.CONDITIONS + ("all",):
        sel = torch.tensor([cond in ("all", c) for c in conds])
        rows.append({"condition": cond, "photos": int(sel.sum()), "originals": ok_o[sel].float().mean().item(),
                     "before": ok_b[sel].float().mean().item(),
                     "after": ok_a[sel].float().mean().item(),
                     "errors_before": sum(e is not None for e, s in zip(before_err, sel) if s),
                     "errors_after": sum(e is not None for e, s in zip(after_err, sel) if s)})
        print(f"{cond:12s} before {100 * rows[-1]['before']:5.1f}%  after {100 * rows[-1]['after']:5.1f}%", flush=True)
    fails = [k for k in range(len(items)) if not ok_a[k]]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    gallery(out.with_name(out.name + "-failures.png"),
            [(photos[k], after[k], f"{conds[k]} #{items[k][1]}: {labels[k].item()} read "
              + (str(read_a[k].item()) if after_err[k] is None else "error")) for k in fails[:60]])
    res = {"args": " ".join(argv if argv is not None else sys.argv[1:]), "per_condition": a.per_condition,
           "seed": a.seed, "before_commit": BEFORE, "threads": a.threads, "machine": machine(), "rows": rows,
           "ms_per_photo": {"before": before_ms, "after": after_ms}, "timings": timings(old_fn, old_err),
           "failures": [{"condition": conds[k], "index": items[k][1], "label": labels[k].item(),
                         "read": read_a[k].item(), "error": after_err[k], "original_read_right": bool(ok_o[k])}
                        for k in fails]}
    save(out, res, markdown)


def markdown(res: dict) -> str:
    tm = res["timings"]
    lines = [f"# Phone photos of digits → MNIST inputs (`python -m imggen bench uploads {res['args']}`)", "",
             f"{res['per_condition']} photos per condition from `tests/photo_corpus.py` (MNIST test digits as pen "
             "strokes on synthetic paper, seed "
             f"{res['seed']}); accuracy = the shipped classifier reads the right digit from `prepare_digit`'s output "
             f"(an error counts as wrong). Before = `imggen/preprocess.py` at {res['before_commit'][:7]}; after = now; "
             "originals = the classifier on the same MNIST digits as they are (28x28): the ceiling. "
             f"{res['threads']} thread(s), {res['machine']}.", "",
             "| condition | photos | originals | before | after | errors before | errors after |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        b = "**" if r["condition"] == "all" else ""
        lines.append(f"| {b}{r['condition']}{b} | {r['photos']} | {100 * r['originals']:.1f}% | {100 * r['before']:.1f}%"
                     f" | {b}{100 * r['after']:.1f}%{b} | {r['errors_before']} | {r['errors_after']} |")
    lines += ["", f"Mean time per photo (≈600 px JPEGs, 12 MP JPEGs and HEICs included): before "
              f"{res['ms_per_photo']['before']:.0f} ms, after {res['ms_per_photo']['after']:.0f} ms.", "",
              "| file | size | MB | read + prepare (best of 3) | before |", "|---|---|---:|---:|---|"]
    for name, t in tm.items():
        lines.append(f"| {name} | {t['size']} | {t['megabytes']} | {t['seconds']:.3f} s | {t['before']} |")
    lines += ["", f"Failures after ({len(res['failures'])}): `uploads-failures.png` (photo | what the model sees | "
              "label, read). The HEIC row's before: the old code had no HEIC reader (it answered \"Not an image\")."]
    for f in res["failures"][:40]:
        lines.append(f"- {f['condition']} #{f['index']}: label {f['label']}, read "
                     f"{f['read'] if f['error'] is None else 'error: ' + f['error']}"
                     + ("" if f["original_read_right"] else " (the original 28x28 digit is misread too)"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
