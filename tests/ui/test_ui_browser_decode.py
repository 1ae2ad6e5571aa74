"""imggen/ui/browser_decode.py without a browser: the package the page gets, and its fallback when export fails."""
import json

import pytest

from imggen import export, latent
from imggen.ui import browser_decode, common


@pytest.fixture(scope="module")
def name():
    names = common.model_choices(capability="decode")
    if not names:
        pytest.skip("no shipped generative model")
    return "dcgan-mnist" if "dcgan-mnist" in names else names[0]


def test_package_info_gives_the_seed_latent_and_served_files(name):
    d = json.loads(browser_decode.package_info(name, 5, 0, None))
    ex = latent.explorer(name)
    assert d["model"] == name and d["base"] == ex.base(5)[0].tolist() and d["num_sliders"] == ex.num_sliders
    pkg = export.package(name)
    assert d["url"] == browser_decode.file_url(pkg.onnx_path) and d["bytes"] == pkg.onnx_bytes
    assert d["ort_dir"].endswith("/") and (browser_decode.ORT_DIR / "ort-wasm-simd-threaded.wasm").exists()
    z = ex.base(9) * 0.5  # an inverted digit's latent replaces the seed's for its own model only
    assert json.loads(browser_decode.package_info(name, 5, 0, {"model": name, "z": z, "label": None}))["base"] == \
        z[0].tolist()
    assert json.loads(browser_decode.package_info(name, 5, 0, {"model": "other", "z": z}))["base"] == d["base"]
    assert json.loads(browser_decode.package_info(None, 5, 0, None)) is None


def test_export_failure_falls_back_to_the_server(name, monkeypatch):
    def boom(n):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(export, "package", boom)
    d = json.loads(browser_decode.package_info(name, 0, 0, None))
    assert "url" not in d and "unsupported operator" in d["error"] and d["model"] == name


def test_vendored_runtime_is_small_and_licensed():
    files = {f.name: f.stat().st_size for f in browser_decode.ORT_DIR.iterdir()}
    assert {"ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm", "LICENSE"} <= set(files)
    assert max(files.values()) < 20e6 and sum(files.values()) < 20e6
    assert "MIT License" in (browser_decode.ORT_DIR / "LICENSE").read_text()
