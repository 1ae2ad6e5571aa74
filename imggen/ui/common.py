"""Shared UI helpers: model pickers fed by the registry, seed row, PNG outputs with recipes, error conversion."""
from __future__ import annotations

import functools
import inspect
import random
import uuid
from contextlib import contextmanager
from typing import Callable, Iterable

import gradio as gr
import torch

from .. import registry
from ..checkpoint import CheckpointError
from ..convert import grid, to_pil
from ..preprocess import ImageInputError

MAX_SEED = 2**31 - 1
_ON_LOAD: list[tuple[Callable, list, list]] = []  # (fn, inputs, outputs) wired to demo.load by build_app


# ---- errors -----------------------------------------------------------------------------------------------
USER_ERRORS = (ValueError, ImageInputError, CheckpointError)  # the last two subclass ValueError; listed for clarity


def _to_gr_error(e: Exception) -> gr.Error:
    if isinstance(e, torch.OutOfMemoryError):
        return gr.Error("Out of memory: try fewer samples or a smaller model.")
    return gr.Error(str(e) or type(e).__name__)


@contextmanager
def user_errors():
    """``with user_errors():`` turns ValueError/ImageInputError/CheckpointError (and OOM) into gr.Error."""
    try:
        yield
    except gr.Error:
        raise
    except (*USER_ERRORS, torch.OutOfMemoryError) as e:
        raise _to_gr_error(e) from e


