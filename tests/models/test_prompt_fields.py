"""Prompt expansion (imggen/models/prompt_fields.py, Dalle.expand_prompt): the field classifier fitted to captions,
the fields inserted after the name, fields a prompt gives kept, sampling with and without expansion, and the
fitted weights through a checkpoint. Seconds in all."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from imggen import checkpoint, registry
from imggen.models.dalle import Dalle, DalleConfig, build_vocab
from imggen.models.prompt_fields import FieldPredictor, class_lists, has_fields, hashed_counts, parse_captions
from tiny_gan import one_thread  # noqa: F401  (one_thread: an autouse fixture)

ANIMALS = ("cat face", "dog face", "tiger face", "cat", "kitten", "lion face", "fox face", "rabbit face")
FOOD = ("pizza", "hamburger", "hot dog", "taco", "green apple", "red apple", "sushi", "cheese wedge")
CAPTIONS = tuple([f"{n}, animals & nature, animal-mammal, {s}" for n in ANIMALS for s in ("noto", "twemoji")]
                 + [f"{n}, food & drink, food-prepared, {s}" for n in FOOD[:4] for s in ("noto", "twemoji")]
                 + [f"{n}, food & drink, food-fruit, {s}" for n in FOOD[4:] for s in ("noto", "twemoji")])
TINY = dict(hidden=8, codes=16, code_dim=8, n_layer=1, n_head=2, n_embd=16, text_len=12)


def fitted() -> Dalle:
    torch.manual_seed(0)
    m = Dalle(DalleConfig(vocab=" ".join(build_vocab(CAPTIONS)), **TINY)).eval()
    m.fit_fields(CAPTIONS, buckets=512)
    return m


def test_captions_parse_and_hashing_is_deterministic():
    names, cats, subs = parse_captions(CAPTIONS[:2])
    assert names == ["cat face", "cat face"] and cats == ["animals & nature"] * 2 and subs == ["animal-mammal"] * 2
    assert class_lists(CAPTIONS) == (["animals & nature", "food & drink"],
                                     ["animal-mammal", "food-fruit", "food-prepared"])
    with pytest.raises(ValueError, match="name, category, subcategory"):
        parse_captions(["cat face, noto"])
    # read from the right: a name may hold commas, a skin tone may follow the style
    assert parse_captions(["kiss: woman, man, people & body, family, noto, light and dark skin tone"]) == (
        ["kiss: woman, man"], ["people & body"], ["family"])
    assert has_fields(CAPTIONS) and not has_fields(["cat face, noto"] * 2)
    assert not has_fields(["pizza, food & drink, food-prepared, noto"] * 2)  # one category: nothing to predict
    with pytest.raises(ValueError, match="name, category, subcategory"):
        parse_captions(["pizza, food & drink, , noto"])  # an empty field
    for bad in (["a|b", "c"], ["a", "a"], ["a"]):
        with pytest.raises(ValueError, match="prompt fields"):
            FieldPredictor(512, bad, ["x", "y"])
    a, b = hashed_counts(["cat face"], 512), hashed_counts(["cat face"], 512)
    assert torch.equal(a, b) and a.sum() == 2 + sum(len(f" {w} ") - n + 1 for w in ("cat", "face") for n in (2, 3, 4, 5))
    with pytest.raises(ValueError, match="buckets"):
        FieldPredictor(8, ["a", "b"], ["c", "d"])


def test_the_classifier_reads_names_it_never_saw_by_their_words_and_letters():
    m = fitted()
    assert [m.fields.predict([n])[0] for n in ("cat face", "pizza")] == [("animals & nature", "animal-mammal"),
                                                                         ("food & drink", "food-prepared")]
    # unseen names: a known word in a new name, and a misspelt one (character n-grams)
    assert m.fields.predict(["wolf face"])[0][0] == "animals & nature"
    assert m.fields.predict(["yellow apple"])[0] == ("food & drink", "food-fruit")
    assert m.fields.predict(["hamburgr"])[0][0] == "food & drink"


def test_expand_prompt_inserts_the_fields_after_the_name_and_keeps_what_the_prompt_gives():
    m = fitted()
    assert m.expand_prompt("wolf face, twemoji") == "wolf face, animals & nature, animal-mammal, twemoji"
    assert m.expand_prompt("red apple") == "red apple, food & drink, food-fruit"
    assert m.expand_prompt("red apple: noto") == "red apple: noto, food & drink, food-fruit"  # ":" is in names
    # a category or subcategory the prompt already names stays as given (even a different one than predicted)
    assert m.expand_prompt("red apple, food & drink, twemoji") == "red apple, food-fruit, food & drink, twemoji"
    assert m.expand_prompt("cat face, food & drink, food-prepared") == "cat face, food & drink, food-prepared"
    assert m.expand_prompt("") == "" and m.expand_prompt(None) is None
    assert m.expand_prompt(", twemoji") == ", twemoji" and m.expand_prompt("the, noto") == "the, noto"  # no name
    # the name is not a field it gives, even when it spells one: "food & drink" still gets its subcategory
    assert m.expand_prompt("food & drink").startswith("food & drink, ")
    plain = Dalle(DalleConfig(vocab=" ".join(build_vocab(CAPTIONS)), **TINY))
    assert plain.fields is None and plain.expand_prompt("cat face") == "cat face"


def test_sampling_expands_by_default_and_expand_false_reads_the_prompt_as_typed():
    m = fitted()
    on = m._texts("wolf face", 1, expand=True)[0]
    off = m._texts("wolf face", 1, expand=False)[0]
    assert torch.equal(on, m._texts("wolf face, animals & nature, animal-mammal", 1)[0]) and not torch.equal(on, off)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(m.sample(2, generator=g(), prompt="wolf face"),
                       m.sample(2, generator=g(), prompt="wolf face, animals & nature, animal-mammal", expand=False))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 16:, :] = 1
    assert torch.equal(m.complete(x, mask, 2, generator=g(), prompt="wolf face"),
                       m.complete(x, mask, 2, generator=g(), prompt="wolf face, animals & nature, animal-mammal",
                                  expand=False))


def test_fitted_fields_survive_a_checkpoint_and_bad_configs_are_refused(tmp_path):
    m = fitted()
    path = checkpoint.save(m, tmp_path / "t2i.safetensors", family=m.family, config=dataclasses.asdict(m.config))
    loaded = registry.load(str(path))
    assert loaded.net.config.field_buckets == 512 and loaded.net.config.category_names == ["animals & nature",
                                                                                           "food & drink"]
    assert torch.equal(loaded.net.fields.weight, m.fields.weight)
    assert loaded.net.expand_prompt("wolf face") == m.expand_prompt("wolf face")
    from imggen.text2image import generate

    gen = generate(loaded, "wolf face", n=1, seed=0)
    assert gen.read_as == "wolf face, animals & nature, animal-mammal" and gen.recipe["model"] == "t2i"
    assert gen.recipe["expand"] is True  # named even when the caller left it to the default
    assert generate(loaded, "wolf face", n=1, seed=0, expand=False).read_as == "wolf face"
    meta = checkpoint.read_metadata(path)
    with pytest.raises(checkpoint.CheckpointError, match="two to 4096"):
        checkpoint.check_config(m.family, {**meta["config"], "categories": "|".join(map(str, range(5000)))}, path)
    with pytest.raises(checkpoint.CheckpointError, match="field_buckets"):
        checkpoint.check_config(m.family, {**meta["config"], "field_buckets": 10}, path)
    with pytest.raises(checkpoint.CheckpointError, match="two to 4096 category"):
        checkpoint.check_config(m.family, {**meta["config"], "categories": "animals & nature"}, path)
