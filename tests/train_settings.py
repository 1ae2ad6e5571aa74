"""The Train tab's start_training arguments for tiny runs, shared by the tests that train through the tab."""
from imggen.ui import train_tab as tt


def settings(**over) -> dict:
    """A tiny DCGAN on 256 MNIST images: 4 steps per epoch (``over`` replaces any setting, the family too)."""
    kw = dict(family="DCGAN", data_source=tt.DATA_5K, zip_file=None, image_size=28, color="grayscale", max_images=256,
              epochs=2, batch_size=64, lr=2e-4, lr_d=2e-4, latent_dim=16, width=8, loss="hinge", spectral_norm=True,
              ema=True, augment=False, d_steps=1, beta=1.0, seed=0, grid_every=0, name="tiny-train")
    kw.update(over)
    return kw