def handle_errors(fn: Callable) -> Callable:
    """Decorator version of :func:`user_errors`; keeps generators streaming and the signature (gr.Progress)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            with user_errors():
                yield from fn(*args, **kwargs)
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with user_errors():
            return fn(*args, **kwargs)
    return wrapper


# ---- model pickers ----------------------------------------------------------------------------------------
def _as_set(v) -> set | None:
    if v is None:
        return None
    return {v} if isinstance(v, str) else set(v)


def model_choices(family: str | Iterable[str] | None = None, capability: str | Iterable[str] | None = None,
                  conditional: bool | None = None, owned: bool = False) -> list[str]:
    """Names of registered models, filtered by family, by methods the net must have (e.g. "decode",
    "encode", "reconstruct", "discriminate", "log_likelihood"; "decode|complete" = either), and by
    conditionality (num_classes > 0)."""
    fams, caps = _as_set(family), _as_set(capability)
    out = []
    mine = {n for (o, n) in registry.workspace_models() if o == registry.current_owner()} if owned else None
    for name, card in registry.list_models().items():
        if mine is not None and name not in mine:
            continue
        fam = card["family"]
        if fams and fam not in fams:
            continue
        if caps:
            try:
                _, cls = registry.family_classes(fam)
            except (ValueError, ImportError, AttributeError):
                continue
            if not all(any(callable(getattr(cls, alt, None)) for alt in c.split("|")) for c in caps):
                continue
        if conditional is not None and (card["config"].get("num_classes", 0) > 0) != conditional:
            continue
        out.append(name)
    return out


def model_dropdown(label: str = "Model", *, family=None, capability=None, conditional: bool | None = None,
                   elem_id: str | None = None, prefer: tuple[str, ...] = (), owned: bool = False,
                   **kw) -> gr.Dropdown:
    """A model dropdown plus a ↻ (refresh) button; choices are re-read from the registry on page load, on refresh and
    when the dropdown gets focus, so models trained while the app runs appear everywhere. It opens on the first
    registered name in ``prefer`` (the tab's best shipped model), else on the first choice."""
    def first(choices):
        return next((p for p in prefer if p in choices), choices[0] if choices else None)

    def refresh(current=None):
        choices = model_choices(family, capability, conditional, owned)
        if isinstance(current, (list, tuple)):  # multiselect: keep the picks that still exist
            if all(c in choices for c in current):
                return gr.Dropdown(choices=choices)
            return gr.Dropdown(choices=choices, value=[c for c in current if c in choices])
        if current in choices:  # choices only: a pick made while this refresh was on its way stays picked
            return gr.Dropdown(choices=choices)
        return gr.Dropdown(choices=choices, value=first(choices))

    choices = model_choices(family, capability, conditional, owned)
    with gr.Row(equal_height=True):
        kw.setdefault("value", [] if kw.get("multiselect") else first(choices))
        # custom values let API callers name models trained after the app was built; require_model() checks them
        dd = gr.Dropdown(choices=choices, label=label, elem_id=elem_id, allow_custom_value=True, scale=8, **kw)
        btn = gr.Button("↻", size="sm", scale=1, min_width=40,
                        elem_id=f"{elem_id}-refresh" if elem_id else None)
    btn.click(refresh, dd, dd, api_visibility="private", queue=False)
    dd.focus(refresh, dd, dd, api_visibility="private", queue=False)  # models trained meanwhile appear on open
    on_load(refresh, [dd], [dd])
    return dd


def on_load(fn: Callable, inputs: list, outputs: list) -> None:
    """Run ``fn`` when a browser opens the app (wired by ``build_app`` once all tabs are rendered)."""
    _ON_LOAD.append((fn, inputs, outputs))


def named(scope: dict) -> dict:
    """A tab's components by variable name (``named(locals())`` at the end of render()); a list/tuple of components
    ``xs`` gives ``xs0``, ``xs1``, ... — what the PNG restore (imggen/ui/restore.py) sets."""
    out = {}
    for k, v in scope.items():
        if isinstance(v, gr.blocks.Block):
            out[k] = v
        elif isinstance(v, (list, tuple)) and v and all(isinstance(c, gr.blocks.Block) for c in v):
            out.update({f"{k}{i}": c for i, c in enumerate(v)})
    return out


def visitor(request: gr.Request | None = None) -> tuple[bool, str | None]:
    """(serving a visitor's request, that visitor's workspace: the browser session, one per gradio_client
    Client). Read from the request Gradio is serving when not passed (installed as the registry's resolver)."""
    if request is None:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
    if request is None:
        return False, None
    owner = getattr(request, "session_hash", None)
    if not owner:  # a call without a session (e.g. /run/ with api_open): a workspace of its own, never a shared one
        owner = getattr(request, "_imggen_owner", None) or f"anonymous-{uuid.uuid4().hex}"
        setattr(request, "_imggen_owner", owner)
    return True, owner


def require_model(name: str | None) -> str:
    """The chosen model name, or a clear error when none is registered/selected."""
    if not name:
        raise gr.Error("No model selected: pick one (or train one in the Train tab), then try again.")
    if name not in registry.model_paths():  # names only: never load an arbitrary server path from the UI
        raise gr.Error(f"unknown model {name!r}: pick one from the list (or train one in the Train tab).")
    return name


# ---- seeds ------------------------------------------------------------------------------------------------
def seed_input(value: int = 0, *, elem_id: str | None = None, label: str = "Seed") -> gr.Number:
    """A seed number box with a 🎲 button that draws a random seed (in the browser, no round trip)."""
    with gr.Row(equal_height=True):
        seed = gr.Number(value=value, label=label, precision=0, minimum=0, maximum=MAX_SEED, elem_id=elem_id, scale=8)
        dice = gr.Button("🎲", size="sm", scale=1, min_width=40, elem_id=f"{elem_id}-dice" if elem_id else None)
    dice.click(None, None, seed, js=f"() => Math.floor(Math.random() * {MAX_SEED})", api_visibility="private",
               queue=False)
    return seed


def whole_number(value, what: str, lo: int, hi: int) -> int:
    """A whole number in [lo, hi] from a UI/API input (None = 0, floats truncated), else a gr.Error naming ``what``."""
    try:
        v = int(value or 0)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a whole number, not {value!r}.") from None
    if not lo <= v <= hi:
        raise gr.Error(f"{what} must be between {lo} and {hi}.")
    return v


def number(value, what: str, lo: float, hi: float, *, open_low: bool = False) -> float:
    """A number in [lo, hi] ((lo, hi] with ``open_low``) from a UI/API input, else a gr.Error naming ``what``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number, not {value!r}.") from None
    if not (lo < v if open_low else lo <= v) or not v <= hi:  # NaN fails both
        span = f"above {lo:g} and at most {hi:g}" if open_low else f"between {lo:g} and {hi:g}"
        raise gr.Error(f"{what} must be {span}, not {v:g}.")
    return v


def to_seed(value) -> int:
    """Number box value -> valid seed (None -> random, floats truncated, range checked)."""
    if value is None or value == "":
        return random.randint(0, MAX_SEED)
    return whole_number(value, "Seed", 0, MAX_SEED)


# ---- image outputs ----------------------------------------------------------------------------------------
def image_output(label: str, *, elem_id: str | None = None, **kw) -> gr.Image:
    """An output image component that keeps the PNG (and its recipe text chunks) intact."""
    kw.setdefault("buttons", ["download", "fullscreen"])
    return gr.Image(label=label, type="pil", format="png", interactive=False, elem_id=elem_id, **kw)


def png_output(img01: torch.Tensor, recipe: dict, *, scale: int = 4, nrow: int | None = None):
    """(C, H, W) or (N, C, H, W) in [0, 1] -> PIL PNG carrying ``recipe`` (grids for batches)."""
    if img01.ndim == 4:
        img01 = grid(img01, nrow=nrow) if img01.shape[0] > 1 else img01[0]
    return to_pil(img01, scale=scale, recipe=recipe)
