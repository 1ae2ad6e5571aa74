"""Train and ship checkpoints/classifier-mnist.safetensors on full MNIST (python scripts/train_classifier.py)."""
import argparse
import time
from dataclasses import asdict

import torch

from imggen import checkpoint
from imggen.data import load_data
from imggen.models.classifier import ClassifierConfig, fit

p = argparse.ArgumentParser()
p.add_argument("--data", default="mnist")
p.add_argument("--epochs", type=int, default=4)
p.add_argument("--out", default="checkpoints/classifier-mnist.safetensors")
a = p.parse_args()
tr, te = load_data(a.data, split="train"), load_data(a.data, split="test")
t0 = time.time()
cfg = ClassifierConfig()
model, acc = fit(tr.images, tr.labels, te.images, te.labels, epochs=a.epochs, config=cfg, log=print)
dt = time.time() - t0
model.eval()
checkpoint.save(model, a.out, family="classifier", name="classifier-mnist", config=asdict(cfg),
                metrics={"test_accuracy": acc, "test_set": f"{a.data} test ({len(te)} images)"},
                recipe={"epochs": a.epochs, "batch_size": 128, "optimizer": "AdamW 2e-3 one-cycle", "augment": "affine jitter",
                        "train_images": len(tr)},
                card={"description": "Digit classifier behind classifier-FD, coverage and confident fraction.",
                      "data": a.data, "train_seconds": round(dt, 1), "hardware": f"{torch.get_num_threads()} CPU threads"})
print(f"saved {a.out}: test accuracy {acc:.4f} in {dt:.0f}s")
