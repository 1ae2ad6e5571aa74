"""DiffAugment policies (Zhao et al. 2020) as a GAN training option: differentiable, per-image, identity when off,
and off by default so a seeded digit training is unchanged."""
from __future__ import annotations

import pytest
import torch

from imggen import losses
from imggen.train import TrainConfig, train
from imggen.training.recipes import get


def test_policy_is_differentiable_and_changes_each_image_differently():
    torch.manual_seed(0)
    x = (torch.rand(8, 3, 32, 32) * 2 - 1).requires_grad_(True)
    y = losses.diff_augment_policy(x, "color,translation,cutout")
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    x.grad = None
    losses.diff_augment_policy(x, "translation,cutout").sum().backward()
    cut = (x.grad == 0).flatten(1).float().mean(1)  # cut-out (and shifted-out) pixels get no gradient
    assert (cut > 0.05).all() and (cut < 0.6).all()
    d = (y - x).detach().flatten(1)
    assert len({round(v, 4) for v in d.abs().mean(1).tolist()}) == 8  # drawn per image


@pytest.mark.parametrize("op", ["color", "translation", "cutout"])
def test_each_op_alone(op):
    torch.manual_seed(1)
    x = torch.rand(16, 3, 16, 16) * 2 - 1
    y = losses.diff_augment_policy(x, op)
    assert y.shape == x.shape and not torch.equal(x, y)
    if op == "translation":  # a shift moves pixels (and pads with 0) but keeps the values it keeps
        kept = y[y != 0]
        assert torch.isin(kept, x).all()
    if op == "cutout":  # a half-size square (clipped at the border) is zeroed, the rest untouched
        zeroed = (y == 0) & (x != 0)
        assert torch.equal(y[~zeroed], x[~zeroed])
        frac = zeroed.flatten(1).float().mean(1)
        assert (frac > 0.05).all() and (frac <= 0.25 + 1e-6).all()


def test_off_is_identity_and_draws_no_randomness():
    x = torch.rand(4, 3, 8, 8)
    state = torch.get_rng_state()
    assert losses.diff_augment_policy(x, "") is x
    assert torch.equal(torch.get_rng_state(), state)
    assert TrainConfig().augment == ""


def test_unknown_op_is_a_clear_error():
    with pytest.raises(ValueError, match="color, translation, cutout"):
        losses.parse_augment("color,flip")


def _digits(n: int = 32):
    from imggen.data import ImageData

    g = torch.Generator().manual_seed(1)
    x = (torch.rand(n, 1, 28, 28, generator=g) > 0.7).float() * 2 - 1
    return ImageData(x, torch.arange(n) % 3, "seeded", classes=("a", "b", "c"))


def _train(**over):
    from imggen.train import TrainState

    cfg = TrainConfig(**{**dict(max_steps=2, batch_size=16, num_grid=4, eval_samples=0, seed=3, device="cpu"), **over})
    state = TrainState()
    list(train("cgan", _digits(), cfg, model_config=dict(latent_dim=8, g_width=8, d_width=8), state=state))
    return state.model.state_dict()


def test_default_training_is_unchanged_and_the_policy_changes_it():
    off, default, on = _train(augment=""), _train(), _train(augment="color,translation,cutout")
    assert all(torch.equal(off[k], default[k]) for k in off)
    assert any(not torch.equal(off[k], on[k]) for k in off if off[k].is_floating_point())


def test_emoji_recipe_trains_with_the_policy():
    r = get("cgan-emoji32")
    assert r.data == "emoji32" and r.train["augment"] == "color,translation,cutout"
    assert losses.parse_augment(r.train["augment"]) == ("color", "translation", "cutout")
