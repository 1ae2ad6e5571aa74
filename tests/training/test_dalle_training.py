"""The text -> image trainer (imggen.training.trainers.DalleTrainer) through the training loop on tiny captioned
data: the vocabulary comes from the captions, the tokenizer trains first (half the run by default, or the steps
the config names), then the transformer on the captions (the loop hands their indices as labels), and the
caption augmentation. Seconds."""
from __future__ import annotations

import torch

from imggen import checkpoint, registry
from imggen.data import ImageData
from imggen.models.dalle import SYNONYMS, build_vocab, words
from imggen.train import TrainConfig, TrainState, train
from imggen.training.precision import Precision
from imggen.training.trainers import DalleTrainer
from tiny_gan import one_thread  # noqa: F401  (one_thread: an autouse fixture)

TINY = dict(hidden=8, codes=16, code_dim=8, n_layer=1, n_head=2, n_embd=16, text_len=8)
CAPTIONS = ("red heart, smileys & emotion, heart, noto", "blue heart, smileys & emotion, heart, twemoji",
            "cat face, animals & nature, animal-mammal, noto", "dog face, animals & nature, animal-mammal, noto")


def data(n: int = 8) -> ImageData:
    x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return ImageData(x, torch.arange(n) % 2, "captioned", classes=("a", "b"),
                     captions=tuple(CAPTIONS[i % 4] for i in range(n)))


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 4, "lr": 1e-3, "max_steps": 4, "num_grid": 2,
                          "eval_samples": 0, "device": "cpu", **kw})


def test_loop_trains_tokenizer_then_transformer_with_the_captions(tmp_path, monkeypatch):
    seen = []
    real_loss = registry.family_classes("dalle")[1].loss
    monkeypatch.setattr(registry.family_classes("dalle")[1], "loss",
                        lambda self, text, tokens: seen.append(text.clone()) or real_loss(self, text, tokens))
    state = TrainState()
    events = list(train("dalle", data(), cfg(), model_config=TINY, state=state, out=tmp_path / "t.safetensors"))
    m = state.model
    assert events[-1].kind == "end" and events[-1].step == 4
    assert m.config.vocab.split() == build_vocab(CAPTIONS) and m.config.tokenizer_steps == 2  # half of 4 steps
    assert int(m.tokenizer_step) == 2 and len(seen) == 2  # two tokenizer steps, then two transformer steps
    steps = [e.losses for e in events if e.losses]
    assert "loss/recon" in steps[0] and "loss/nll" in steps[-1]
    # the transformer's captions are the batch's own (augmented) ones: every word is a caption word or a synonym
    near = {w for c in CAPTIONS for w in words(c)}
    near |= {s for g in SYNONYMS if near & set(g) for s in g}
    caption_words = {m.word_ids[w] for w in near}
    used = {int(i) for t in seen for i in t.flatten()} - {0, 2}  # not <pad> / <sep>
    assert used and used <= caption_words
    meta = checkpoint.read_metadata(tmp_path / "t.safetensors")
    assert meta["config"]["vocab"] == m.config.vocab and meta["config"]["tokenizer_steps"] == 2
    # prompt expansion fitted to the "name, category, subcategory, style" captions, and stored
    assert meta["config"]["categories"] == "animals & nature|smileys & emotion" and m.fields is not None
    assert m.expand_prompt("red heart") == "red heart, smileys & emotion, heart"


def test_captions_without_fields_get_no_prompt_expansion(tmp_path):
    plain = data()
    plain = ImageData(plain.images, plain.labels, "captioned", classes=("a", "b"),
                      captions=tuple(c.split(",")[0] for c in plain.captions))
    state = TrainState()
    list(train("dalle", plain, cfg(max_steps=2), model_config=TINY, state=state, out=tmp_path / "p.safetensors"))
    assert state.model.fields is None and state.model.expand_prompt("red heart") == "red heart"
    assert checkpoint.read_metadata(tmp_path / "p.safetensors")["config"]["field_buckets"] == 0
    one = ImageData(plain.images, plain.labels, "captioned", classes=("a", "b"),  # one category: none either
                    captions=tuple(f"{c}, animals & nature, animal-mammal, noto" for c in plain.captions))
    state = TrainState()
    list(train("dalle", one, cfg(max_steps=2), model_config=TINY, state=state, out=tmp_path / "o.safetensors"))
    assert state.model.fields is None and state.model.config.categories == ""


def test_a_trained_tokenizer_is_not_trained_again(tmp_path):
    state = TrainState()
    list(train("dalle", data(), cfg(), model_config=TINY, state=state, out=tmp_path / "a.safetensors"))
    net, meta = registry.warm_start(tmp_path / "a.safetensors", "dalle")
    before = {k: v.clone() for k, v in net.tokenizer.state_dict().items()}
    events = list(train("dalle", data(), cfg(max_steps=3), model=net, out=tmp_path / "b.safetensors"))
    assert all("loss/nll" in e.losses for e in events if e.losses)
    after = net.tokenizer.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # frozen (its codebook included)


def test_caption_augmentation():
    from imggen.registry import build

    m = build("dalle", **TINY, caption_drop=0.0)
    t = DalleTrainer(m, cfg(), Precision.for_run(torch.device("cpu"), False))
    t.bind_data(data())
    caption = "red heart, smileys & emotion, heart, noto"
    outs = [t.augment(caption) for _ in range(300)]
    names = [[w for w in m.config.words if m.word_ids[w] in o] for o in outs]
    assert all(o for o in outs)  # no caption dropped at caption_drop 0
    assert any("noto" not in n for n in names) and any("noto" in n for n in names)  # fields dropped at 50 %
    assert any("love" in n for n in names)  # "heart" swapped for its synonym
    full = m.caption_ids(caption)
    assert any(o != full and sorted(o) == sorted(full) for o in outs)  # the word order shuffled
    m.config.caption_drop = 1.0
    assert t.augment(caption) == []


def test_regularisation_knobs_reach_the_optimiser_and_blocks_and_are_checked():
    import pytest

    from imggen.registry import build

    m = build("dalle", **TINY)
    assert m.config.weight_decay == 0.01 and m.config.dropout == 0.0  # today's behaviour by default
    m = build("dalle", **TINY, dropout=0.2, weight_decay=0.3)
    t = DalleTrainer(m, cfg(), Precision.for_run(torch.device("cpu"), False))
    t.bind_data(data())
    assert sorted(g["weight_decay"] for g in t._transformer_opt().param_groups) == [0, 0.3]
    assert any(isinstance(x, torch.nn.Dropout) and x.p == 0.2 for x in m.blocks.modules())
    with pytest.raises(ValueError, match="weight_decay"):
        build("dalle", **TINY, weight_decay=-1)
    with pytest.raises(ValueError, match="dropout"):
        build("dalle", **TINY, dropout=1.0)
