"""The text -> image model (imggen/models/dalle.py, vqvae.py) at tiny sizes: tokenizer round trip, EMA codebook
update and dead-code restart, prompt words, KV cache = no cache, guidance 0 / 1, candidates, in-painting,
checkpoint round trip with its config checked. Seconds in all."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from imggen import checkpoint, registry
from imggen.models.dalle import PAD, SEP, UNK, Dalle, DalleConfig, build_vocab, words
from imggen.models.vqvae import DEAD_COUNT, EMACodebook
from tiny_gan import one_thread  # noqa: F401  (one_thread: an autouse fixture)

CAPTIONS = ("red heart, smileys & emotion, heart, noto", "grinning face, smileys & emotion, face-smiling, twemoji",
            "cat face, animals & nature, animal-mammal, noto")
TINY = dict(hidden=8, codes=16, code_dim=8, n_layer=1, n_head=2, n_embd=16, text_len=8)


def tiny(**kw) -> Dalle:
    torch.manual_seed(0)
    return Dalle(DalleConfig(vocab=" ".join(build_vocab(CAPTIONS)), **{**TINY, **kw})).eval()


def images(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_words_and_vocabulary():
    assert words("Thumbs up: dark skin-tone, TWEMOJI") == ["thumbs", "up", "dark", "skin", "tone", "twemoji"]
    v = build_vocab(CAPTIONS)
    assert {"red", "heart", "smileys", "emotion", "face", "smiling", "twemoji", "kitty"} <= set(v)  # + synonyms
    assert "&" not in v and v == sorted(v)


def test_prompt_tokenizer_reports_unknown_words():
    m = tiny()
    ids, unknown = m.tokenize_prompt("a red heart")  # "a": a stop word the vocabulary lacks, dropped silently
    assert ids == [m.word_ids["red"], m.word_ids["heart"]] and unknown == []
    ids, unknown = m.tokenize_prompt("purple zebra heart")
    assert unknown == ["purple", "zebra"] and ids == [UNK, UNK, m.word_ids["heart"]]
    text = m.text_ids(ids)
    assert text.shape == (8,) and text[-1] == SEP and text[3:-1].eq(PAD).all()
    assert len(m.tokenize_prompt("heart " * 20)[0]) == 7  # cut to text_len - 1


def test_tokenizer_round_trip_shapes():
    m = tiny()
    tok = m.encode_tokens(images())
    assert tok.shape == (4, 64) and tok.dtype == torch.long and 0 <= tok.min() and tok.max() < 16
    x = m.decode_tokens(tok)
    assert x.shape == (4, 3, 32, 32) and -1 <= x.min() <= x.max() <= 1
    assert torch.equal(m.encode_tokens(m.reconstruct(images())), m.encode_tokens(m.decode_tokens(
        m.encode_tokens(images()))))
    assert tiny(levels=3).encode_tokens(images()).shape == (4, 16)  # 4x4 codes


def test_codebook_ema_update_moves_codes_to_their_means_and_restarts_dead_ones():
    torch.manual_seed(0)
    cb = EMACodebook(4, 2, decay=0.5)
    cb.embed.copy_(torch.tensor([[0., 0.], [10., 10.], [-10., 10.], [100., 100.]]))
    cb.ema_sum.copy_(cb.embed)
    cb.ema_count.fill_(1.0)
    cb.initialized.fill_(1)
    flat = torch.tensor([[1., 1.], [1., 1.], [9., 9.], [11., 11.]])
    idx = cb.nearest(flat)
    assert idx.tolist() == [0, 0, 1, 1]
    cb.update(flat, idx)
    # count 0.5 * 1 + 0.5 * 2 = 1.5, sum 0.5 * 0 + 0.5 * 2 = 1 -> code 0 at ~2/3 (Laplace smoothing is tiny)
    assert torch.allclose(cb.embed[0], torch.tensor([2 / 3, 2 / 3]), atol=1e-3)
    assert torch.allclose(cb.embed[1], torch.tensor([10., 10.]), atol=1e-3)
    # codes 2 and 3 got nothing: count 0.5, not yet dead; one more empty update and they move onto batch vectors
    assert cb.ema_count[2] == 0.5 >= DEAD_COUNT
    cb.update(flat, idx)
    assert all(any(torch.equal(cb.embed[k], f) for f in flat) for k in (2, 3))
    assert cb.ema_count[2] == cb.ema_count[3] == 1.0


def test_training_forward_uses_straight_through_gradients():
    m = tiny().train()
    out = m.tokenizer.loss(images(), 0.25)
    out["loss"].backward()
    assert m.tokenizer.encoder[0].weight.grad.abs().sum() > 0  # through the quantizer to the encoder
    assert 0 < out["codes_used"] <= 1 and int(m.tokenizer.codebook.initialized) == 1


def test_kv_cache_sampling_equals_recomputing_the_prefix():
    m = tiny()
    for kw in (dict(prompt="red heart"), dict(prompt="red heart", guidance=2.5, top_k=5), dict(prompt=None)):
        a = m.sample(3, generator=torch.Generator().manual_seed(3), **kw)
        b = m.sample(3, generator=torch.Generator().manual_seed(3), use_cache=False, **kw)
        assert torch.allclose(a, b, atol=1e-5), kw
    text = m._texts("red heart", 2)[0]
    ta, _ = m.generate_tokens(text, torch.Generator().manual_seed(0), guidance=2.0)
    tb, _ = m.generate_tokens(text, torch.Generator().manual_seed(0), guidance=2.0, use_cache=False)
    assert torch.equal(ta, tb)


def test_guidance_zero_ignores_the_caption_and_one_is_plain_conditional():
    m = tiny()
    with torch.no_grad():
        m.tok.weight.normal_(0, 1)  # an untrained model's caption barely matters: make it matter
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    heart, face = m._texts("red heart", 4)[0], m._texts("grinning face", 4)[0]
    # scale 0: only the empty caption's logits count, so the prompt makes no difference
    assert torch.equal(m.generate_tokens(heart, g(), guidance=0.0)[0], m.generate_tokens(face, g(), guidance=0.0)[0])
    assert torch.equal(m.generate_tokens(heart, g(), guidance=0.0)[0],
                       m.generate_tokens(m._texts("", 4)[0], g(), guidance=1.0)[0])
    # scale 1: the conditional model alone (no empty-caption pass, score 0); the prompt changes the draws
    t1, s1 = m.generate_tokens(heart, g(), guidance=1.0)
    assert s1.eq(0).all() and not torch.equal(t1, m.generate_tokens(face, g(), guidance=1.0)[0])
    t2, s2 = m.generate_tokens(heart, g(), guidance=1.0 + 1e-7)
    assert torch.equal(t1, t2) and s2.ne(0).any()  # the paired path at ~1 draws the same codes, and scores them


def test_sampling_options_and_bad_values():
    m = tiny()
    x = m.sample(2, generator=torch.Generator().manual_seed(0), prompt=["red heart", "cat face"], candidates=3,
                 top_k=4, temperature=0.7)
    assert x.shape == (2, 3, 32, 32) and torch.isfinite(x).all()
    with pytest.raises(ValueError, match="temperature"):
        m.sample(1, prompt="heart", temperature=0)
    with pytest.raises(ValueError, match="candidates"):
        m.sample(1, prompt="heart", candidates=0)
    with pytest.raises(ValueError, match="prompt must be text"):
        m.sample(1, prompt=[3])
    assert m.sample(0).shape == (0, 3, 32, 32)


def test_candidates_keep_the_highest_scoring_draw():
    m = tiny()
    text = m._texts("red heart", 6)[0]
    tok, score = m.generate_tokens(text, torch.Generator().manual_seed(2), guidance=3.0)
    best = score.view(2, 3).argmax(1) + torch.tensor([0, 3])
    x = m.sample(2, generator=torch.Generator().manual_seed(2), prompt="red heart", candidates=3, guidance=3.0)
    assert torch.allclose(x, m.decode_tokens(tok[best]))


def test_complete_keeps_known_pixels_and_codes():
    m = tiny()
    x = m.reconstruct(images(2))
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 16:] = 1  # bottom half missing
    out = m.complete(x, mask, 3, generator=torch.Generator().manual_seed(0), prompt="red heart")
    assert out.shape == (2, 3, 3, 32, 32)
    assert torch.equal(out[:, :, :, :16], x[:, None, :, :16].expand(-1, 3, -1, -1, -1))
    assert m.token_mask(mask).sum(1).tolist() == [32, 32]
    with pytest.raises(ValueError, match="images must be"):
        m.complete(x[:, :1], mask)


def test_checkpoint_round_trip_keeps_vocabulary_and_checks_config(tmp_path):
    m = tiny()
    m.tokenizer_step.fill_(7)
    path = checkpoint.save(m, tmp_path / "t2i.safetensors", family=m.family, config=dataclasses.asdict(m.config))
    meta = checkpoint.read_metadata(path)
    assert meta["config"]["vocab"].split() == build_vocab(CAPTIONS)
    loaded = registry.load(str(path))
    assert loaded.net.word_ids == m.word_ids and int(loaded.net.tokenizer_step) == 7
    a = loaded.sample(2, seed=4, prompt="cat face")
    assert a.shape == (2, 3, 32, 32) and 0 <= a.min() <= a.max() <= 1
    assert torch.allclose(a, (m.sample(2, generator=torch.Generator().manual_seed(4), prompt="cat face") + 1) / 2,
                          atol=1e-6)
    bad = {**meta["config"], "vocab": meta["config"]["vocab"] + " extra"}  # one more word than the weights have
    with pytest.raises(checkpoint.CheckpointError, match="does not match its weights"):
        checkpoint.check_config(m.family, bad, path)
    with pytest.raises(checkpoint.CheckpointError, match="not a str"):
        checkpoint.check_config(m.family, {**meta["config"], "vocab": 5}, path)


def test_generate_api_and_cli_write_a_png_with_its_recipe(tmp_path, capsys):
    from imggen.__main__ import main
    from imggen.convert import read_recipe
    from imggen.text2image import complete, generate

    m = tiny()
    path = checkpoint.save(m, tmp_path / "t2i.safetensors", family=m.family, config=dataclasses.asdict(m.config))
    loaded = registry.load(str(path))
    gen = generate(loaded, "a purple heart", n=3, seed=2, guidance=2.0, top_k=5)
    assert gen.images.shape == (3, 3, 32, 32) and gen.unknown == ["purple"]
    assert gen.recipe == {"model": "t2i", "prompt": "a purple heart", "seed": 2, "n": 3, "guidance": 2.0, "top_k": 5,
                          "expand": True}
    with pytest.raises(ValueError, match="unknown sampling options"):
        generate(loaded, "heart", truncation=0.5)
    out = complete(loaded, gen.images[:1], torch.ones(1, 1, 32, 32), n=2, seed=0, prompt="red heart")
    assert out.shape == (1, 2, 3, 32, 32) and 0 <= out.min() <= out.max() <= 1
    png = tmp_path / "g.png"
    main(["generate", "a purple heart", "--model", str(path), "--n", "4", "--seed", "1", "--guidance", "2",
          "--out", str(png)])
    assert "unknown words: purple" in capsys.readouterr().out
    assert read_recipe(str(png)) == {"model": "t2i", "prompt": "a purple heart", "seed": 1, "n": 4, "guidance": 2.0,
                                     "expand": True}


def test_generate_refuses_a_model_without_a_vocabulary():
    from imggen.text2image import generate

    vae = registry.LoadedModel(registry.build("vae", latent_dim=4, hidden=8), "v", {"family": "vae", "card": {},
                                                                                   "metrics": {}, "recipe": {}})
    with pytest.raises(ValueError, match="text -> image model"):
        generate(vae, "a red heart")
