"""bench/emoji.py's pieces (the full run takes minutes: python -m imggen bench emoji)."""
import torch

from imggen import checkpoint, registry


def test_binomial_blur_keeps_flat_images_and_blurs_edges(load_bench):
    b = load_bench("emoji")
    flat = torch.full((2, 3, 32, 32), 0.3)
    assert torch.allclose(b.binomial_blur(flat), flat)
    x = -torch.ones(1, 3, 32, 32)
    x[..., :, 16:] = 1
    y = b.binomial_blur(x)
    assert y.shape == x.shape and -1 < y[0, 0, 5, 15] < 1 and torch.allclose(y.mean(), x.mean(), atol=1e-6)
    assert torch.equal(y[..., :, :13], x[..., :, :13])  # the kernel reaches 2 px


def test_only_colour_checkpoints_join_by_default(load_bench):
    for path in load_bench("emoji").colour_checkpoints():
        meta = checkpoint.read_metadata(path)
        assert meta["config"].get("channels") == 3 and meta["family"] != "emojinet"
    assert not any(p.name.endswith("-mnist.safetensors") for p in load_bench("emoji").colour_checkpoints())
    assert registry.CHECKPOINT_DIR.exists()


def test_markdown_lists_floors_references_and_rows(load_bench):
    b = load_bench("emoji")
    m = {"fd": 2.0, "precision": 0.7, "recall": 0.6, "swd": 30.0, "category_accuracy": 0.8, "fd_penultimate": 5.0}
    res = {"real_images": 752, "threads": 2, "machine": "x86_64", "seconds": 60,
           "emoji_net": {"path": "checkpoints/metrics/emojinet-emoji.safetensors", "feature_dim": 128,
                         "test_accuracy": 0.85, "balanced_accuracy": 0.7, "subcategory_accuracy": 0.6},
           "floor": {**m, "fd_spread": [1.9, 2.1]}, "floors": [{"seed": 0, **m}],
           "references": [{"reference": "blurred", **m, "fd": 70.0, "fd_ratio": 35.0, "fd_penultimate_ratio": 1.5}], "rows": []}
    text = b.markdown(res)
    assert "| blurred | 70 | **35.0×** |" in text and "| 5 (1.5×) |" in text and "No colour checkpoint" in text
    res["rows"] = [{"model": "cgan-emoji32", "family": "cgan", "augment": "color", "steps": 900, "train_seconds": 600,
                    **m, "fd": 40.0, "fd_ratio": 20.0, "ms_per_sample": 0.5},
                   {"model": "vae-emoji32", "family": "vae", "augment": "", "steps": None, "train_seconds": None,
                    **{k: v for k, v in m.items() if k != "category_accuracy"}, "fd_ratio": 1.0, "recon_psnr": 25.1,
                    "ms_per_sample": 0.2}]
    text = b.markdown(res)
    assert "| `cgan-emoji32` | cgan | color | 900 | 10 min | 40 | 20.0× | 0.700 | 0.600 | 80.0 % |" in text
    assert "| `vae-emoji32` | vae | none | ? | ? |" in text and "| 25.1 |" in text
