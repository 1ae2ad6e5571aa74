"""Model cards (imggen.cards, `imggen card`): one writer for every checkpoint; shipped cards match it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from imggen import cards, checkpoint

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = cards.shipped()


def _header(text: str) -> dict:
    assert text.startswith("---\n"), "a card starts with its YAML header"
    return yaml.safe_load(text.split("---\n")[1])


def test_every_shipped_checkpoint_has_a_card():
    assert {"classifier-mnist", "dcgan-mnist", "vae-mnist"} <= set(SHIPPED)
    assert sorted(p.stem for p in (ROOT / "checkpoints").glob("*.md")) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_is_what_the_writer_writes_now(name):
    """A card never drifts from its checkpoint's metadata or the benchmarks: regenerate with
    `python -m imggen card --all` after `imggen eval --write`, a new bench run or a retrain."""
    path = ROOT / "checkpoints" / f"{name}.safetensors"
    text = (ROOT / "checkpoints" / f"{name}.md").read_text()
    assert text == cards.card_text(path), f"checkpoints/{name}.md is stale: run python -m imggen card --all"
    assert len(text.splitlines()) <= cards.MAX_LINES
    head = _header(text)
    assert head["license"] == "mit" and head["datasets"] in (["mnist"], ["emoji32"], ["emoji64"])
    assert {"imggen", checkpoint.read_metadata(path)["family"]} <= set(head["tags"]) and head["metrics"]
    for section in ("## Config", "## Data", "## How to reproduce", "## Held-out metrics", "## Recommended sampling",
                    "## Limits"):
        assert f"\n{section}\n" in text, section
    assert f"python -m imggen card {name} --write" in text
    meta = checkpoint.read_metadata(path)
    if meta["card"].get("reproduce"):  # trained and measured by a script (scripts/train_emoji.py): its commands
        assert all(cmd in text for cmd in meta["card"]["reproduce"])
    elif name != "classifier-mnist":  # trained by scripts/train_classifier.py, not the training loop
        assert f"python -m imggen train {meta['family']} --data mnist" in text


def test_cards_quote_the_stored_metrics_and_sampling():
    meta = checkpoint.read_metadata(ROOT / "checkpoints" / "dcgan-mnist.safetensors")
    text = (ROOT / "checkpoints" / "dcgan-mnist.md").read_text()
    assert f"**{meta['metrics']['fd']:.3f}**" in text and f"{meta['metrics']['precision']:.3f}" in text
    keep = meta["card"]["sampling"]["keep"]
    assert f'sample(16, seed=0, keep={keep})' in text and "(`jacobian.json`)" in text
    assert "python -m imggen fit-prior checkpoints/dcgan-mnist.safetensors --components 300" in text
    assert "[docs/model-history.md](../docs/model-history.md#dcgan-mnist)" in text
    history = (ROOT / "docs" / "model-history.md").read_text()
    assert "\n## dcgan-mnist\n" in history and "Four continuations side by side" in history


def test_reproduce_lists_each_phase_with_the_steps_it_trained():
    """Warm-started checkpoints: one `imggen train` per phase, from either history layout."""
    meta = checkpoint.read_metadata(ROOT / "checkpoints" / "pixelgpt-mnist.safetensors")  # per-phase history
    cmds = cards.reproduce(meta, "out.safetensors", "x")
    assert "--max-steps 7000 --time-limit 6000" in cmds[0] and "--lr 0.001" in cmds[0] and "--init" not in cmds[0]
    assert "--max-steps 700 " in cmds[1] and "--lr 0.0004" in cmds[1] and "--init out.safetensors" in cmds[1]
    meta = checkpoint.read_metadata(ROOT / "checkpoints" / "cgan-mnist.safetensors")  # cumulative history
    steps = [p["steps"] for p in cards.phases(meta["recipe"], meta["card"])]
    assert steps == [11226, 5375] and sum(steps) == meta["recipe"]["steps"]
    cmds = cards.reproduce(meta, "o", "x")
    assert "--max-steps 11226" in cmds[0] and "--config '{\"blocks\": 1}'" in cmds[0] and "--max-steps 5375" in cmds[1]


def _row(keep, fd, conf, **kw):
    return {"keep": keep, "refine_steps": 0, "fd": fd, "fd_floor": 0.1, "fd_ratio": fd / 0.1, "coverage": 10,
            "confident_fraction": conf, **kw}


def test_keep_counts_as_meeting_the_targets_only_when_every_draw_does():
    pool = [_row(1.0, 0.2, 0.86), _row(0.65, 0.28, 0.952), _row(0.5, 0.5, 0.97)]
    direct = [_row(0.65, 0.29, 0.951, seed=1), _row(0.65, 0.29, 0.953, seed=2)]
    assert cards.keep_verdict(pool, direct) == ([pool[1], *direct], True)
    text = cards.verdict_line(pool, direct)
    assert "every target" in text and "`keep=0.65`" in text and "95.20 / 95.10 / 95.30 % confident" in text
    assert "(the pool first, then seeds 1, 2)" in text
    text = cards.verdict_line(pool, [_row(0.65, 0.31, 0.951, seed=1), _row(0.5, 0.5, 0.97, seed=1)])
    assert "No setting meets every target" in text and "`keep=0.65`" in text
    assert "95.20 / 95.10 % confident at FD 2.80 / 3.10×" in text and "FD ≤ 3× floor missed on 1 of 2" in text
    assert "classes missed" not in text and "confident missed" not in text
    assert cards.verdict_line(pool, []) == ""


@pytest.mark.slow
def test_cli_card_prints_writes_and_refuses_nonsense(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "imggen", "card", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    r = cli("vae-mnist")
    assert r.returncode == 0 and r.stdout == (ROOT / "checkpoints" / "vae-mnist.md").read_text()
    assert cli().returncode != 0 and "give a model NAME or --all" in cli().stderr
    r = cli("no-such-model")
    assert r.returncode != 0 and "unknown model" in r.stderr


def test_training_writes_the_card_of_a_fresh_checkpoint(tmp_path, capsys):
    """`imggen train` writes NAME.md beside the checkpoint; the card's reproduce command names the run's own
    settings, and `imggen card PATH --write` rewrites the same text."""
    from imggen.__main__ import main

    out = tmp_path / "tiny-vae.safetensors"
    main(["train", "vae", "--data", "mnist5k", "--limit", "64", "--batch-size", "16", "--max-steps", "3",
          "--lr", "1e-3", "--config", json.dumps({"hidden": 8, "fc_dim": 16, "latent_dim": 4}),
          "--train-config", '{"eval_samples": 0, "num_grid": 4}', "--out", str(out)])
    md = tmp_path / "tiny-vae.md"
    assert f"saved {out} and its card {md}" in capsys.readouterr().out
    text = md.read_text()
    assert len(text.splitlines()) <= cards.MAX_LINES and _header(text)["tags"][:2] == ["imggen", "vae"]
    assert ("python -m imggen train vae --data mnist5k --limit 64 --max-steps 3 --batch-size 16 --lr 0.001 "
            "--config '{\"latent_dim\": 4, \"hidden\": 8, \"fc_dim\": 16}'") in text
    assert f'imggen.load("{out}").sample(16, seed=0)' in text
    assert "None stored yet: `python -m imggen eval" in text  # no held-out metrics before `imggen eval --write`
    md.unlink()
    main(["card", str(out), "--write"])
    assert md.read_text() == text


def test_candidates_start_cites_its_bench_rows():
    """A card recommending the best of k by D quotes bench/candidates.py's plain and best-of-k rows."""
    from imggen.cards import candidates_line

    row = {"model": "m", "fd_ratio": 3.7, "precision": 0.84, "recall": 0.6, "label_accuracy": 0.585, "grid16_ms": 13}
    res = {"seeds": [0, 1], "rows": [{**row, "candidates": 1},
                                     {**row, "candidates": 8, "label_accuracy": 0.7, "grid16_ms": 90}]}
    line = candidates_line("m", 8, res)[1]
    assert line.startswith("Plain sampling: 58.5 % read as the asked class, FD 3.70×")
    assert "the best of 8 by D: 70.0 % read as the asked class" in line and "mean of seeds 0, 1" in line
    assert candidates_line("m", 4, res) == [] and candidates_line("other", 8, res) == []
