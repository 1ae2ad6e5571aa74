"""Training: the loop (``loop``), the family trainers (``trainers``; ``make_trainer`` finds a model's through
imggen/families.py), mixed precision (``precision``), warm-start phase history (``history``) and named recipes
(``recipes``). The losses stay in ``imggen.losses``. The trainers import every family's module, so they are
imported from ``trainers`` itself, on first use (``import imggen`` stays light)."""
from .history import WarmStart
from .loop import Callback, Snapshot, TrainConfig, TrainEvent, TrainState, train
from .precision import Precision

__all__ = ["Callback", "Precision", "Snapshot", "TrainConfig", "TrainEvent", "TrainState", "WarmStart", "train"]
