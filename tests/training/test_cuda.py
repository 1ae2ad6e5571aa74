"""CUDA + bf16 autocast paths of the training loop and the families (skipped where no GPU is present;
run on a lent GPU machine with `python -m pytest tests/training/test_cuda.py`)."""
import math
from dataclasses import asdict

import pytest
import torch

from imggen import checkpoint
from imggen.data import ImageData
from imggen.device import amp_dtype, autocast_ctx, pick_device
from imggen.registry import build, load
from imggen.train import TrainConfig, train
from imggen.training.trainers import make_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


def blobs(n=256, size=28, seed=0) -> ImageData:
    """Labelled toy digits-like data: class k is a bright square at one of 10 positions (no downloads)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.full((n, 1, size, size), -1.0)
    for i, k in enumerate(y.tolist()):
        r, c = 2 + 8 * (k // 4), 2 + 6 * (k % 4)
        x[i, 0, r:r + 6, c:c + 6] = 1.0
    x += 0.05 * torch.randn(x.shape, generator=g)
    return ImageData(x.clamp(-1, 1), y, "blobs", [str(i) for i in range(10)])


def test_device_and_amp_choice(monkeypatch):
    monkeypatch.delenv("IMGGEN_DEVICE", raising=False)  # conftest pins the rest of the suite to CPU
    assert pick_device().type == "cuda"
    assert amp_dtype(CUDA) in (torch.bfloat16, torch.float16)
    a = torch.randn(8, 8, device=CUDA)
    with autocast_ctx(CUDA):
        assert (a @ a).dtype == amp_dtype(CUDA)
    assert amp_dtype(torch.device("cpu")) is None


@pytest.mark.parametrize("family,cfg", [
    ("cgan", dict(latent_dim=16, g_width=16, d_width=16, use_minibatch_std=True)),
    ("dcgan", dict(latent_dim=16, g_width=16, d_width=16)),
    ("vae", dict(latent_dim=8, hidden=8, fc_dim=32)),
    ("cvae", dict(latent_dim=8, hidden=8, fc_dim=32)),
    ("vaegan", dict(latent_dim=8, hidden=8, fc_dim=32)),
])
def test_train_on_cuda_with_amp_then_load_on_cpu(family, cfg, tmp_path):
    """bf16-autocast training on the GPU gives finite losses and a checkpoint whose weights decode the same
    latent to the same image on CPU and on CUDA (fp32 inference on both)."""
    data = blobs()
    tc = TrainConfig(epochs=2, batch_size=32, lr=1e-3, eval_samples=64, num_grid=4, device="cuda", use_amp=True,
                     use_ema=family in ("cgan", "dcgan"), r1_gamma=1.0 if family == "cgan" else 0.0,
                     use_augment=family == "cgan")
    events = list(train(family, data, tc, model_config=cfg, out=tmp_path / f"{family}.safetensors"))
    end = events[-1]
    assert end.kind == "end", end.message
    assert all(math.isfinite(v) for e in events for v in e.losses.values())
    assert end.samples is None or torch.isfinite(end.samples).all()
    assert checkpoint.read_metadata(end.ckpt_path)["card"]["hardware"] == torch.cuda.get_device_name(CUDA) + " (bf16 autocast)"
    on_gpu, on_cpu = load.__wrapped__(end.ckpt_path, "cuda"), load.__wrapped__(end.ckpt_path, "cpu")
    assert on_gpu.device.type == "cuda" and on_cpu.device.type == "cpu"
    z = torch.randn(6, on_cpu.config.latent_dim, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(6) % 10 if family in ("cgan", "cvae") else None
    a, b = on_gpu.decode(z, labels), on_cpu.decode(z, labels)
    assert a.shape == b.shape == (6, 1, 28, 28)
    assert torch.allclose(a, b, atol=2e-3), (a - b).abs().max()


def test_seeded_sampling_is_deterministic_on_cuda():
    torch.manual_seed(0)
    m = build("cgan", latent_dim=16, g_width=16, d_width=16).to(CUDA).eval()
    draw = lambda: m.sample(8, generator=torch.Generator(device=CUDA).manual_seed(5), labels=[3])  # noqa: E731
    x, y = draw(), draw()
    assert x.device.type == "cuda" and torch.equal(x, y)
    assert not torch.equal(x, m.sample(8, generator=torch.Generator(device=CUDA).manual_seed(6), labels=[3]))


def test_amp_training_lowers_discriminator_loss_on_cuda():
    data = blobs(128)
    torch.manual_seed(0)
    m = build("dcgan", latent_dim=16, g_width=16, d_width=16).to(CUDA)
    tr = make_trainer(m, TrainConfig(loss="hinge", lr=1e-3, use_ema=False), CUDA)
    x, y = data.images[:64].to(CUDA), data.labels[:64].to(CUDA)
    with autocast_ctx(CUDA):
        first = tr.step(x, y)
        for _ in range(20):
            last = tr.step(x, y)
    assert last["loss/D"] < first["loss/D"] and last["D(x)"] > first["D(x)"]


def test_checkpoint_written_from_cuda_has_cpu_tensors(tmp_path):
    torch.manual_seed(0)
    m = build("vae", latent_dim=4, hidden=8, fc_dim=32).to(CUDA)
    path = checkpoint.save(m, tmp_path / "v.safetensors", family="vae", config=asdict(m.config))
    net = build("vae", **checkpoint.read_metadata(path)["config"])
    checkpoint.load_weights(net, path)
    ref = {k: v.cpu() for k, v in m.state_dict().items()}
    assert all(torch.equal(v, ref[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize("family", ["cgan", "vae"])
def test_same_seed_same_image_on_cpu_and_cuda(family, tmp_path):
    """LoadedModel draws its noise from a CPU generator, so a seed shown in the UI reproduces on any machine."""
    torch.manual_seed(0)
    cfg = dict(latent_dim=8, g_width=8, d_width=8) if family == "cgan" else dict(latent_dim=8, hidden=8, fc_dim=32)
    m = build(family, **cfg).eval()
    path = checkpoint.save(m, tmp_path / "m.safetensors", family=family, config=asdict(m.config))
    kw = {"labels": [1, 7]} if family == "cgan" else {}
    a = load.__wrapped__(str(path), "cuda").sample(6, seed=11, **kw)
    b = load.__wrapped__(str(path), "cpu").sample(6, seed=11, **kw)
    assert torch.allclose(a, b, atol=2e-3), (a - b).abs().max()
