"""Model families and named models: one explicit dict per concern (diffusers AUTO_*_MAPPING)."""
from __future__ import annotations

import copy
import functools
import re
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable
from dataclasses import asdict, fields
from pathlib import Path

import torch

from . import checkpoint
from .convert import from01, to01
from .device import pick_device

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a model name: also a file name, never a path
_USER_MODELS: dict[tuple[str | None, str], Path] = {}  # (owner, name) -> path: models trained in this process
_PUBLIC: dict[str, Path] = {}  # name -> path: models their owners published to every visitor
_lock = threading.Lock()
_owner_of_request: Callable[[], tuple[bool, str | None]] = lambda: (False, None)


# ---- workspaces: whose models a name can mean ----------------------------------------------------------
def set_visitor_resolver(fn: Callable[[], tuple[bool, str | None]]) -> None:
    """Install ``fn() -> (in a visitor's request, owner)``; the app passes the browser session of the request
    being served (the core never imports gradio). Inside a visitor's request, names resolve to the shipped
    models, that visitor's own and published ones, and never to a file path."""
    global _owner_of_request
    _owner_of_request = fn


_acting: ContextVar[tuple[bool, str | None] | None] = ContextVar("imggen_acting_as", default=None)


@contextmanager
def acting_as(owner: str | None):
    """``with acting_as(owner):`` resolve names as that visitor's request would (tests, scripts)."""
    token = _acting.set((True, owner))
    try:
        yield
    finally:
        _acting.reset(token)


def _visitor() -> tuple[bool, str | None]:
    return _acting.get() or _owner_of_request()


def current_owner() -> str | None:
    """The workspace of the request being served (None: the process's own, e.g. the CLI or a script)."""
    return _visitor()[1]


