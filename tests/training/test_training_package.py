"""imggen.training: the snapshot hook, phase history written once, named recipes, trainers by class, precision."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from imggen import checkpoint, families, registry
from imggen.data import EMOJI_DATASETS, ImageData
from imggen.training import Precision, Snapshot, TrainConfig, TrainState, WarmStart, recipes, train
from imggen.training.trainers import make_trainer

VAE = dict(hidden=8, fc_dim=32, latent_dim=4)
CFG = TrainConfig(max_steps=4, batch_size=8, num_grid=4, eval_samples=0, epochs=1)


def data(n=32):
    g = torch.Generator().manual_seed(0)
    return ImageData(torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.full((n,), -1), "toy")


def test_callbacks_see_every_event_and_the_snapshot_writes_the_current_weights(tmp_path):
    seen, shots = [], []

    def keep(ev, snap):
        assert isinstance(snap, Snapshot)
        seen.append(ev.kind)
        if ev.kind == "epoch":  # 4 steps per epoch at batch 8: one epoch event
            shots.append(({k: v.clone() for k, v in snap.model().state_dict().items()},
                          snap.save(tmp_path / "snap.safetensors", "snapshot after an epoch")))

    events = list(train("vae", data(), dataclasses.replace(CFG, log_every=1), model_config=VAE, callbacks=[keep]))
    assert seen == [ev.kind for ev in events] and seen.count("epoch") == 1 and seen[-1] == "end"
    weights, path = shots[0]
    meta = checkpoint.read_metadata(path)
    assert meta["card"]["status"] == "snapshot after an epoch" and meta["recipe"]["steps"] == 4
    saved = registry.from_checkpoint(path).state_dict()
    assert saved.keys() == weights.keys() and all(torch.equal(saved[k], weights[k]) for k in saved)


def test_snapshot_weights_are_the_runs_inference_weights(tmp_path):
    """A GAN's snapshot carries the EMA generator, the same weights the loop's own checkpoint gets."""
    kept = {}
    cfg = dataclasses.replace(CFG, max_steps=3)
    out = tmp_path / "end.safetensors"
    list(train("dcgan", data(), cfg, model_config=dict(latent_dim=8, g_width=8, d_width=8), out=out,
               callbacks=[lambda ev, snap: kept.setdefault(ev.kind, snap.save(tmp_path / f"{ev.kind}.safetensors"))]))
    a, b = registry.from_checkpoint(out).state_dict(), registry.from_checkpoint(kept["end"]).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_warm_started_checkpoint_is_written_once_with_every_phase(tmp_path, monkeypatch):
    first = tmp_path / "a.safetensors"
    list(train("vae", data(), CFG, model_config=VAE, out=first))
    writes = []
    save = checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda *a, **k: (writes.append(a[1]), save(*a, **k))[1])
    model, meta = registry.warm_start(first, "vae")
    out = tmp_path / "b.safetensors"
    state = TrainState()
    list(train("vae", data(), dataclasses.replace(CFG, lr=1e-4, max_steps=2), model=model, out=out, state=state,
               init=WarmStart("a", meta["recipe"])))
    assert writes == [out]
    rec = checkpoint.read_metadata(out)["recipe"]
    assert rec["init"] == "a" and rec["sessions"] == 2 and rec["steps"] == 6
    assert [h["steps"] for h in rec["history"]] == [4, 2] and [h["lr"] for h in rec["history"]] == [CFG.lr, 1e-4]
    from imggen.cards import phases

    assert [p["steps"] for p in phases(rec, {})] == [4, 2]
    # a Resume of the same run (the job worker passes the state again, no init) keeps the history
    list(train("vae", data(), dataclasses.replace(CFG, lr=1e-4, max_steps=2), out=out, state=state))
    rec = checkpoint.read_metadata(out)["recipe"]
    assert rec["sessions"] == 2 and [h["steps"] for h in rec["history"]] == [4, 4] and rec["steps"] == 8


def test_every_recipe_builds_and_configures():
    for name in recipes.names():
        r = recipes.get(name)
        TrainConfig(**r.train)
        size = EMOJI_DATASETS.get(r.data)  # the loop takes channels and size from the data: built-in sets here
        shape = {"channels": 3, "image_size": size} if size else {"channels": 1, "image_size": 28}
        registry.build(r.family, **{**shape, **r.model})
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.get("quick-nothing")


def test_presets_are_the_train_tabs():
    """The tab's presets as data: the same model settings and TrainConfig values the tab submits."""
    from imggen.ui import train_tab as tt

    for label, fam in tt.family_labels().items():
        for kind, preset in (("quick", tt.QUICK), ("quality", tt.QUALITY)):
            v, r = tt.preset_values(label, preset), recipes.get(f"{kind}-{fam}")
            assert r.family == fam and r.limit == v["max_images"]
            assert r.model == tt.model_overrides(fam, v["latent_dim"], v["width"], v["spectral_norm"], v["depth"])
            cfg = tt.make_config(v["epochs"], v["batch_size"], v["lr"], v["lr_d"], v["loss"], v["ema"], v["augment"],
                                 v["d_steps"], v["beta"], 0, v["grid_every"], fam, v["max_images"])
            assert {k: getattr(cfg, k) for k in r.train} == r.train, (fam, kind)


def test_cli_trains_a_named_recipe(tmp_path):
    from imggen.__main__ import main

    out = tmp_path / "q.safetensors"
    main(["train", "--recipe", "quick-ae", "--max-steps", "1", "--limit", "16", "--out", str(out),
          "--train-config", '{"eval_samples": 0}'])
    meta = checkpoint.read_metadata(out)
    assert meta["family"] == "ae" and meta["config"]["latent_dim"] == 16 and meta["config"]["hidden"] == 32
    assert meta["recipe"]["lr"] == 1e-3 and meta["recipe"]["epochs_planned"] == 3 and meta["recipe"]["steps"] == 1


def test_trainers_by_class():
    cpu = torch.device("cpu")
    for fam in families.FAMILIES.values():
        if fam.trainer is None:  # the classifier: trained by its own script, not the loop
            continue
        model = registry.build(fam.name, **({"trees": 2} if fam.name == "arf" else {}))
        assert type(make_trainer(model, TrainConfig(), cpu)) is fam.trainer
    assert type(make_trainer(registry.build("vaegan"), TrainConfig(), cpu)).__name__ == "VAEGANTrainer"
    with pytest.raises(ValueError, match="no trainer"):
        make_trainer(registry.build("classifier"), TrainConfig(), cpu)
    with pytest.raises(ValueError, match="no trainer"):
        make_trainer(torch.nn.Linear(2, 2), TrainConfig(), cpu)


def test_precision_is_fp32_on_the_cpu():
    p = Precision.for_run(torch.device("cpu"), use_amp=True)
    assert p.dtype is None and not p.grad_scaler().is_enabled()
    with p.step_ctx(), p.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
