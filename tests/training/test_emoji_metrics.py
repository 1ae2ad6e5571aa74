"""The emoji feature network and the colour metrics (imggen.metrics.emoji_metrics)."""
import os

import pytest
import torch
import torch.nn.functional as F

from imggen import checkpoint, metrics
from imggen.data import load_data
from imggen.models.emojinet import EmojiNet, EmojiNetConfig, predict


@pytest.fixture(scope="module")
def heldout():
    return load_data("emoji32", split="test")


def test_shipped_net_is_small_and_describes_itself():
    path = metrics.EMOJINET_PATH
    assert path.exists() and os.path.getsize(path) < 5e6
    assert path.with_suffix(".md").exists()
    meta = checkpoint.read_metadata(path)
    assert meta["family"] == "emojinet" and meta["recipe"]["data"] == "emoji32"
    assert EmojiNetConfig(**meta["config"]).num_categories == 10
    assert {"test_accuracy", "balanced_accuracy", "subcategory_accuracy", "test_set"} <= set(meta["metrics"])
    assert meta["metrics"]["test_accuracy"] > 0.75 and meta["metrics"]["subcategory_accuracy"] > 0.4


def test_stored_accuracy_is_what_the_net_reads_on_held_out_emoji(heldout):
    meta = checkpoint.read_metadata(metrics.EMOJINET_PATH)
    cat, sub = predict(metrics.emoji_net(), heldout.images)
    assert (cat == heldout.labels).float().mean().item() == pytest.approx(meta["metrics"]["test_accuracy"], abs=2e-3)
    assert (sub == heldout.extras["subcategory"]).float().mean().item() == pytest.approx(
        meta["metrics"]["subcategory_accuracy"], abs=2e-3)
    # the same emoji at 64 px (area-resized inside the net) read the same way
    cat64, _ = predict(metrics.emoji_net(), load_data("emoji64", split="test").images)
    assert (cat64 == cat).float().mean() > 0.97


def test_real_against_itself(heldout):
    m = metrics.emoji_metrics(heldout.images, heldout.images, heldout.labels, swd=False)
    assert abs(m["fd"]) < 1e-3 and m["precision"] == 1.0 and m["recall"] == 1.0
    assert m["category_accuracy"] == pytest.approx(checkpoint.read_metadata(metrics.EMOJINET_PATH)
                                                   ["metrics"]["test_accuracy"], abs=2e-3)
    assert sum(m["category_histogram"]) == len(heldout) and "swd" not in m


@pytest.mark.slow  # ~10-20 s: features of 4 x 752 images
def test_blur_and_grey_score_worse_than_other_real_emoji(heldout):
    """FD orders what it should: other real emoji < the same blurred < the same in grey; category reading falls."""
    train = load_data("emoji32", split="train")
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:len(heldout)]
    x, y = train.images[idx], train.labels[idx]
    k = torch.tensor([1.0, 4, 6, 4, 1])
    k = (k[:, None] * k[None] / 256).expand(3, 1, 5, 5)
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=3)
    grey = (x * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    real = metrics.emoji_metrics(x, heldout.images, y, swd=False)
    blur = metrics.emoji_metrics(blurred, heldout.images, y, swd=False)
    gray = metrics.emoji_metrics(grey, heldout.images, y, swd=False)
    assert real["fd"] * 3 < blur["fd"] and real["fd"] * 3 < gray["fd"]  # block features see blur (5x floor)
    assert real["category_accuracy"] > max(blur["category_accuracy"], gray["category_accuracy"])
    assert real["recall"] > blur["recall"]


def test_floors_and_swd_on_a_few_images(heldout):
    a, b = heldout.images[:40], heldout.images[40:80]
    noise = torch.rand(40, 3, 32, 32) * 2 - 1
    m = metrics.emoji_metrics(noise, a, reference=b)
    assert m["fd_floor"] < m["fd"] and m["fd_ratio"] == pytest.approx(m["fd"] / m["fd_floor"])
    assert m["swd_floor"] < m["swd"]
    up = F.interpolate(b, size=(64, 64), mode="nearest")  # 64-px samples vs 32-px real: compared at 32 px
    same = metrics._same_grid(up, a[:, :1])
    assert torch.equal(same[0], b) and same[1].shape == (40, 3, 32, 32)  # grey real repeated to RGB


def test_bad_inputs_say_what_is_wrong(heldout):
    x = heldout.images[:10]
    with pytest.raises(ValueError, match="one category per sample"):
        metrics.emoji_metrics(x, x, torch.zeros(3, dtype=torch.long), swd=False)
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, H\)"):
        metrics.emoji_metrics(x[:, :2], x, swd=False)
    with pytest.raises(ValueError, match="at least 5 images"):
        metrics.emoji_metrics(x[:2], x, swd=False)
    with pytest.raises(ValueError, match="EmojiNet takes"):
        EmojiNet().features(torch.zeros(2, 4, 32, 32))
