"""Phase history of a warm-started run, recorded one way: the loop folds it into the recipe of every checkpoint
it writes (``imggen train --init``, the Train tab's "continue", scripts), so the file is written once."""
from __future__ import annotations

from dataclasses import dataclass, field

PHASE_KEYS = ("steps", "epochs", "train_seconds", "lr", "batch_size", "max_steps", "time_limit_s")


@dataclass(frozen=True)
class WarmStart:
    """Where a run's starting weights came from: ``name`` (the model name or path it was given) and ``recipe``
    (that checkpoint's recipe, with its own history when it was warm-started too)."""
    name: str
    recipe: dict = field(default_factory=dict)


def with_history(recipe: dict, init: WarmStart) -> dict:
    """``recipe`` (this phase, as the loop records it) plus totals over every phase and each phase's settings
    under "history" (the first phase's taken from the recipe it started from when that had no history)."""
    before = init.recipe
    history = before.get("history", [{k: before.get(k) for k in PHASE_KEYS}]) + [{k: recipe.get(k) for k in PHASE_KEYS}]
    return {**recipe, "history": history, "init": str(init.name), "sessions": len(history),
            "steps": sum(int(h.get("steps") or 0) for h in history),
            "epochs": round(sum(float(h.get("epochs") or 0) for h in history), 3),
            "train_seconds": round(sum(float(h.get("train_seconds") or 0) for h in history), 1)}
