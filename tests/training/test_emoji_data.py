"""The built-in colour data (emoji32 / emoji64): offline, RGB on white, split by emoji, captions and labels that line
up with the images, seeded limits."""
import re
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imggen import data as data_mod
from imggen.data import emoji_arrays, load_data

ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"red": 0, "green": 1, "blue": 2}


class _Splits(dict):
    def __missing__(self, key):
        self[key] = load_data(key[0], split=key[1])
        return self[key]


@pytest.fixture(scope="module")
def splits():
    """(name, split) -> ImageData, loaded once when first asked for (emoji64's train split is 335 MB as floats)."""
    return _Splits()


def test_loads_offline(monkeypatch):
    """No network: every socket connection fails, and the data still loads from data/emoji/ in the repo."""
    def refuse(*a, **k):
        raise OSError("network disabled in this test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    emoji_arrays.cache_clear()
    try:
        d = load_data("emoji32", split="test", limit=5)
    finally:
        emoji_arrays.cache_clear()
    assert len(d) == 5 and data_mod.EMOJI_PATH.is_relative_to(ROOT / "data" / "emoji")
    assert (ROOT / "data" / "emoji" / "LICENSE-IMAGES.md").exists()


@pytest.mark.parametrize("name,size", [("emoji32", 32), ("emoji64", 64)])
def test_sizes_rgb_on_white(splits, name, size):
    train, test = (splits[(name, "train")] if size == 32 else load_data(name, limit=2000)), splits[(name, "test")]
    assert train.images.shape == (6820 if size == 32 else 2000, 3, size, size)
    assert test.images.shape == (752, 3, size, size)
    assert train.images.dtype == torch.float32 and train.labels.dtype == torch.int64
    assert train.images.min() >= -1 and train.images.max() <= 1
    corners = train.images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners > 0.95).float().mean() > 0.9  # composited onto white
    # colour, not grey repeated three times
    assert (train.images[:, 0] - train.images[:, 2]).abs().mean() > 0.02
    assert train.classes == test.classes and len(train.classes) == 10 and "Flags" in train.classes


def test_emoji32_is_the_area_mean_of_emoji64(splits):
    x32, x64 = splits[("emoji32", "test")].images, splits[("emoji64", "test")].images
    assert (x32 - F.avg_pool2d(x64, 2)).abs().max() <= 1 / 127.5 + 1e-5  # rounded to the uint8 grid


def test_split_disjoint_by_emoji(splits):
    tr, te = splits[("emoji32", "train")], splits[("emoji32", "test")]
    train_ids, test_ids = set(tr.extras["emoji"].tolist()), set(te.extras["emoji"].tolist())
    assert train_ids and test_ids and not train_ids & test_ids
    a = emoji_arrays()
    assert len(train_ids | test_ids) == a["emoji"].max() + 1
    # every style and skin tone of an emoji on its side: each held-out emoji has all of its images held out
    for e in test_ids:
        assert (a["split"][a["emoji"] == e] == 1).all()
    by_emoji = {}
    for e, s in zip(te.extras["emoji"].tolist(), te.extras["style"].tolist()):
        by_emoji.setdefault(e, set()).add(s)
    assert sum(len(s) == 2 for s in by_emoji.values()) / len(by_emoji) > 0.9  # both styles, held out together
    assert set(te.labels.tolist()) == set(tr.labels.tolist()) == set(range(10))  # every category on both sides
    names = lambda d: {re.sub(r", (noto|twemoji)(, .*)?$", "", c) for c in d.captions}  # noqa: E731
    assert not names(tr) & names(te)


def test_captions_and_labels_line_up(splits):
    for d in (splits[("emoji32", "train")], splits[("emoji64", "test")]):
        subs, styles = d.extras["subcategories"], d.extras["styles"]
        assert len(d.captions) == len(d) == len(d.labels) == len(d.extras["subcategory"]) == len(d.extras["style"])
        for i in range(0, len(d), 97):
            parts = d.captions[i].split(", ")
            assert d.classes[d.labels[i]].lower() in d.captions[i]
            tail = parts[-3:-1] if parts[-1].endswith("skin tone") else parts[-2:]
            assert tail == [subs[d.extras["subcategory"][i]], styles[d.extras["style"][i]]]


