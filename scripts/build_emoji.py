"""Build data/emoji/ (the built-in emoji32 / emoji64 data) from the npm packages emoji-datasource-google (Noto Emoji
images, Apache-2.0) and emoji-datasource-twitter (Twemoji images, CC-BY 4.0): each emoji and skin-tone variant in
both styles, composited onto white at 64 px (emoji32 is its 2x2 area mean), with captions, category labels and a train / held-out split by
emoji (its two styles and skin tones stay together).

    python scripts/build_emoji.py            # npm pack both packages in a temp dir, write data/emoji/
    python scripts/build_emoji.py --packages DIR  # DIR/<package>/package/... already unpacked (no npm)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
VERSION = "16.0.0"
PACKAGES = {"noto": ("emoji-datasource-google", "google"), "twemoji": ("emoji-datasource-twitter", "twitter")}
SKIN_TONES = {"1F3FB": "light", "1F3FC": "medium-light", "1F3FD": "medium", "1F3FE": "medium-dark", "1F3FF": "dark"}
HELDOUT_FRACTION = 0.1
IMAGE_LICENCES = {  # what each package's README states for its image set (the packages' own code/data is MIT)
    "noto": ("Noto Emoji", "Google", "Apache License 2.0", "https://github.com/googlefonts/noto-emoji"),
    "twemoji": ("Twemoji", "Twitter, Inc and other contributors (jdecked/twemoji fork)",
                "Creative Commons Attribution 4.0 International (CC-BY 4.0)", "https://github.com/jdecked/twemoji"),
}


def skin_tone_words(key: str) -> str:
    """'1F3FB' -> 'light'; '1F3FB-1F3FF' (two people) -> 'light and dark'."""
    return " and ".join(SKIN_TONES[k] for k in key.upper().split("-"))


def caption(name: str, category: str, subcategory: str, style: str, tone: str = "") -> str:
    """'grinning face, smileys & emotion, face-smiling, noto' (+ ', medium skin tone' where there is one)."""
    parts = [name.lower(), category.lower(), subcategory.lower(), style]
    if tone:
        parts.append(f"{tone} skin tone")
    return ", ".join(parts)


def parse_package(pkg: Path, style: str) -> list[dict]:
    """One record per image of an unpacked package folder (the one holding emoji.json and img/<set>/64/): the
    emoji, its skin-tone variants, each with its PNG path; emoji the package has no image for are left out."""
    img_set = PACKAGES[style][1]
    folder = pkg / "img" / img_set / "64"
    records = []
    for e in json.loads((pkg / "emoji.json").read_text()):
        variants = [("", e)] + sorted((e.get("skin_variations") or {}).items())
        for key, v in variants:
            path = folder / v["image"]
            if not v.get(f"has_img_{img_set}", True) or not path.exists():
                continue
            tone = skin_tone_words(key) if key else ""
            records.append(dict(emoji=e["unified"], unified=v["unified"], name=e["name"].lower(),
                                short_names=" ".join(e.get("short_names") or [e.get("short_name", "")]),
                                category=e["category"], subcategory=e["subcategory"], sort_order=e["sort_order"],
                                style=style, skin_tone=tone, path=path,
                                caption=caption(e["name"], e["category"], e["subcategory"], style, tone)))
    return records


def render(path: Path) -> np.ndarray:
    """A PNG composited onto white -> (64, 64, 3) uint8."""
    with Image.open(path) as im:
        im = im.convert("RGBA")
        if im.size != (64, 64):
            im = im.resize((64, 64), Image.LANCZOS)
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, im).convert("RGB"))


def split_by_emoji(emoji: list[str], categories: list[str], seed: int = 0) -> np.ndarray:
    """1 = held out, 0 = train, per image; whole emoji (all styles and tones) held out, ~HELDOUT_FRACTION of the
    emoji of each category (at least one where a category has two or more), chosen by a seeded permutation."""
    rng = np.random.default_rng(seed)
    cat_of = dict(zip(emoji, categories))
    held = set()
    for cat in sorted(set(categories)):
        members = sorted(e for e in cat_of if cat_of[e] == cat)
        k = int(round(len(members) * HELDOUT_FRACTION)) or (1 if len(members) > 1 else 0)
        held.update(members[i] for i in rng.permutation(len(members))[:k])
    return np.array([e in held for e in emoji], dtype=np.uint8)


def build_arrays(records: list[dict], seed: int = 0) -> dict[str, np.ndarray]:
    """Render every record and gather the arrays saved in each emojiNN.npz (images are added per size)."""
    records = sorted(records, key=lambda r: (r["sort_order"], r["unified"], r["style"]))
    categories = sorted({r["category"] for r in records})
    subcategories = sorted({r["subcategory"] for r in records})
    emoji_ids = sorted({r["emoji"] for r in records})
    styles = sorted(PACKAGES)
    x64 = np.stack([render(r["path"]) for r in records])
    col = lambda key: [r[key] for r in records]  # noqa: E731
    return {
        "images64": x64,
        "category": np.array([categories.index(c) for c in col("category")], dtype=np.int16),
        "subcategory": np.array([subcategories.index(c) for c in col("subcategory")], dtype=np.int16),
        "style": np.array([styles.index(s) for s in col("style")], dtype=np.uint8),
        "emoji": np.array([emoji_ids.index(e) for e in col("emoji")], dtype=np.int32),
        "split": split_by_emoji(col("emoji"), col("category"), seed),
        "caption": np.array(col("caption")),
        "name": np.array(col("name")),
        "unified": np.array(col("unified")),
        "skin_tone": np.array(col("skin_tone")),
        "short_names": np.array(col("short_names")),
        "categories": np.array(categories),
        "subcategories": np.array(subcategories),
        "styles": np.array(styles),
    }


def npm_pack(workdir: Path) -> Path:
    """npm pack both packages into ``workdir`` and unpack emoji.json, README, LICENSE and the 64-px PNGs."""
    for style, (package, img_set) in PACKAGES.items():
        subprocess.run(["npm", "pack", f"{package}@{VERSION}", "--silent"], cwd=workdir, check=True,
                       stdout=subprocess.DEVNULL)
        dest = workdir / package
        with tarfile.open(workdir / f"{package}-{VERSION}.tgz") as tf:
            keep = [m for m in tf.getmembers() if m.isfile() and (m.name.count("/") == 1 or
                                                                   m.name.startswith(f"package/img/{img_set}/64/"))]
            tf.extractall(dest, members=keep, filter="data")
    return workdir


def write_attribution(out: Path, pkgs: Path) -> None:
    """LICENSE-IMAGES.md next to the data: where each image set comes from and under which licence."""
    lines = ["# Emoji images: sources and licences", "",
             f"data/emoji/ is derived (composited onto white, resized to 64 and 32 px) from the npm packages "
             f"emoji-datasource-google and emoji-datasource-twitter {VERSION} (iamcal/emoji-data, MIT for the "
             "package and its emoji.json), built by scripts/build_emoji.py. The images keep their own licences:", ""]
    for style, (title, owner, licence, url) in IMAGE_LICENCES.items():
        package = PACKAGES[style][0]
        readme = (pkgs / package / "package" / "README.md")
        stated = [ln.strip("* ").strip() for ln in readme.read_text().splitlines()
                  if ln.startswith("*") and PACKAGES[style][1][:4].lower() in ln.lower()] if readme.exists() else []
        lines += [f"## {title} (style \"{style}\", from {package})", "",
                  f"- Images: {title}, © {owner}, {url}", f"- Licence: {licence}",
                  *(f"- The package README states: {s}" for s in stated[:1]), ""]
    lines += ["Twemoji graphics are CC-BY 4.0: reuse of data/emoji/ or of images made from it must credit "
              "\"Twemoji by Twitter, Inc and other contributors, CC-BY 4.0\". Noto Emoji is Apache-2.0: keep this "
              "notice with the data.", ""]
    (out / "LICENSE-IMAGES.md").write_text("\n".join(lines))


def save(arrays: dict[str, np.ndarray], out: Path) -> dict[str, int]:
    """Write emoji64.npz (compressed; strings as fixed-width unicode, no pickles) -> file sizes. emoji32 is made
    from it when loaded (imggen.data, 2x2 area mean): a second file would take the data past 25 MB."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "emoji64.npz"
    np.savez_compressed(path, images=arrays["images64"], **{k: v for k, v in arrays.items() if k != "images64"})
    return {path.name: path.stat().st_size}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packages", type=Path, help="a folder already holding the unpacked packages (skips npm)")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "emoji")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        pkgs = a.packages or npm_pack(Path(tmp))
        t_fetch = time.time() - t0
        records = [r for style, (package, _) in PACKAGES.items()
                   for r in parse_package(pkgs / package / "package", style)]
        arrays = build_arrays(records, a.seed)
        sizes = save(arrays, a.out)
        write_attribution(a.out, pkgs)
    held = int(arrays["split"].sum())
    stats = {"version": VERSION, "images": len(records), "heldout_images": held, "train_images": len(records) - held,
             "emoji": int(arrays["emoji"].max() + 1), "seed": a.seed, "fetch_seconds": round(t_fetch, 1),
             "build_seconds": round(time.time() - t0, 1), "files": sizes}
    (a.out / "build.json").write_text(json.dumps(stats, indent=1) + "\n")
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
