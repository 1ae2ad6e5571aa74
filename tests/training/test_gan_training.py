"""Training GANs: the trainer lowers the D loss, its aids (R1, augment, D steps, EMA), a trained mixture prior, the
loop writing a checkpoint, the NaN guard. Tiny models, CPU, seconds."""
import math

import pytest
import torch

from imggen.registry import build, load
from imggen.train import TrainConfig, train
from imggen.training.trainers import make_trainer
from tiny_gan import TINY, one_thread, tiny  # noqa: F401  (one_thread: an autouse fixture)


def _batch(n=16):
    from imggen.data import load_data

    d = load_data("mnist5k", limit=n)
    return d.images, d.labels


@pytest.mark.parametrize("loss", ["hinge", "bce"])
def test_training_lowers_discriminator_loss(loss):
    x, y = _batch()
    m = tiny("dcgan", g_width=16, d_width=16)
    tr = make_trainer(m, TrainConfig(loss=loss, lr=1e-3, use_ema=False), torch.device("cpu"))
    first = tr.step(x, y)
    for _ in range(15):
        last = tr.step(x, y)
    assert set(first) >= {"loss/D", "loss/G", "D(x)", "D(G(z))"}
    assert last["loss/D"] < first["loss/D"]
    assert last["D(x)"] > first["D(x)"]


def test_trainer_aids_run():
    x, y = _batch(8)
    m = tiny("cgan", use_minibatch_std=True)
    cfg = TrainConfig(r1_gamma=1.0, use_augment=True, d_steps=2, use_ema=True)
    tr = make_trainer(m, cfg, torch.device("cpu"))
    out = tr.step(x, y)
    assert "loss/R1" in out and all(math.isfinite(v) for v in out.values())
    for _ in range(3):
        tr.step(x, y)
    net = tr.inference_model()
    assert not net.training and net is not m
    ema_w, live_w = net.G.fc.weight, m.G.fc.weight
    assert not torch.equal(ema_w, live_w)  # EMA weights, not the live ones


def test_train_prior_keeps_the_mixture_and_trains_g_on_its_latents():
    """train_prior: the trainer keeps the mixture prior, draws its training latents from it, and the inference
    model still samples from the same mixture; by default the trainer drops it (N(0, I))."""
    m = tiny().eval()
    means = torch.stack([torch.full((8,), 3.0), torch.full((8,), -3.0)])
    m.set_prior(torch.tensor([0.25, 0.75]), means, 0.1 * torch.eye(8).expand(2, 8, 8))
    tr = make_trainer(m, TrainConfig(train_prior=True, batch_size=8), torch.device("cpu"))
    assert m.config.prior_components == 2 and torch.equal(m.prior_means, means)
    torch.manual_seed(0)
    z = tr._latents(4000)
    assert ((z - 3).abs().max(1).values < 0.6).float().mean().item() == pytest.approx(0.25, abs=0.03)
    assert ((z + 3).abs().max(1).values < 0.6).float().mean().item() == pytest.approx(0.75, abs=0.03)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    assert all(math.isfinite(v) for v in tr.step(x, torch.zeros(8)).values())
    net = tr.inference_model()
    assert net.config.prior_components == 2 and torch.equal(net.prior_means, means)
    plain = tiny().eval()
    plain.set_prior(torch.tensor([0.25, 0.75]), means, 0.1 * torch.eye(8).expand(2, 8, 8))
    make_trainer(plain, TrainConfig(), torch.device("cpu"))
    assert plain.config.prior_components == 0


def test_train_loop_writes_checkpoint(tmp_path):
    from imggen.data import load_data

    data = load_data("mnist5k", limit=64)
    cfg = TrainConfig(epochs=1, batch_size=16, max_steps=3, eval_samples=0, num_grid=4, use_ema=True)
    events = list(train("cgan", data, cfg, model_config=TINY, out=tmp_path / "g.safetensors"))
    assert events[-1].kind == "end" and events[-1].ckpt_path
    assert "loss/D" in events[-1].losses
    net = load(events[-1].ckpt_path)
    assert net.config.num_classes == 10
    assert net.sample(3, seed=0, labels=[4]).shape == (3, 1, 28, 28)


def test_nan_guard_keeps_weights(tmp_path, monkeypatch):
    from imggen.data import load_data
    from imggen.training import trainers

    data = load_data("mnist5k", limit=64)
    orig_step = trainers.GANTrainer.step

    def bad_step(self, x, y):
        out = orig_step(self, x, y)
        if self.num_steps >= 2:  # diverge: poison the weights and report a NaN loss
            with torch.no_grad():
                self.net.G.fc.weight.fill_(float("nan"))
            out["loss/D"] = float("nan")
        return out

    monkeypatch.setattr(trainers.GANTrainer, "step", bad_step)
    torch.manual_seed(0)
    model = build("dcgan", **TINY)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=1, batch_size=16, max_steps=4, eval_samples=0, num_grid=4)
    events = list(train("dcgan", data, cfg, model=model, out=tmp_path / "n.safetensors"))
    assert events[-1].kind == "error" and "NaN" in events[-1].message
    assert all(torch.isfinite(v.float()).all() for v in model.state_dict().values())
    assert torch.equal(model.G.fc.weight, start["G.fc.weight"])  # weights of the last good epoch (= start)
    saved = load(events[-1].ckpt_path)
    assert torch.isfinite(saved.sample(2, seed=0)).all()

