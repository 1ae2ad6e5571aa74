"""The caption-image score (imggen/models/clip.py) and candidate ranking by it in the text -> image model: it learns
to match colours named in captions, its fit is seeded and leaves the global RNG alone, Dalle.sample keeps the
candidate it rates highest with the prompt as read, and the fitted score survives a checkpoint. Seconds."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from imggen import checkpoint, registry
from imggen.models.clip import CaptionImageScore, drop_fields, fit_score
from imggen.models.dalle import Dalle, DalleConfig, build_vocab
from tiny_gan import one_thread  # noqa: F401  (one_thread: an autouse fixture)

COLOURS = {"red": (1, -1, -1), "green": (-1, 1, -1), "blue": (-1, -1, 1), "yellow": (1, 1, -1)}
TINY = dict(hidden=8, codes=16, code_dim=8, n_layer=1, n_head=2, n_embd=16, text_len=12)


def squares(n_per: int = 8) -> tuple[torch.Tensor, list[str]]:
    """Coloured squares on white, captioned "<colour> square, geometric, noto"."""
    g = torch.Generator().manual_seed(0)
    x, caps = torch.ones(len(COLOURS) * n_per, 3, 32, 32), []
    for i, (name, rgb) in enumerate((k, v) for k, v in COLOURS.items() for _ in range(n_per)):
        a, b = torch.randint(2, 12, (2,), generator=g).tolist()
        x[i, :, a:a + 16, b:b + 16] = torch.tensor(rgb, dtype=torch.float)[:, None, None]
        caps.append(f"{name} square, geometric, noto")
    return x, caps


def test_the_score_learns_which_colour_a_caption_names():
    x, caps = squares()
    s = CaptionImageScore(256, dim=16, width=8)
    info = fit_score(s, x, caps, steps=60, batch_size=16, lr=5e-3)
    names = [f"{c} square" for c in COLOURS]  # short prompts (fields dropped in training)
    sim = s.embed_image(x) @ s.embed_text(names).T
    truth = torch.arange(len(COLOURS)).repeat_interleave(len(x) // len(COLOURS))
    assert (sim.argmax(1) == truth).float().mean() >= 0.9 and info["score_train_top1"] > 0


def test_the_fit_is_seeded_and_leaves_the_global_rng_alone():
    x, caps = squares(2)
    a, b = CaptionImageScore(128, 8, width=8), CaptionImageScore(128, 8, width=8)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    fit_score(a, x, caps, steps=3, batch_size=4, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    fit_score(b, x, caps, steps=3, batch_size=4, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="one caption per image"):
        fit_score(a, x, caps[:-1], steps=1)
    with pytest.raises(ValueError, match="width a multiple of 8"):
        CaptionImageScore(128, 8, width=12)
    with pytest.raises(ValueError, match="multiple of 8 px"):
        CaptionImageScore(128, 8, width=8, image_size=4)
    g = torch.Generator().manual_seed(0)
    assert drop_fields("cat face, animals, cat-face, noto", g, keep=1.0) == "cat face, animals, cat-face, noto"
    assert drop_fields("cat face, animals, cat-face, noto", g, keep=0.0) == "cat face"


def tiny_dalle() -> Dalle:
    x, caps = squares(2)
    torch.manual_seed(0)
    m = Dalle(DalleConfig(vocab=" ".join(build_vocab(caps)), **TINY)).eval()
    before = torch.random.get_rng_state()
    m.fit_scorer(x, caps, steps=2, buckets=128, dim=8, width=8)
    assert torch.equal(torch.random.get_rng_state(), before)  # seeded by its own generator
    return m


def test_candidates_are_the_ones_the_score_rates_highest_with_the_prompt_as_read(monkeypatch):
    m = tiny_dalle()
    seen = []

    def brightness(images, texts):  # a stand-in score: rank by mean brightness, record the texts
        seen.extend(texts)
        return images.mean((1, 2, 3))

    monkeypatch.setattr(m.scorer, "score", brightness)
    k, n = 4, 3
    best = m.sample(n, generator=torch.Generator().manual_seed(7), prompt="red square", candidates=k)
    every = m.sample(n * k, generator=torch.Generator().manual_seed(7), prompt="red square")  # the same draws
    pick = every.mean((1, 2, 3)).view(n, k).argmax(1) + torch.arange(n) * k
    assert torch.allclose(best, every[pick]) and seen == ["red square"] * (n * k)
    seen.clear()
    m.sample(2, generator=torch.Generator().manual_seed(7), prompt="red square", candidates=1)
    assert not seen  # one candidate: nothing to rank


def test_a_fitted_score_survives_a_checkpoint_and_bad_configs_are_refused(tmp_path):
    m = tiny_dalle()
    path = checkpoint.save(m, tmp_path / "t.safetensors", family=m.family, config=dataclasses.asdict(m.config))
    loaded = registry.load(str(path)).net
    assert loaded.config.score_buckets == 128 and loaded.config.score_width == 8
    assert all(torch.equal(p, q) for p, q in zip(m.scorer.state_dict().values(), loaded.scorer.state_dict().values()))
    x, caps = squares(1)
    assert torch.allclose(loaded.scorer.score(x, caps), m.scorer.score(x, caps))
    meta = checkpoint.read_metadata(path)
    with pytest.raises(checkpoint.CheckpointError, match="caption score"):
        checkpoint.check_config(m.family, {**meta["config"], "score_dim": 4}, path)
