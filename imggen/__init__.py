"""imggen: classic image generators (GANs, VAEs, ...) with one training loop, metrics and a Gradio studio.

Public API (images are float tensors (N, C, H, W) in [0, 1]):
    imggen.list_models()                 -> {name: card}
    imggen.load(name_or_path)            -> LoadedModel with .sample(n, seed=...), family-specific methods
    imggen.fit_prior(name, components)   -> fit a DCGAN's latent mixture prior and write its checkpoint
    imggen.load_data(name, split=...)    -> ImageData (tensors in [-1, 1])
    imggen.train(family, data, cfg)      -> iterator of TrainEvent
"""
__version__ = "0.1.0"

from .data import load_data  # noqa: E402
from .registry import build, fit_prior, list_models, load, register  # noqa: E402
from .train import TrainConfig, TrainEvent, train  # noqa: E402
from .complete import complete  # noqa: E402
from .interpolate import interpolate  # noqa: E402

__all__ = ["__version__", "build", "complete", "fit_prior", "interpolate", "list_models", "load", "load_data", "register", "train", "TrainConfig", "TrainEvent"]
