"""Model families and named models: one explicit dict per concern (diffusers AUTO_*_MAPPING)."""
from __future__ import annotations

import copy
import functools
import threading
from dataclasses import asdict, fields
from pathlib import Path

import torch

from . import checkpoint
from .convert import from01, to01
from .device import pick_device

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
_USER_MODELS: dict[str, Path] = {}  # models trained in this process (Training tab), name -> path
_lock = threading.Lock()


FAMILIES = {  # family -> (module under imggen.models, config class, model class)
    "classifier": ("classifier", "ClassifierConfig", "DigitClassifier"),
    "dcgan": ("gan", "DCGANConfig", "DCGAN"),
    "cgan": ("gan", "CGANConfig", "CGAN"),
    "ae": ("vae", "AEConfig", "AE"),
    "vae": ("vae", "VAEConfig", "VAE"),
    "cvae": ("vae", "CVAEConfig", "CVAE"),
    "vaegan": ("vae", "VAEGANConfig", "VAEGAN"),
    "arf": ("arf", "ARFConfig", "ARF"),
    "pixelgpt": ("gpt", "PixelGPTConfig", "PixelGPT"),
    "stylegan": ("stylegan", "StyleGANConfig", "StyleGAN"),
}


def family_classes(family: str) -> tuple[type, type]:
    """(ConfigClass, ModelClass) for a family, imported on first use so `import imggen` stays light."""
    import importlib

    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    mod, cfg, cls = FAMILIES[family]
    m = importlib.import_module(f"imggen.models.{mod}")
    return getattr(m, cfg), getattr(m, cls)


def build(family: str, **overrides) -> torch.nn.Module:
    """Construct a fresh model of ``family`` with config ``overrides`` (unknown keys are an error)."""
    cfg_cls, model_cls = family_classes(family)
    known = {f.name for f in fields(cfg_cls)}
    bad = set(overrides) - known
    if bad:
        raise ValueError(f"unknown config keys for {family}: {sorted(bad)}; known: {sorted(known)}")
    return model_cls(cfg_cls(**overrides))


def _shipped() -> dict[str, Path]:
    return {p.stem: p for p in sorted(CHECKPOINT_DIR.glob("*.safetensors"))}


def model_paths() -> dict[str, Path]:
    """Every loadable generative model: shipped checkpoints plus models trained in this session."""
    with _lock:
        out = {k: v for k, v in _shipped().items() if k != "classifier-mnist"}
        out.update(_USER_MODELS)
    return out


def register(name: str, path: str | Path) -> None:
    """Make a freshly trained checkpoint loadable by name in every tab."""
    checkpoint.read_metadata(path)  # refuse anything that is not an imggen checkpoint
    with _lock:
        _USER_MODELS[name] = Path(path)
    load.cache_clear()


def list_models(family: str | None = None) -> dict[str, dict]:
    """name -> card (family, data, parameters, training time, metrics) for every registered model."""
    out = {}
    for name, path in model_paths().items():
        try:
            meta = checkpoint.read_metadata(path)
        except checkpoint.CheckpointError:
            continue
        if family and meta["family"] != family:
            continue
        out[name] = {"family": meta["family"], "path": str(path), "config": meta["config"],
                     "metrics": meta["metrics"], "recipe": meta["recipe"], **meta["card"]}
    return out


SAMPLER_DEFAULTS = {"truncation": 1.0, "keep": 1.0, "refine_steps": 0}  # optional sampler settings: plain values


class LoadedModel:
    """A model ready for inference; the public API speaks images in [0, 1] and seeds."""

    def __init__(self, net: torch.nn.Module, name: str, meta: dict):
        self.net, self.name, self.meta = net.eval(), name, meta
        self.family = meta["family"]
        self.config = net.config
        self.card = {**meta["card"], "metrics": meta["metrics"], "recipe": meta["recipe"]}

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def generator(self, seed: int) -> torch.Generator:
        """A CPU generator whatever the model's device: the same seed gives the same image on CPU and GPU."""
        return torch.Generator().manual_seed(int(seed))

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, **kw) -> torch.Tensor:
        """(n, C, H, W) in [0, 1]; ``labels``/``truncation`` etc. are passed to the family's sampler."""
        return to01(self.net.sample(n, generator=self.generator(seed), **kw)).cpu()

    def __getattr__(self, item):
        # encode / decode / reconstruct / log_likelihood / discriminate: [0, 1] in, [0, 1] out where images
        net = self.__dict__.get("net")
        if net is None or not hasattr(net, item):
            raise AttributeError(f"{self.__dict__.get('family', '?')} model has no {item!r}")
        fn = getattr(net, item)
        if item == "reconstruct":
            return lambda x, *a, **k: to01(fn(from01(x).to(self.device), *a, **k)).cpu()
        if item in ("encode", "log_likelihood", "discriminate", "elbo"):
            return lambda x, *a, **k: fn(from01(x).to(self.device), *a, **k)
        if item == "decode":
            return lambda z, *a, **k: to01(fn(z.to(self.device), *a, **k)).cpu()
        return fn


