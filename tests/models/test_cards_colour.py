"""Cards of colour models (issue 27): the data names the tags, and a training script's card fields (about, limits,
the commands that rebuild and measure it) come before the family's digit-only prose; PSNR is listed."""
from __future__ import annotations

import yaml

from imggen import cards, checkpoint
from imggen.registry import build


def _card(tmp_path, card: dict, metrics: dict, data: str = "emoji32") -> str:
    net = build("vae", channels=3, image_size=32, latent_dim=4, hidden=8, fc_dim=16, decoder="gaussian")
    path = tmp_path / "vae-tiny.safetensors"
    checkpoint.save(net, path, family="vae", config=net.config.__dict__, metrics=metrics,
                    recipe={"data": data, "train_images": 10, "steps": 3, "epochs": 1.0, "batch_size": 4},
                    card={"hardware": "CPU, 1 thread", **card})
    return cards.card_text(path)


def test_script_fields_replace_the_family_prose_and_psnr_is_listed(tmp_path):
    text = _card(tmp_path, {"about": "A colour VAE.", "limits": "Blurry.", "reproduce": ["python make_it.py"]},
                 {"test_set": "emoji32 test", "psnr": 24.5, "psnr_mean": 25.1, "recon_mse": 0.0035})
    head = yaml.safe_load(text.split("---\n")[1])
    assert head["datasets"] == ["emoji32"] and "emoji" in head["tags"] and "mnist" not in head["tags"]
    assert "psnr" in head["metrics"]
    assert "A colour VAE." in text and "Blurry." in text and "MNIST" not in text
    assert "python make_it.py" in text and "imggen train vae" not in text
    assert "**24.50 dB** (of the mean MSE; mean of per-image PSNRs 25.10 dB)" in text
    assert "Stored in the checkpoint by its training script" in text


def test_without_script_fields_the_family_prose_and_commands_stay(tmp_path):
    text = _card(tmp_path, {}, {}, data="mnist")
    head = yaml.safe_load(text.split("---\n")[1])
    assert head["datasets"] == ["mnist"] and "mnist" in head["tags"]
    assert "python -m imggen train vae --data mnist" in text and "MNIST" in text
