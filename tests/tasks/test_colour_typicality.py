"""Typicality for colour models (imggen.anomaly): scored among the held-out emoji, with the image's complexity
added to its likelihood so that blank and flat images are not the most typical."""
import json

import torch

from imggen import anomaly, checkpoint, registry
from imggen.convert import to01


def test_complexity_orders_blank_flat_and_noise():
    blank = torch.ones(1, 3, 32, 32)
    flat = blank.clone()
    flat[..., 8:24, 8:24] = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1)
    noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    c = anomaly.complexity(torch.cat([blank, flat, noise]))
    assert c[0] < c[1] < c[2] and c[2] > 20 * c[1]
    assert torch.equal(anomaly.complexity(flat), anomaly.complexity(flat.clone()))  # deterministic


def test_colour_reference_is_the_held_out_emoji(tmp_path):
    torch.manual_seed(0)
    net = registry.build("vae", channels=3, image_size=32, latent_dim=8, hidden=8, fc_dim=32)
    path = checkpoint.save(net, tmp_path / "vae-colour-typ.safetensors", family="vae", config=vars(net.config))
    model = registry.load(str(path))
    images, data, words = anomaly.reference_data(model.config)
    assert images.shape[1:] == (3, 32, 32) and data == "emoji32 held-out" and words == "held-out emoji"
    ref = anomaly.reference(model)
    saved = json.loads(anomaly.reference_path(path).read_text())
    assert saved["score"] == "log-likelihood + complexity" and saved["num_images"] == len(images)
    assert anomaly.population(saved) == "held-out emoji" and saved["weights"] == ref["weights"]
    ll, pct = anomaly.typicality(model, to01(images[:50]))
    assert torch.isfinite(ll).all() and 0 <= pct.min() and pct.max() <= 100 and pct.std() > 5  # spread over ranks
    _, score = anomaly.scores(model.net, images[:50], ref["k"], True)
    assert torch.equal(pct, anomaly.percentile(ref, score))
