"""imggen/ui/interpolate_scrub.py without a browser: the endpoint latents the page gets are the server's path
(the latent at t = 0.5, by the Python and by the page's own JS formula, is the walk's middle frame's latent)."""
import base64
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from imggen import export, registry
from imggen.convert import to_uint8
from imggen.interpolate import latent_path, lerp, slerp
from imggen.latent import seed_latent
from imggen.ui import browser_decode, common, interpolate, interpolate_scrub

NODE = shutil.which("node")


def js_latent_at(a, b, t, mode):
    """static/bd_core.js's latentAt, run by node (the formula the page scrubs with)."""
    prog = (browser_decode.CORE + "\nconst [a, b, t, m] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
            "\nprocess.stdout.write(JSON.stringify(window.imggenCore.latentAt(a, b, t, m)));")
    out = subprocess.run([NODE, "-e", "globalThis.window = {};\n" + prog], input=json.dumps([a, b, t, mode]),
                         capture_output=True, text=True, timeout=60, check=True)
    return torch.tensor(json.loads(out.stdout))


@pytest.fixture(scope="module")
def name():
    if "vae-mnist" not in common.model_choices(capability="decode"):
        pytest.skip("vae-mnist is not shipped")
    return "vae-mnist"


@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_endpoints_sent_are_the_servers_path(name, mode):
    out = interpolate.walk_and_scrub(name, "Random seed", 3, None, None, "Random seed", 8, None, None, mode, 5, 8)
    d = json.loads(interpolate_scrub.package_json(out[5]))
    net = registry.load(name).net
    codes = latent_path(registry.load(name), seed_latent(net, 3)[0], seed_latent(net, 8)[0], 5, mode)
    a, b = torch.tensor(d["a"]), torch.tensor(d["b"])
    assert d["mode"] == mode and d["browser"] and d["steps"] == 5 and d["label"] == 0
    assert torch.equal(a, codes[0]) and torch.equal(b, codes[-1])
    mid = (slerp if mode == "slerp" else lerp)(a, b, torch.tensor([0.5]))[0]
    assert torch.allclose(mid, codes[2], atol=1e-6)
    if NODE:
        assert torch.allclose(js_latent_at(d["a"], d["b"], 0.5, mode), codes[2], atol=1e-5)
        assert not torch.allclose(js_latent_at(d["a"], d["b"], 0.25, mode), codes[2], atol=1e-3)
    pkg = export.package(name)
    assert d["url"] == browser_decode.file_url(pkg.onnx_path) and d["num_sliders"] == pkg.meta["num_sliders"]
    first = np.array(Image.open(io.BytesIO(base64.b64decode(d["frames"][0].split(",", 1)[1]))))
    frames = interpolate.latent_walk(registry.load(name), codes[0], codes[-1], 5, mode)[0]
    assert np.array_equal(first, to_uint8(frames[0]))  # the fallback's frames are the strip's
    assert np.array_equal(interpolate_scrub.server_pixels(name, a, b, mode, 1.0), to_uint8(frames[-1]))


def test_no_walk_sends_nothing_and_the_public_api_is_unchanged(name):
    assert json.loads(interpolate_scrub.package_json(None)) is None
    out = interpolate.walk(name, "Random seed", 3, None, None, "Random seed", 8, None, None, "lerp", 3, 8)
    assert len(out) == 5


def test_a_class_mixture_falls_back_to_rendered_frames():
    """A conditional GAN walks with the uniform class mixture: no single class for the browser's graph."""
    shipped = set(registry._shipped())  # not a tiny model another test trained, whose classes may not matter yet
    cgan = next((n for n in common.model_choices(capability="decode") if n in shipped
                 and getattr(registry.load(n).net.config, "num_classes", 0) and hasattr(registry.load(n).net, "G")),
                None)
    if cgan is None:
        pytest.skip("no conditional GAN is registered")
    out = interpolate.walk_and_scrub(cgan, "Random seed", 0, None, None, "Random seed", 1, None, None, "lerp", 3, 8)
    d = json.loads(interpolate_scrub.package_json(out[5]))
    assert not d["browser"] and "mixes classes" in d["reason"] and len(d["frames"]) == 3
