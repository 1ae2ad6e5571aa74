"""``imggen.train``: the training loop's public names, kept where README, CLI, jobs and tests import them. The loop
lives in imggen/training/loop.py, the trainers in imggen/training/trainers.py."""
from .training.loop import (CLI_TRAIN_DEFAULTS, Callback, Snapshot, TrainConfig, TrainEvent, TrainState, batch_for, check_labels,
                            evaluate, planned_steps, steps_per_epoch, train)

__all__ = ["CLI_TRAIN_DEFAULTS", "Callback", "Snapshot", "TrainConfig", "TrainEvent", "TrainState", "batch_for", "check_labels", "evaluate",
           "planned_steps", "steps_per_epoch", "train"]
