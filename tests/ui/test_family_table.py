"""The family table (imggen/families.py) is the one place a family is described: a toy family added as one entry
is trained by the loop and shows up in the Train, Sample and Models tabs; no module outside the table tests a
family by name."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import imggen
from imggen import families, registry
from imggen.data import ImageData
from imggen.train import TrainConfig
from imggen.training import recipes
from imggen.ui import common, models_tab, sample
from imggen.ui import train_tab as tt

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ToyConfig:
    channels: int = 1
    image_size: int = 8
    latent_dim: int = 4  # the Train tab's "Latent size" reaches it


class ToyNet(nn.Module):
    """Toy linear decoder. A family made of one small file and one table entry."""

    def __init__(self, config: ToyConfig = ToyConfig()):
        super().__init__()
        self.config = c = config
        self.net = nn.Linear(c.latent_dim, c.channels * c.image_size ** 2)

    def sample(self, n, *, generator=None, labels=None, truncation=1.0):
        z = torch.randn(n, self.config.latent_dim, generator=generator) * truncation
        c = self.config
        return torch.tanh(self.net(z.to(self.net.weight.device))).view(-1, c.channels, c.image_size, c.image_size)


class ToyTrainer:
    def __init__(self, model, cfg, precision):
        self.model, self.opt = model, torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def step(self, x, y):
        loss = F.mse_loss(self.model.sample(len(x)), x.mean(0, keepdim=True).expand_as(x))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss/recon": loss.item()}

    def inference_model(self):
        return self.model


TOY = families.Family("toy", ToyConfig, ToyNet, ToyTrainer, "Toy decoder", plots=families.Plots(("loss/recon",)),
                      presets={"quick": {"epochs": 1}}, epochs_info="toy passes",
                      truncation_info="toy: the latent is scaled by truncation",
                      unused_train_keys=frozenset({"lr_d", "loss"}))


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The toy family in the table, and one trained toy model registered as 'toy-model'."""
    monkeypatch.setitem(families.FAMILIES, "toy", TOY)
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.rand(32, 1, 8, 8, generator=g) * 2 - 1, torch.full((32,), -1), "toy")
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, lr_d=1e-3, num_grid=4, eval_samples=0)
    events = list(imggen.train("toy", data, cfg, out=tmp_path / "toy-model.safetensors"))
    assert events[-1].kind == "end" and events[-1].step == 4
    registry.register("toy-model", events[-1].ckpt_path)
    yield "toy-model"
    registry.unregister("toy-model")


def test_a_toy_family_in_the_table_reaches_every_tab(toy):
    # Train: offered under its label, its preset, epochs note and config fields, its plots
    assert tt.family_labels()["Toy decoder"] == "toy"
    with gr.Blocks() as demo:
        tt.render()
    picker = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "train-family")
    assert "Toy decoder" in [c[0] for c in picker.choices]
    v = tt.preset_values("Toy decoder", tt.QUICK)
    assert v["epochs"] == 1 and tt._apply_preset("Toy decoder", tt.QUICK)[0].info == "toy passes"
    assert tt.model_overrides("toy", 6, 16, True) == {"latent_dim": 6}
    assert recipes.get("quick-toy").model == {"latent_dim": 32}
    # Sample: listed, its truncation slider with its own note, a seeded grid
    assert toy in common.model_choices()
    _, truncation, keep, refine, candidates = sample.model_options(toy)
    assert truncation.visible and truncation.info == TOY.truncation_info
    assert not keep.visible and not refine.visible and not candidates.visible
    assert "candidates" not in families.FAMILIES["dalle"].sampler_settings()  # ranked by a prompt: not a Sample setting
    x, recipe = sample.draw(toy, 4, 7, sample.RANDOM, 0.5)
    assert x.shape == (4, 1, 8, 8) and recipe["truncation"] == 0.5
    assert torch.equal(x, sample.draw(toy, 4, 7, sample.RANDOM, 0.5)[0])
    # Models: its row, its docstring as the summary, the keys its trainer ignores left off its recipe
    row = models_tab.table().set_index("model").loc[toy]
    assert row["family"] == "toy"
    text = models_tab.card_markdown(toy)
    assert "Toy linear decoder" in text and "`toy`" in text
    shown = models_tab.recipe(models_tab.all_cards()[toy])
    assert "lr" in shown and "lr_d" not in shown and "loss" not in shown


def test_no_family_is_tested_by_name_outside_the_table():
    """`family == "dcgan"`, `fam in ("dcgan", ...)`, lists of families and dicts keyed by family stay in
    imggen/families.py; everything else reads the table's fields."""
    names = set(families.FAMILIES)

    def strings(node) -> set:
        elts = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return {e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}

    bad = []
    for path in sorted((ROOT / "imggen").rglob("*.py")):
        if path.name == "families.py":
            continue
        src = path.read_text()
        where = f"{path.relative_to(ROOT)}"
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if (any("fam" in ast.get_source_segment(src, s) for s in sides)
                        and any(strings(s) & names for s in sides)):
                    bad.append(f"{where}:{node.lineno}: {ast.get_source_segment(src, node)}")
            elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(strings(node) & names) >= 3:
                bad.append(f"{where}:{node.lineno}: a list of family names")
            elif isinstance(node, ast.Dict) and len(set().union(*map(strings, filter(None, node.keys))) & names) >= 3:
                bad.append(f"{where}:{node.lineno}: a dict keyed by family names")
    assert not bad, "describe families in imggen/families.py:\n" + "\n".join(bad)
