"""Seeded training is reproducible across refactors: a tiny model of every family trains a few steps on fixed
synthetic data and must end with the parameter sums and losses recorded in tests/data/training_seeded.json
(recorded before the trainers moved into imggen/training/; ``python tests/training/test_training_seeded.py`` rewrites it)."""
from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from imggen.data import ImageData
from imggen.train import TrainConfig, train

RECORD = Path(__file__).resolve().parents[1] / "data" / "training_seeded.json"
CASES = {  # family -> (model config, TrainConfig overrides)
    "dcgan": (dict(latent_dim=8, g_width=8, d_width=8), dict(r1_gamma=1.0, use_augment=True)),
    "cgan": (dict(latent_dim=8, g_width=8, d_width=8), dict(d_steps=2)),
    "stylegan": (dict(g_width=8, d_width=8, latent_dim=16, w_dim=16, mapping_layers=2), {}),
    "ae": (dict(hidden=8, fc_dim=32, latent_dim=4), dict(lr=1e-3)),
    "vae": (dict(hidden=8, fc_dim=32, latent_dim=4), dict(lr=1e-3)),
    "cvae": (dict(hidden=8, fc_dim=32, latent_dim=4), dict(lr=1e-3)),
    "vaegan": (dict(hidden=8, fc_dim=32, latent_dim=4), dict(lr=1e-3)),
    "pixelgpt": (dict(n_layer=1, n_head=2, n_embd=32), dict(lr=1e-3, max_steps=4)),
    "arf": (dict(trees=4, max_leaves=24, min_leaf=3), dict(epochs=2)),
}


def data(n: int = 48) -> ImageData:
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(n, 1, 28, 28, generator=g) > 0.7).float() * 2 - 1
    return ImageData(x, torch.arange(n) % 3, "seeded", classes=("a", "b", "c"))


def run(family: str) -> dict:
    from imggen.train import TrainState

    model_config, over = CASES[family]
    cfg = TrainConfig(**{**dict(max_steps=3, batch_size=16, num_grid=4, eval_samples=0, seed=3, device="cpu"), **over})
    state, threads = TrainState(), torch.get_num_threads()
    torch.set_num_threads(1)  # the record is written on 1 thread; float sums differ in the last bits on 2
    try:
        events = list(train(family, data(), cfg, model_config=model_config, state=state))
    finally:
        torch.set_num_threads(threads)
    assert events[-1].kind == "end", events[-1].message
    sd = state.model.state_dict()
    h = hashlib.sha256()
    sums = {}
    for k in sorted(sd):
        t = sd[k].detach().cpu().contiguous()
        h.update(k.encode() + t.numpy().tobytes())
        if t.is_floating_point():
            sums[k] = [t.double().sum().item(), t.double().abs().sum().item()]
    return {"steps": events[-1].step, "losses": events[-1].losses, "sums": sums, "sha256": h.hexdigest()}


@pytest.mark.parametrize("family", list(CASES))
def test_seeded_training_matches_the_record(family):
    want = json.loads(RECORD.read_text())[family]
    got = run(family)
    assert got["steps"] == want["steps"] and set(got["sums"]) == set(want["sums"])
    for k, v in want["losses"].items():
        # CPUs differ in the last bits (SIMD paths): stylegan's loss/G moved 2e-5 between two machines
        assert math.isclose(got["losses"][k], v, rel_tol=1e-3, abs_tol=1e-4), (k, got["losses"][k], v)
    for k, (s, a) in want["sums"].items():
        gs, ga = got["sums"][k]
        tol = 1e-4 + 2e-5 * a  # stylegan's sums moved up to 6e-6 of their size between two CPUs; a refactor moves more
        assert abs(gs - s) <= tol and abs(ga - a) <= tol, (k, got["sums"][k], (s, a))


if __name__ == "__main__":
    torch.set_num_threads(1)
    fams = sys.argv[1:] or list(CASES)
    rec = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    for fam in fams:
        rec[fam] = run(fam)
        print(fam, rec[fam]["sha256"], rec[fam]["losses"])
    RECORD.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
