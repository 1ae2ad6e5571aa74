"""Smoke test over every registered family (read from the registry, so a new family is covered by its entry alone):
build a small config, train one step through the loop on tiny data, save, load, sample (the loaded model draws the
same seeded pixels as the trained one). A family without a sampler (the metrics' classifiers) is built, saved and
loaded back weight for weight. Seconds per family."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from imggen import checkpoint, registry
from imggen.data import ImageData
from imggen.train import TrainConfig, TrainState, train
from tiny_gan import one_thread  # noqa: F401  (one_thread: an autouse fixture)

# Size knobs, by config field name (not by family): a config that has the field gets the small value. A new
# family whose config sizes itself with other names runs at its default size; add its knobs here if that is slow.
SMALL = dict(latent_dim=8, w_dim=8, mapping_layers=1, g_width=8, d_width=8, hidden=8, d_hidden=8, fc_dim=32,
             n_layer=1, n_head=2, n_embd=16, trees=2, max_leaves=24, feature_dim=16)


def small_config(family: str) -> dict:
    config_class, _ = registry.family_classes(family)
    return {f.name: SMALL[f.name] for f in dataclasses.fields(config_class) if f.name in SMALL}


def tiny_data(channels: int, size: int, n: int = 8) -> ImageData:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, channels, size, size, generator=g) > 0.7).float() * 2 - 1  # binary pixels suit every family
    return ImageData(x, torch.arange(n) % 3, "smoke", classes=("a", "b", "c"))


def state_dict(net: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_the_registry_lists_families():
    assert len(registry.FAMILIES) >= 2 and all(isinstance(f, str) for f in registry.FAMILIES)


@pytest.mark.parametrize("family", list(registry.FAMILIES))
def test_family_builds_trains_saves_loads_and_samples(family, tmp_path):
    torch.manual_seed(0)
    net = registry.build(family, **small_config(family))
    path = tmp_path / f"{family}.safetensors"
    if not callable(getattr(net, "sample", None)):  # not a generator: trained by its own script
        before = state_dict(net)
        checkpoint.save(net, path, family=family, config=dataclasses.asdict(net.config))
        loaded = registry.load(str(path))
        assert loaded.family == family and loaded.net.config == net.config
        after = state_dict(loaded.net)
        assert after.keys() == before.keys() and all(torch.equal(after[k], before[k].cpu()) for k in before)
        return
    channels, size = getattr(net.config, "channels", 1), getattr(net.config, "image_size", 28)
    start = state_dict(net)
    cfg = TrainConfig(epochs=1, batch_size=8, max_steps=1, num_grid=4, eval_samples=0, seed=0, device="cpu")
    state = TrainState()
    events = list(train(family, tiny_data(channels, size), cfg, model=net, state=state, out=path))
    end = events[-1]
    assert end.kind == "end" and end.step == 1, end.message
    assert end.ckpt_path and checkpoint.read_metadata(end.ckpt_path)["family"] == family
    trained = state_dict(state.model)
    assert trained.keys() != start.keys() or any(not torch.equal(trained[k], start[k]) for k in start), \
        "one training step changed nothing"
    loaded = registry.load(end.ckpt_path)
    assert loaded.family == family
    x = loaded.sample(4, seed=1)
    assert x.shape == (4, channels, size, size) and torch.isfinite(x).all() and 0 <= x.min() <= x.max() <= 1
    assert torch.equal(loaded.sample(4, seed=1), x)  # seeded
    fresh = registry.LoadedModel(state.trainer.inference_model().eval(), "smoke", checkpoint.read_metadata(path))
    assert torch.allclose(fresh.sample(4, seed=1), x, atol=1e-5)  # the checkpoint holds what was trained