def __getattr__(name: str):
    # FAMILIES (family -> its entry) and SAMPLER_DEFAULTS live in imggen/families.py, the one family table; it
    # imports every model and trainer, so it is imported on first use and `import imggen` stays light
    if name in ("FAMILIES", "SAMPLER_DEFAULTS"):
        from . import families

        return getattr(families, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def family_classes(family: str) -> tuple[type, type]:
    """(ConfigClass, ModelClass) of a family (its entry in :data:`imggen.families.FAMILIES`)."""
    from . import families

    f = families.get(family)
    return f.config, f.model


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


_NO_OWNER = object()


def model_paths(owner=_NO_OWNER) -> dict[str, Path]:
    """Every generative model a name can mean for ``owner`` (default: the current visitor, see
    :func:`set_visitor_resolver`): published models, those the hosting process registered itself (owner None:
    the CLI, scripts, tests), the owner's own, then the shipped checkpoints, which no other name shadows."""
    owner = current_owner() if owner is _NO_OWNER else owner
    with _lock:
        out = dict(_PUBLIC)
        out.update({n: p for (o, n), p in _USER_MODELS.items() if o is None})
        out.update({n: p for (o, n), p in _USER_MODELS.items() if o == owner})
    out.update({k: v for k, v in _shipped().items() if k != "classifier-mnist"})
    return out


def check_name(name: str) -> str:
    """A valid model name (letters, digits, '-', '_', '.'; never a path) that no shipped model has."""
    if not NAME_RE.match(name or ""):
        raise ValueError(f"model name {name!r}: letters, digits, '-', '_' and '.' only (at most 64), e.g. my-dcgan")
    if name in _shipped():
        raise ValueError(f"'{name}' is the name of a shipped model; pick another name")
    return name


def register(name: str, path: str | Path, owner=_NO_OWNER) -> None:
    """Make a freshly trained checkpoint loadable by ``name`` in ``owner``'s workspace (default: the current
    visitor's; None = the process's own). Shipped names are refused."""
    owner = current_owner() if owner is _NO_OWNER else owner
    check_name(name)
    checkpoint.read_metadata(path)  # refuse anything that is not an imggen checkpoint
    with _lock:
        _USER_MODELS[(owner, name)] = Path(path)


def unregister(name: str, owner=_NO_OWNER) -> Path | None:
    """Forget ``owner``'s model ``name`` (its file stays); the path it had, if any."""
    owner = current_owner() if owner is _NO_OWNER else owner
    with _lock:
        return _USER_MODELS.pop((owner, name), None)


def workspace_models() -> dict[tuple[str | None, str], Path]:
    """(owner, name) -> path of every visitor's model (for clean-up)."""
    with _lock:
        return dict(_USER_MODELS)


def publish(name: str, public_name: str, public_dir: str | Path, owner=_NO_OWNER) -> str:
    """Copy ``owner``'s model ``name`` to ``public_dir`` as ``public_name``, loadable by every visitor from then
    on. Refused (ValueError) when the name is shipped or already published: nobody's model is replaced."""
    import shutil

    owner = current_owner() if owner is _NO_OWNER else owner
    check_name(public_name)
    with _lock:
        src = _USER_MODELS.get((owner, name))
        if src is None:
            raise ValueError(f"you have no model called {name!r} to publish (train one first)")
        dst = Path(public_dir) / f"{public_name}.safetensors"
        if public_name in _PUBLIC or dst.exists():
            raise ValueError(f"'{public_name}' is already published by someone; pick another name")
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
        _PUBLIC[public_name] = dst
    return public_name


def publish_file(path: str | Path) -> None:
    """Serve a checkpoint published earlier (found in the public folder at start) under its file name."""
    name = check_name(Path(path).name.removesuffix(".safetensors"))
    checkpoint.read_metadata(path)
    with _lock:
        _PUBLIC.setdefault(name, Path(path))


def unpublish(name: str) -> Path | None:
    with _lock:
        return _PUBLIC.pop(name, None)


def published() -> dict[str, Path]:
    with _lock:
        return dict(_PUBLIC)


def resolve(name_or_path: str | Path, owner=_NO_OWNER) -> Path:
    """The checkpoint a name means for ``owner``. A file path is accepted only outside visitors' requests
    (the CLI, scripts): the app never loads a path a visitor typed."""
    in_request, current = _visitor()
    paths = model_paths(current if owner is _NO_OWNER else owner)
    if str(name_or_path) in paths:
        return paths[str(name_or_path)]
    if not in_request and Path(name_or_path).is_file():
        return Path(name_or_path)
    raise ValueError(f"unknown model {str(name_or_path)!r}; pick one of: {', '.join(paths) or 'none'}")


def list_models(family: str | None = None, owner=_NO_OWNER) -> dict[str, dict]:
    """name -> card (family, data, parameters, training time, metrics) for every model ``owner`` can load."""
    out = {}
    for name, path in model_paths(owner).items():
        try:
            meta = checkpoint.read_metadata(path)
        except checkpoint.CheckpointError:
            continue
        if family and meta["family"] != family:
            continue
        out[name] = {"family": meta["family"], "path": str(path), "config": meta["config"],
                     "metrics": meta["metrics"], "recipe": meta["recipe"], **meta["card"]}
    return out


def class_names(card: dict) -> tuple[str, ...]:
    """A conditional model's class names, one per class index, from a :func:`list_models` card: the card's
    ``classes`` (the training loop stores a labelled dataset's names), else those of the built-in data it was
    trained on (``emoji32``: the emoji categories), else "0", "1", ... (digits); () for an unconditional model."""
    n = int((card.get("config") or {}).get("num_classes", 0) or 0)
    names = card.get("classes")
    if not names and card.get("data"):
        from .data import builtin_classes

        names = builtin_classes(card["data"])
    names = tuple(map(str, names or ()))
    return names if n and len(names) == n and len(set(names)) == n else tuple(str(i) for i in range(n))


class LoadedModel:
    """A model ready for inference; the public API speaks images in [0, 1] and seeds."""

    def __init__(self, net: torch.nn.Module, name: str, meta: dict, key: tuple = ()):
        self.net, self.name, self.meta, self.key = net.eval(), name, meta, key  # key: see file_key
        self.family = meta["family"]
        self.config = net.config
        self.card = {**meta["card"], "metrics": meta["metrics"], "recipe": meta["recipe"]}

    def renamed(self, name: str) -> "LoadedModel":
        """The same loaded network under another name (a visitor's name for a shared file)."""
        other = copy.copy(self)
        other.name = name
        return other

    @property
    def classes(self) -> tuple[str, ...]:
        """Its class names (:func:`class_names`; () when unconditional)."""
        return class_names({**self.meta["card"], "config": self.meta["config"]})

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
    if Path(path).resolve().parent != CHECKPOINT_DIR:  # shipped files are ours; every other config is untrusted
        checkpoint.check_config(meta["family"], meta["config"], path)  # ... and checked before any real network
    net = build(meta["family"], **meta["config"])
    checkpoint.load_weights(net, path)
    return net


def warm_start(path: str | Path, family: str, num_classes: int | None = None) -> tuple[torch.nn.Module, dict]:
    """(module with the checkpoint's weights, its metadata) to train on; ValueError unless it is a ``family``
    checkpoint. ``num_classes`` (a recipe's finer labelling, e.g. emoji category -> category and style) splits a
    conditional GAN's classes (``CGAN.split_classes``). Pass ``imggen.training.WarmStart(name, meta["recipe"])``
    to ``train(init=...)`` so the new checkpoint's recipe keeps every phase."""
    meta = checkpoint.read_metadata(path)
    if meta["family"] != family:
        raise ValueError(f"{path} is a {meta['family']} checkpoint, not {family}")
    model = from_checkpoint(path, meta)
    have = getattr(model, "num_classes", None)
    if num_classes and have and num_classes != have:
        if num_classes % have or not hasattr(model, "split_classes"):
            raise ValueError(f"{path} has {have} classes; it cannot be split into {num_classes}")
        model = model.split_classes(num_classes // have)
    return model, meta


def file_key(path: str | Path) -> tuple:
    """(path, mtime, size): the key of anything cached per checkpoint, so a rewritten file is never served stale."""
    st = Path(path).stat()
    return str(Path(path).resolve()), st.st_mtime_ns, st.st_size


def load(name_or_path: str, device: str | None = None, owner=_NO_OWNER) -> LoadedModel:
    """Load a model by name (see :func:`resolve`), or any imggen safetensors checkpoint by path (outside a
    visitor's request). Cached per file version: a retrained or refitted file is read again."""
    path = resolve(name_or_path, owner)
    model = _load_file(file_key(path), device)
    name = str(name_or_path) if str(name_or_path) in model_paths(current_owner() if owner is _NO_OWNER
                                                                  else owner) else model.meta["name"]
    return model if model.name == name else model.renamed(name)


@functools.lru_cache(maxsize=16)
def _load_file(key: tuple, device: str | None) -> LoadedModel:
    meta = checkpoint.read_metadata(key[0])
    net = from_checkpoint(key[0], meta)
    return LoadedModel(net.to(pick_device(device)), meta["name"], meta, key)


def _clear_cache() -> None:
    _load_file.cache_clear()


load.cache_clear = _clear_cache  # the old spelling, kept for callers that reset the cache


def fit_prior(name_or_path: str, components: int = 100, samples: int = 100_000, *, seed: int = 0,
              out: str | Path | None = None, device: str | None = None, progress=None,
              measure=None, data=None) -> tuple[Path, dict]:
    """Fit a checkpoint's latent mixture prior and write the checkpoint to ``out`` (default: its own file, so the
    name loads with the mixture from then on): a DCGAN's to its generator (:meth:`DCGAN.fit_prior`), a VAE's to
    the aggregate posterior of its training images (:meth:`VAE.fit_prior`; ``data``, default: the data set its
    recipe names). Only prior buffers and metadata change. The card records the fit under "prior"; the old
    metrics described the old prior, so they are replaced by ``measure(net)`` when given, else cleared
    (``imggen eval --write`` measures them again). Returns (path written, fit info)."""
    import inspect

    model = load(name_or_path, device=device)
    if not hasattr(model.net, "fit_prior"):
        raise ValueError(f"{name_or_path} is a {model.family} model: a fitted latent mixture is for DCGANs and "
                         "VAEs")
    net, meta = copy.deepcopy(model.net), model.meta  # the cached model stays as it was until the file changes
    kw = {}
    if "images" in inspect.signature(net.fit_prior).parameters:  # fitted to data, not to the model's own samples
        if data is None:
            from .data import load_data

            data = load_data(meta["recipe"].get("data") or "mnist", split="train", image_size=net.config.image_size,
                             channels=net.config.channels)
        kw = {"images": data.images, "labels": getattr(data, "labels", None)}
    info = net.fit_prior(components, samples, seed=seed, progress=progress, **kw)
    metrics = measure(net) if measure else {}
    path = checkpoint.save(net.cpu(), out or resolve(name_or_path), family=meta["family"],
                           config=asdict(net.config), name=meta["name"], recipe=meta["recipe"],
                           card={**meta["card"], "prior": info}, metrics=metrics)
    return path, info
