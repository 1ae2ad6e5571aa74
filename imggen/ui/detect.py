"""Sample tab's Detection section: an upload scored by a GAN's discriminator, placed among the scores of held-out
real images and of the model's own samples."""
from __future__ import annotations

import functools
import io

import gradio as gr
import numpy as np
import torch

from .. import anomaly, registry
from ..convert import pack_tensor, to01, to_pil
from ..preprocess import model_input
from . import common

REFERENCE_N = 500  # real test digits and samples behind the detection score distribution


@functools.lru_cache(maxsize=8)
def reference_scores(name: str, key: tuple = ()) -> tuple[np.ndarray, np.ndarray, str]:
    """sigmoid(D) on held-out real images (test digits; held-out emoji for colour models) and on the model's own
    samples (seed 0), and those real images in words; ``key`` (the file's version,
    :func:`imggen.registry.file_key`) makes a retrained model under the same name a new entry."""
    m = registry.load(name)
    images, _, words = anomaly.reference_data(m.config, REFERENCE_N)
    images = images[:REFERENCE_N]
    with torch.no_grad():
        real = torch.sigmoid(m.discriminate(to01(images))).numpy()
        fake = torch.sigmoid(m.discriminate(m.sample(len(images), seed=0))).numpy()
    return real, fake, words


def _plot(score: float, real: np.ndarray, fake: np.ndarray, words: str = "held-out test digits"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots(figsize=(5, 2.8), dpi=100)
    bins = np.linspace(0, 1, 26)
    hr = ax.hist(real, bins=bins, alpha=0.6, label=f"{words} (n={len(real)})", color="tab:blue")[0]
    hf = ax.hist(fake, bins=bins, alpha=0.6, label=f"model samples (n={len(fake)})", color="tab:orange")[0]
    ax.axvline(score, color="black", lw=2, label="your image")
    ax.set_ylim(0, 1.4 * max(hr.max(), hf.max(), 1))  # headroom: the legend sits above the bars
    ax.set_xlabel("discriminator score sigmoid(D): 0 = fake, 1 = real")
    ax.set_ylabel("images")
    ax.legend(fontsize=7, loc="upper center", ncol=3, framealpha=0.95)
    fig.tight_layout(rect=(0, 0, 1, 0.86))  # the top band stays clear: the component's label floats over it
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def detect(model, upload):
    """-> (preprocessed input PNG, score-distribution plot PNG, markdown with the score and percentiles)."""
    name = common.require_model(model)
    if not upload:
        raise gr.Error("No image uploaded: choose an image file first.")
    with common.user_errors():
        m = registry.load(name)
        if not hasattr(m.net, "discriminate"):
            raise ValueError(f"{name} has no discriminator; pick a GAN for detection.")
        x = model_input(upload, m.config.channels, m.config.image_size)[None]
        with torch.no_grad():
            score = torch.sigmoid(m.discriminate(x)).item()
        real, fake, words = reference_scores(name, m.key)
    pr, pf = (real < score).mean() * 100, (fake < score).mean() * 100
    verdict = ("looks **real** to this discriminator" if score >= np.median(fake) and pr >= 5
               else "looks **generated** to this discriminator")
    md = (f"**Score {score:.3f}** (sigmoid of D) — your image {verdict}.\n\n"
          f"Higher than **{pr:.0f} %** of {words} (median {np.median(real):.3f}) and **{pf:.0f} %** of "
          f"`{name}` samples (median {np.median(fake):.3f}). A GAN's discriminator is trained to tell its own "
          "generator's samples from the training data, so treat it as a hint, not a forensic verdict.")
    recipe = {"tab": "sample/detect", "model": name, "score": round(score, 4), "input": pack_tensor(x[0])}
    preview = to_pil(x[0], scale=4, recipe=recipe)
    return preview, _plot(score, real, fake, words), md