def _centre_colour(d, pattern):
    """{caption: dominant channel at the centre} for every image whose caption matches."""
    out = {}
    for i, c in enumerate(d.captions):
        m = re.match(pattern, c)
        if m:
            h = d.images.shape[-1] // 2
            centre = d.images[i, :, h - h // 8:h + h // 8, h - h // 8:h + h // 8].mean((1, 2))
            out[c] = (m.group(1), int(centre.argmax()))
    return out


def test_images_show_what_their_captions_say(splits):
    """Red/green/blue circles, squares and hearts are that colour in both styles and both splits; a dark skin tone
    is darker than the light one of the same emoji."""
    seen = {}
    for split in ("train", "test"):
        seen.update(_centre_colour(splits[("emoji32" if split == "train" else "emoji64", split)], r"^(?:large )?(red|green|blue) (?:circle|square|heart),"))
    assert len(seen) >= 8
    assert all(ch == COLOURS[colour] for colour, ch in seen.values()), seen
    d = splits[("emoji32", "train")]
    lum = {c: d.images[i].mean().item() for i, c in enumerate(d.captions) if c.startswith("waving hand sign,")}
    for style in ("noto", "twemoji"):
        light = lum[f"waving hand sign, people & body, hand-fingers-open, {style}, light skin tone"]
        dark = lum[f"waving hand sign, people & body, hand-fingers-open, {style}, dark skin tone"]
        assert dark < light - 0.05


def test_limit_is_a_seeded_sample(splits):
    a, b = load_data("emoji32", split="train", limit=300), load_data("emoji32", split="train", limit=300)
    assert len(a) == 300 and torch.equal(a.images, b.images) and a.captions == b.captions
    full = splits[("emoji32", "train")]
    pos = {c: i for i, c in enumerate(full.captions)}
    idx = [pos[c] for c in a.captions]
    assert idx == sorted(idx) and torch.equal(full.images[idx], a.images) and torch.equal(full.labels[idx], a.labels)
    assert idx != list(range(300))  # not the first 300 in emoji order (all smileys)
    assert len(set(a.labels.tolist())) >= 8


def test_bad_requests_say_what_is_wrong():
    with pytest.raises(ValueError, match="split"):
        load_data("emoji32", split="valid")
    with pytest.raises(ValueError, match="image_size"):
        load_data("emoji64", image_size=48)


def test_grey_and_resized_requests():
    d = load_data("emoji64", split="test", image_size=32, channels=1, limit=10)
    assert d.images.shape == (10, 1, 32, 32) and d.images.min() >= -1 and d.images.max() <= 1


def test_build_script_helpers():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_emoji
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert build_emoji.skin_tone_words("1F3FB-1F3FF") == "light and dark"
    assert build_emoji.caption("GRINNING FACE", "Smileys & Emotion", "face-smiling", "noto", "medium") == \
        "grinning face, smileys & emotion, face-smiling, noto, medium skin tone"
    emoji = ["a", "a", "b", "b", "c", "c", "d", "d"] * 3
    emoji = [e + str(i // 8) for i, e in enumerate(emoji)]
    cats = ["x"] * 12 + ["y"] * 12
    held = build_emoji.split_by_emoji(emoji, cats, seed=0)
    assert np.array_equal(held, build_emoji.split_by_emoji(emoji, cats, seed=0))
    for e in set(emoji):  # whole emoji on one side, at least one held out per category
        assert len({held[i] for i in range(len(emoji)) if emoji[i] == e}) == 1
    assert {cats[i] for i in np.flatnonzero(held)} == {"x", "y"}
