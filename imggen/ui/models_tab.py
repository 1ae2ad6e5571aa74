"""Models tab: every registered model (plus the metric classifier) with its card."""
from __future__ import annotations

import math
from pathlib import Path

import gradio as gr
import pandas as pd
from safetensors import safe_open

from .. import checkpoint, families, registry

TITLE = "Models"
ID = "models"

CLASSIFIER = "classifier-mnist"
COLUMNS = ["model", "family", "data", "parameters", "training time", "hardware", "key metrics"]
KEY_METRICS = ("fd", "fd_ratio", "coverage", "confident_fraction", "precision", "recall", "label_accuracy",
               "swd", "iwae_nll", "nll_nats", "recon_mse", "test_accuracy")


def _count_params(path: str | Path) -> int:
    """Number of weights in a safetensors file, read from its header only."""
    with safe_open(str(path), framework="pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def all_cards() -> dict[str, dict]:
    """name -> card for every registered model, then the shipped classifier (used by the metrics)."""
    cards = registry.list_models()
    clf = registry.CHECKPOINT_DIR / f"{CLASSIFIER}.safetensors"
    if clf.exists():
        try:
            meta = checkpoint.read_metadata(clf)
            cards[CLASSIFIER] = {"family": meta["family"], "path": str(clf), "config": meta["config"],
                                 "metrics": meta["metrics"], "recipe": meta["recipe"], **meta["card"]}
        except checkpoint.CheckpointError:
            pass
    for card in cards.values():
        if "parameters" not in card:
            try:
                card["parameters"] = _count_params(card["path"])
            except Exception:  # an unreadable file keeps an empty cell rather than hiding the row
                card["parameters"] = None
    return cards


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def _fmt_params(n) -> str:
    if not n:
        return "?"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def _fmt_time(s) -> str:
    if s is None:
        return "?"
    s = float(s)
    return f"{s:.0f} s" if s < 90 else (f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h")


def _train_time(c: dict) -> str:
    """Total training time: the recipe's (summed over resumed sessions) when present, else the card's (which a
    resumed run writes for its last session only)."""
    r = c.get("recipe") or {}
    t = _fmt_time(r.get("train_seconds", c.get("train_seconds")))
    return f"{t} in {r['sessions']} sessions" if (r.get("sessions") or 1) > 1 else t


def _hardware(c: dict) -> str:
    """The card's hardware ("CPU, 1 threads" in cards written before device.describe said "1 thread")."""
    return str(c.get("hardware", "?")).replace("CPU, 1 threads", "CPU, 1 thread")


def table(cards: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per model: the overview shown at the top of the tab."""
    cards = all_cards() if cards is None else cards
    rows = []
    for name, c in cards.items():
        m = c.get("metrics", {})
        key = ", ".join(f"{k}={_fmt(m[k])}" for k in KEY_METRICS if isinstance(m.get(k), (int, float)))
        rows.append([name, c["family"], c.get("data", "?"), _fmt_params(c.get("parameters")),
                     _train_time(c), _hardware(c), key])
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(card: dict) -> str:
    """What the model is: the card's own description, else the first paragraph of its family's docstring."""
    if card.get("description"):
        return card["description"]
    try:
        doc = families.get(card["family"]).model.__doc__ or ""
    except (KeyError, ValueError):  # an unknown family still gets its card
        return ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def recipe(card: dict) -> dict:
    """The card's training recipe without the settings its family's trainer does not use (GAN losses for a VAE,
    optimiser settings for the random forest; "beta" is the VAEs' KL weight)."""
    try:
        drop = families.get(card.get("family", "")).unused_train_keys
    except ValueError:  # a family this version does not know: show everything
        drop = ()
    return {k: v for k, v in (card.get("recipe") or {}).items() if k not in drop}


def card_markdown(name: str | None, cards: dict[str, dict] | None = None) -> str:
    """The full card of one model as Markdown (metrics table, config, recipe)."""
    cards = all_cards() if cards is None else cards
    if not name:
        return "No model selected." if cards else "No models registered yet."
    if name not in cards:
        raise gr.Error(f"Unknown model {name!r}. Known: {', '.join(cards) or 'none'}.")
    c = cards[name]
    about = summary(c)
    lines = [f"## {name}", "", *([about, ""] if about else [])]
    lines += ["| property | value |", "|---|---|",
              f"| family | `{c['family']}` |",
              f"| data | {c.get('data', '?')} |",
              f"| parameters | {_fmt(c.get('parameters'))} ({_fmt_params(c.get('parameters'))}) |",
              f"| training time | {_train_time(c)} |",
              f"| hardware | {_hardware(c)} |",
              *([f"| last training run | {c['status']} |"] if c.get("status") else []),
              f"| file | `{Path(c['path']).name}` |", ""]
    for title, d in (("Metrics", c.get("metrics", {})), ("Config", c.get("config", {})),
                     ("Training recipe", recipe(c))):
        lines += [f"### {title}", ""]
        if not d:
            lines += ["(none recorded)", ""]
            continue
        lines += ["| key | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in d.items()] + [""]
    return "\n".join(lines)


def refresh(current: str | None = None):
    """Re-read the registry (models trained while the app runs appear): (table, dropdown, card)."""
    cards = all_cards()
    names = list(cards)
    value = current if current in cards else (names[0] if names else None)
    return table(cards), gr.Dropdown(choices=names, value=value), card_markdown(value, cards)


def render() -> None:
    cards = all_cards()
    names = list(cards)
    gr.Markdown("Every model the app can use, with the card written when it was trained and the metrics "
                "measured on held-out data (FD is reported next to its real-vs-real floor).")
    overview = gr.Dataframe(value=table(cards), headers=COLUMNS, interactive=False, wrap=True,
                            label="Registered models", elem_id="models-table")
    with gr.Row(equal_height=True):
        pick = gr.Dropdown(choices=names, value=names[0] if names else None, label="Model card",
                           elem_id="models-pick", scale=8)
        btn = gr.Button("↻ Refresh", size="sm", scale=0, min_width=120, elem_id="models-refresh")
    card = gr.Markdown(card_markdown(pick.value, cards), elem_id="models-card")
    btn.click(refresh, pick, [overview, pick, card], api_name="models_refresh")
    pick.change(card_markdown, pick, card, api_name="model_card")
