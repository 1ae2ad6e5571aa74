"""imggen.export: explorable decoders as ONNX for the browser give the server's pixels (after uint8 quantisation)."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from imggen import checkpoint, export, latent, registry
from imggen.convert import to_uint8
from tiny_gan import one_thread  # noqa: F401  (one_thread: an autouse fixture)

ort = pytest.importorskip("onnxruntime")
SMALL = dict(latent_dim=8, w_dim=8, mapping_layers=1, g_width=8, d_width=8, hidden=8, fc_dim=16)


def _config_fields(family):
    return {f.name for f in dataclasses.fields(registry.family_classes(family)[0])}


def _tiny_explorer(family, num_classes=0) -> latent.Explorer:
    """A tiny untrained model with 3 random unit slider directions (no discovery: seconds)."""
    torch.manual_seed(0)
    fields = _config_fields(family)
    kw = {k: v for k, v in SMALL.items() if k in fields}
    if num_classes:
        kw["num_classes"] = num_classes
    net = registry.build(family, **kw).eval()
    v = torch.nn.functional.normalize(torch.randn(3, net.config.latent_dim), dim=1)
    dirs = latent.Directions(v, ["a", "b", "c"], ["thickness", "slant", "none"], [0.9, 0.8, 0.0], [1.0, 1.0, 0.0],
                             [2, 0, 1], "tiny-key")
    return latent.Explorer(net, dirs, f"tiny-{family}")


def _pixels(session, ex, start, values, label=None) -> np.ndarray:
    feed = {"base": ex.base(start).numpy(), "alpha": np.array([values], np.float32)}
    if ex.num_classes:
        feed["label"] = np.array([label or 0], np.int64)
    return to_uint8(torch.from_numpy(session.run(None, feed)[0][0]))


def _max_diff(session, ex, cases) -> int:
    worst = 0
    for start, values, label in cases:
        a = _pixels(session, ex, start, values, label).astype(int)
        b = to_uint8(ex.render(start, values, label)[0]).astype(int)
        assert a.shape == b.shape
        worst = max(worst, int(np.abs(a - b).max()))
    return worst


def _cases(ex, n=3):
    g = torch.Generator().manual_seed(1)
    out = []
    for seed in range(n):
        vals = (torch.rand(ex.num_sliders, generator=g) * 6 - 3).round(decimals=2).tolist()
        out.append((seed, vals, seed % ex.num_classes if ex.num_classes else None))
    vals = ([0.5, -1.25, 3.0] + [0.0] * ex.num_sliders)[:ex.num_sliders]
    out.append((torch.randn(1, ex.net.config.latent_dim, generator=g), vals,
                ex.num_classes - 1 if ex.num_classes else None))  # an inverted image's latent instead of a seed
    return out


@pytest.mark.parametrize("family,classes", [("dcgan", 0), ("cgan", 10), ("vae", 0), ("cvae", 10), ("stylegan", 0)])
def test_exported_decoder_gives_server_pixels(tmp_path, family, classes):
    ex = _tiny_explorer(family, classes)
    path = export.export(ex, tmp_path / "d.onnx")
    import onnx

    model = onnx.load(str(path))
    assert model.opset_import[0].version == export.OPSET
    assert [i.name for i in model.graph.input] == ["base", "alpha"] + (["label"] if classes else [])
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert _max_diff(s, ex, _cases(ex)) <= 1
    # moving a slider changes the picture (the directions are wired in, not ignored)
    assert not np.array_equal(_pixels(s, ex, 0, [0, 0, 0]), _pixels(s, ex, 0, [3, -3, 3]))


def test_sidecar_describes_the_graph():
    ex = _tiny_explorer("cvae", 10)
    meta = export.sidecar(ex, "tiny")
    assert meta["num_sliders"] == 3 and meta["num_classes"] == 10 and meta["inputs"][-1] == "label"
    assert meta["directions"] == ex.slider_vectors.tolist() and meta["scale"] == ex.scale
    assert (meta["channels"], meta["height"], meta["width"]) == (1, 28, 28)
    assert meta["slider_labels"] == ex.dirs.slider_labels() and meta["opset"] == export.OPSET
    json.dumps(meta)  # plain JSON


def test_package_cached_and_rebuilt_when_weights_change(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(latent, "DISCOVER_DEFAULTS", dict(num_samples=200, sweep_bases=4))
    monkeypatch.setattr(export, "_packages", {})
    torch.manual_seed(0)
    net = registry.build("dcgan", latent_dim=8, g_width=8, d_width=8).eval()
    ckpt = checkpoint.save(net, tmp_path / "tiny-export.safetensors", family="dcgan", config=vars(net.config))
    p1 = export.package(str(ckpt))
    assert p1.onnx_path.parent == tmp_path / "cache" and p1.onnx_path.exists()
    assert json.loads(p1.onnx_path.with_suffix(".json").read_text())["key"] == p1.meta["key"]
    assert export.package(str(ckpt)) is p1  # memory
    p1.onnx_path.unlink()  # pruned from disk while remembered: built again
    assert export.package(str(ckpt)).onnx_path.exists()
    monkeypatch.setattr(export, "_packages", {})
    calls = []
    monkeypatch.setattr(export, "export", lambda *a: calls.append(a))
    assert export.package(str(ckpt)).onnx_path == p1.onnx_path and not calls  # disk: not exported again
    monkeypatch.undo()
    monkeypatch.setattr(export, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(latent, "DISCOVER_DEFAULTS", dict(num_samples=200, sweep_bases=4))
    with torch.no_grad():
        net.G.fc.weight.mul_(-1)
    checkpoint.save(net, ckpt, family="dcgan", config=vars(net.config))  # new weights
    p2 = export.package(str(ckpt))
    assert p2.onnx_path != p1.onnx_path and p2.onnx_path.exists()
    ex = latent.explorer(str(ckpt))
    s = ort.InferenceSession(str(p2.onnx_path), providers=["CPUExecutionProvider"])
    assert _max_diff(s, ex, _cases(ex, 2)) <= 1


def test_export_refuses_a_model_off_the_cpu():
    ex = _tiny_explorer("dcgan")
    ex.net.to("meta")
    with pytest.raises(ValueError, match="CPU"):
        export.export(ex, "/nonexistent/d.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("name", export.explorable())
def test_shipped_models_browser_package_gives_server_pixels(name):
    pkg = export.package(name)
    ex = latent.explorer(name)
    s = ort.InferenceSession(str(pkg.onnx_path), providers=["CPUExecutionProvider"])
    assert _max_diff(s, ex, _cases(ex, 4)) <= 1


def test_prune_keeps_the_newest_packages(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(export, "CACHE_DIR", tmp_path)
    for i in range(5):
        (tmp_path / f"k{i}.onnx").write_bytes(b"x")
        (tmp_path / f"k{i}.json").write_text("{}")
        os.utime(tmp_path / f"k{i}.onnx", (1000 + i, 1000 + i))
    assert export.prune(limit=2) == 3
    assert sorted(f.name for f in tmp_path.iterdir()) == ["k3.json", "k3.onnx", "k4.json", "k4.onnx"]
