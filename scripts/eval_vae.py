"""Evaluate a shipped autoencoder model on the MNIST test set, cache its anomaly reference and write its card:
python scripts/eval_vae.py NAME [--card-only] [--iwae-images 1000]   (1 CPU thread)."""
import json
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

from imggen import anomaly, checkpoint  # noqa: E402
from imggen.evaluate import evaluate_model, test_data  # noqa: E402
from imggen.registry import load, model_paths  # noqa: E402

ANOMALY_IMAGES = 500  # test images in the typicality reference (first 500 of the 10k test set; CPU time)

ABOUT = {
    "ae": "Deterministic convolutional autoencoder (no prior; samples decode codes drawn from a diagonal Gaussian "
          "fitted to the training codes, so sample quality is not its point — reconstruction is).",
    "vae": "Convolutional VAE (Kingma & Welling 2014): Gaussian posterior, N(0, I) prior, Bernoulli decoder on grey levels.",
    "cvae": "Conditional VAE (Sohn et al. 2015): encoder q(z|x, y) and decoder p(x|z, y) with a one-hot digit label, so z holds the style. Likelihoods "
            "marginalise the label under a uniform prior (k/10 importance samples per class), so they compare "
            "with the unconditional models; unlabelled reconstructions use the label that explains the image best.",
    "vaegan": "VAE-GAN (Larsen et al. 2016): the VAE's decoder is also trained against a small conv discriminator "
              "with a non-saturating GAN loss (on reconstructions and prior samples) and a feature-matching loss on "
              "the discriminator's hidden layer; the ELBO terms are kept, so its likelihood is still measured.",
}


def write_card(name: str) -> str:
    path = model_paths()[name]
    meta = checkpoint.read_metadata(path)
    m, r, c, cfg = meta["metrics"], meta["recipe"], meta["card"], meta["config"]
    fam = meta["family"]
    size_mb = Path(path).stat().st_size / 1e6
    rows = []

    def row(label, key, how, fmt="{:.2f}"):
        if key in m and m[key] is not None:
            rows.append(f"| {label} | {fmt.format(m[key])} | {how} |")

    row("held-out ELBO", "elbo", f"nats per image, mean over all {m.get('eval_images', '?')} test images (1 posterior sample, analytic KL)")
    which = (f"all {m['iwae_images']} test images (± {m['iwae_nll_sem']:.2f} standard error)"
             if m.get("iwae_images", 0) >= m.get("eval_images", 10_000) and "iwae_nll_sem" in m
             else f"{m.get('iwae_images')} test images (fixed random subset, CPU time)")
    row("IWAE NLL", "iwae_nll", f"−log p(x) bound with k={m.get('iwae_k')} importance samples, nats per image, mean over "
        + which)
    row("IWAE bits/dim", "iwae_bits_per_dim", "the same in bits per pixel", "{:.4f}")
    row("reconstruction MSE", "recon_mse", "posterior-mean reconstructions vs inputs, [0, 1] pixels, all test images", "{:.4f}")
    row("reconstruction NLL", "recon_nll", "Bernoulli cross-entropy of reconstructions, nats per image (AE)")
    row("classifier-FD of samples", "fd", f"{m.get('num_samples')} samples vs {m.get('num_samples')} test digits (shipped classifier features)")
    row("FD floor (real vs real)", "fd_floor", "two disjoint halves of the test set")
    row("FD ratio", "fd_ratio", "FD / floor (1 = indistinguishable from real)")
    row("coverage", "coverage", "digit classes receiving ≥ 2 % of samples", "{:d}")
    row("confident fraction", "confident_fraction", "samples classified with p ≥ 0.8 (real test digits ≈ 0.96)", "{:.3f}")
    row("precision", "precision", "k-NN manifold precision (Kynkäänniemi et al. 2019)", "{:.3f}")
    row("recall", "recall", "k-NN manifold recall", "{:.3f}")
    row("label accuracy", "label_accuracy", "classifier agrees with the requested label", "{:.3f}")
    ref_file = anomaly.reference_path(path)
    anom = ""
    if ref_file.exists():
        ref = json.loads(ref_file.read_text())
        q = ref["quantiles"]
        anom = (f"\n## Typicality (anomaly score)\n\n`{ref_file.name}` holds the 1001 quantiles of the IWAE log-likelihood "
                f"(k={ref['k']}, fixed seed) of {ref['num_images']} MNIST test digits: 1 % {q[10]:.1f}, median "
                f"{q[500]:.1f}, 99 % {q[990]:.1f} nats. The Reconstruct tab reports an upload's score as the percentile "
                "among these.\n")
    sessions = f" in {r['sessions']} sessions" if r.get("sessions") else ""
    md = f"""# {name}

{ABOUT.get(fam, fam)} `latent_dim={cfg['latent_dim']}`.

| | |
|---|---|
| family | `{fam}` (`imggen/models/vae.py`) |
| file | `checkpoints/{name}.safetensors` ({size_mb:.1f} MB, config in metadata) |
| parameters | {c.get('parameters', 0):,} |
| config | `{json.dumps(cfg)}` |
| training data | full MNIST training set ({c.get('data', '')}, 60,000 images); evaluation on the 10,000 test images, never trained on |
| recipe | Adam lr {r.get('lr')}, betas {r.get('betas')}, batch {r.get('batch_size')}, KL weight β={r.get('beta')}, time-boxed |
| training | {r.get('steps')} steps of batch {r.get('batch_size')} ≈ {r.get('steps', 0) * r.get('batch_size', 0) / 60000:.2f} epochs{sessions}, {r.get('train_seconds')} s on {c.get('hardware', 'CPU')} (a 2-core machine shared with other jobs) |
| reproduce | `python scripts/train_vae.py {name} MINUTES` (+ `resume`), then `python scripts/eval_vae.py {name}` |

## Measured (`python -m imggen eval {name} --write`, `scripts/eval_vae.py`)

| metric | value | how |
|---|---|---|
{chr(10).join(rows)}

Likelihoods use a Bernoulli decoder on grey levels in [0, 1] (cross-entropy, as Kingma & Welling did for MNIST),
not binarised MNIST: the numbers are comparable across imggen models and `bench/vae.py`, not with papers on
binarised MNIST.
{anom}
## Limitations

Trained for a short, CPU-bound time box (see training row): reconstructions are somewhat blurry and samples
weaker than a converged model's. Inputs must look like MNIST (white digit on black, centred by mass): the
Reconstruct tab's `prepare_digit` pipeline does this for photos, scans and drawings.
"""
    Path(path).with_suffix(".md").write_text(md)
    return md


if __name__ == "__main__":
    name = sys.argv[1]
    if "--card-only" not in sys.argv:
        iwae = int(sys.argv[sys.argv.index("--iwae-images") + 1]) if "--iwae-images" in sys.argv else 1000
        res = evaluate_model(name, n=1000, write=True, iwae_images=iwae)
        print(json.dumps(res, indent=1), flush=True)
        load.cache_clear()
        model = load(name)
        if hasattr(model.net, "log_likelihood"):
            ref_file = anomaly.reference_path(model_paths()[name])
            ref = anomaly.build_reference(model.net, test_data("mnist").images[:ANOMALY_IMAGES], data="mnist test")
            ref_file.write_text(json.dumps(ref))
            print("anomaly reference", {k: v for k, v in ref.items() if k != "quantiles"}, flush=True)
    print(write_card(name))
