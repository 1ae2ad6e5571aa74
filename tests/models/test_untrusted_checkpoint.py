"""Issue 24: an uploaded checkpoint's config is untrusted: it is checked before any real network is built."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import save_file
from torch.nn.modules import module as torch_module

from imggen import checkpoint, registry
from imggen.checkpoint import CheckpointError

CLF = {"channels": 4, "feature_dim": 8, "num_classes": 10, "dropout": 0.0}


def crafted(path, family: str, config, tensors=None):
    """A tiny safetensors file with imggen metadata declaring ``family``/``config`` (the issue's 268 bytes)."""
    meta = {"format": "imggen", "family": family, "name": path.stem, "config": json.dumps(config)}
    save_file(tensors or {"w": torch.zeros(1)}, str(path), metadata=meta)
    return path


@pytest.mark.slow
def test_crafted_huge_networks_are_refused_fast_without_memory(tmp_path):
    """In a fresh process (peak RSS, reset before each file): a ~300-byte file declaring a DCGAN with g_width=8192
    (2.2 billion weights; the old code built it), a pixel GPT with 2000 layers or a forest with 60,000 leaves is
    refused in < 0.1 s, RSS growing < 20 MB."""
    files = [crafted(tmp_path / "wide.safetensors", "dcgan", {"g_width": 8192}),
             crafted(tmp_path / "deep.safetensors", "pixelgpt", {"n_layer": 2000}),
             crafted(tmp_path / "leaves.safetensors", "arf", {"num_leaves": 60000, "image_size": 64})]
    assert all(p.stat().st_size < 400 for p in files)
    code = textwrap.dedent("""
        import json, re, sys, time
        import torch
        from imggen import checkpoint, registry
        for family in ("dcgan", "pixelgpt", "arf"):
            registry.family_classes(family)  # imports, not the check, are not measured

        def peak_mb():  # this process's peak RSS since the last reset (Linux: clear_refs 5 resets it)
            return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024

        def reset():
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return peak_mb()

        out = []
        for path in sys.argv[1:]:
            rss, t = reset(), time.perf_counter()
            try:
                registry.from_checkpoint(path)
                err = None
            except checkpoint.CheckpointError as e:
                err = str(e)
            out.append({"s": time.perf_counter() - t, "err": err, "rss_mb": peak_mb() - rss})
        rss = reset()
        control = torch.ones(25_000_000)  # 100 MB: the measurement sees real allocations
        out.append({"rss_mb": peak_mb() - rss})
        print(json.dumps(out))
    """)
    res = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    *results, control = json.loads(res.stdout.splitlines()[-1])
    assert control["rss_mb"] > 80
    for path, r in zip(files, results):
        assert r["err"] and "does not match its weights" in r["err"], (path.name, r)
        assert r["s"] < 0.1 and r["rss_mb"] < 20, (path.name, r)
        print(path.name, f"refused in {r['s'] * 1000:.1f} ms, peak RSS +{r['rss_mb']:.1f} MB")


def test_refused_by_load_and_warm_start_too(tmp_path):
    path = crafted(tmp_path / "evil.safetensors", "dcgan", {"g_width": 8192})
    with pytest.raises(CheckpointError, match="does not match its weights"):
        registry.load(str(path))
    with pytest.raises(CheckpointError, match="does not match its weights"):
        registry.warm_start(path, "dcgan")


@pytest.mark.parametrize("config,match", [
    ({"g_width": 10 ** 9}, r"'g_width' = 1000000000 is out of range \(a whole number from 0 to 65,536\)"),
    ({"latent_dim": -4}, "'latent_dim' = -4 is out of range"),
    ({"g_width": 64.0}, "'g_width' = 64.0 is out of range"),
    ({"g_width": True}, "'g_width' = True is out of range"),
    ({"g_width": "64"}, "'g_width' = '64' is out of range"),
    ({"use_spectral_norm": 1}, "'use_spectral_norm' = 1 is not a bool"),
    ({"upsample": ["x"] * 1000}, r"'upsample' = \['x', 'x'.* is not a str"),
    ({"gpu": 1}, "setting dcgan models do not know: 'gpu'"),
    ({"upsample": "bicubic"}, "config cannot build a dcgan network"),
    ([64], "not a set of named settings"),
])
def test_config_values_out_of_range_are_named(tmp_path, config, match):
    path = crafted(tmp_path / "bad.safetensors", "dcgan", config)
    with pytest.raises(CheckpointError, match=match):
        registry.from_checkpoint(path)


def test_unknown_family(tmp_path):
    with pytest.raises(CheckpointError, match="unknown model family 'transformer'"):
        registry.from_checkpoint(crafted(tmp_path / "x.safetensors", "transformer", {}))


def test_mismatch_is_found_on_meta_before_a_real_network(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = registry.build("classifier", **CLF)
    path = checkpoint.save(net, tmp_path / "clf.safetensors", family="classifier", config={**CLF, "channels": 6})
    devices, build = [], registry.build

    def spy(family, **config):
        devices.append(torch.empty(()).device.type)
        return build(family, **config)

    monkeypatch.setattr(registry, "build", spy)
    with pytest.raises(CheckpointError, match=r"does not match its weights .* first difference: 'body.0.weight', "
                                                  r"shape \(6, 1, 3, 3\) in the network, \(4, 1, 3, 3\) in the file"):
        registry.from_checkpoint(path)
    assert devices == ["meta"]  # only the shape check built anything
    checkpoint.save(net, path, family="classifier", config=CLF)
    assert isinstance(registry.from_checkpoint(path), type(net)) and devices == ["meta", "meta", "cpu"]


def test_header_limits(tmp_path, monkeypatch):
    net = registry.build("classifier", **CLF)
    path = checkpoint.save(net, tmp_path / "clf.safetensors", family="classifier", config=CLF)
    n, k = sum(p.numel() for p in net.state_dict().values()), len(net.state_dict())
    assert checkpoint.tensor_shapes(path) == {name: tuple(t.shape) for name, t in net.state_dict().items()}
    monkeypatch.setattr(checkpoint, "MAX_PARAMS", n - 1)
    with pytest.raises(CheckpointError, match=f"holds {n:,} weights; imggen loads at most {n - 1:,}"):
        registry.from_checkpoint(path)
    monkeypatch.setattr(checkpoint, "MAX_PARAMS", n)
    monkeypatch.setattr(checkpoint, "MAX_TENSORS", k - 1)
    with pytest.raises(CheckpointError, match=f"holds {k} tensors; imggen loads at most {k - 1}"):
        registry.from_checkpoint(path)


def test_every_shipped_checkpoint_passes_and_the_hooks_are_gone():
    before = (dict(torch_module._global_parameter_registration_hooks),
              dict(torch_module._global_buffer_registration_hooks))
    for path in sorted(registry.CHECKPOINT_DIR.glob("*.safetensors")):
        meta = checkpoint.read_metadata(path)
        checkpoint.check_config(meta["family"], meta["config"], path)
    after = (dict(torch_module._global_parameter_registration_hooks),
             dict(torch_module._global_buffer_registration_hooks))
    assert after == before and checkpoint._meta_left.budget is None