def from_checkpoint(path: str | Path, meta: dict | None = None) -> torch.nn.Module:
    """A fresh module of a checkpoint's family and config holding its weights (on the CPU; not the cached one
    :func:`load` serves, so it may be trained)."""
    meta = meta or checkpoint.read_metadata(path)
    net = build(meta["family"], **meta["config"])
    checkpoint.load_weights(net, path)
    return net


def warm_start(path: str | Path, family: str) -> tuple[torch.nn.Module, dict]:
    """(module with the checkpoint's weights, its metadata) to train on; ValueError unless it is a ``family``
    checkpoint."""
    meta = checkpoint.read_metadata(path)
    if meta["family"] != family:
        raise ValueError(f"{path} is a {meta['family']} checkpoint, not {family}")
    return from_checkpoint(path, meta), meta


PHASE_KEYS = ("steps", "epochs", "train_seconds", "lr", "batch_size", "max_steps", "time_limit_s")


def record_phases(path: str | Path, before: dict, init: str) -> None:
    """A warm-started run's checkpoint at ``path``: its recipe gets totals over every phase and each phase's
    settings under "history" (``before``: the recipe of the checkpoint it started from, ``init``: that
    checkpoint's name or path)."""
    meta = checkpoint.read_metadata(path)
    rec = meta["recipe"]
    history = before.get("history", [{k: before.get(k) for k in PHASE_KEYS}]) + [{k: rec.get(k) for k in PHASE_KEYS}]
    checkpoint.update_metadata(path, from_checkpoint(path, meta), recipe={
        "history": history, "init": str(init), "sessions": len(history),
        "steps": sum(int(h.get("steps") or 0) for h in history),
        "epochs": round(sum(float(h.get("epochs") or 0) for h in history), 3),
        "train_seconds": round(sum(float(h.get("train_seconds") or 0) for h in history), 1)})


@functools.lru_cache(maxsize=16)
def load(name_or_path: str, device: str | None = None) -> LoadedModel:
    """Load a registered model by name, or any imggen safetensors checkpoint by path."""
    paths = model_paths()
    if name_or_path in paths:
        path = paths[name_or_path]
    elif Path(name_or_path).exists():
        path = Path(name_or_path)
    else:
        raise ValueError(f"unknown model {name_or_path!r}; registered: {', '.join(paths) or 'none'}")
    meta = checkpoint.read_metadata(path)
    net = from_checkpoint(path, meta)
    return LoadedModel(net.to(pick_device(device)), meta["name"] if name_or_path not in paths else name_or_path, meta)


def fit_prior(name_or_path: str, components: int = 100, samples: int = 100_000, *, seed: int = 0,
              out: str | Path | None = None, device: str | None = None, progress=None,
              measure=None) -> tuple[Path, dict]:
    """Fit a DCGAN checkpoint's latent mixture prior (:meth:`DCGAN.fit_prior`) and write the checkpoint to
    ``out`` (default: its own file, so the name loads with the mixture from then on). The card records the fit
    under "prior"; the old metrics described N(0, I) sampling, so they are replaced by ``measure(net)`` when
    given, else cleared (``imggen eval --write`` measures them again). Returns (path written, fit info)."""
    model = load(name_or_path, device=device)
    if not hasattr(model.net, "fit_prior"):
        raise ValueError(f"{name_or_path} is a {model.family} model: a fitted latent mixture is for DCGANs "
                         "(unconditional GANs)")
    net, meta = copy.deepcopy(model.net), model.meta  # the cached model stays as it was until the file changes
    info = net.fit_prior(components, samples, seed=seed, progress=progress)
    metrics = measure(net) if measure else {}
    path = checkpoint.save(net.cpu(), out or model_paths().get(name_or_path, name_or_path), family=meta["family"],
                           config=asdict(net.config), name=meta["name"], recipe=meta["recipe"],
                           card={**meta["card"], "prior": info}, metrics=metrics)
    load.cache_clear()
    return path, info
