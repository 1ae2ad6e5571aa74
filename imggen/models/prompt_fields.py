"""Prompt expansion for a text -> image model trained on structured captions ("name, category, subcategory,
style[, skin tone]", the name itself may hold commas: "kiss: woman, man"): a linear classifier reads the name part
of a prompt and fills in the category and subcategory fields that
the training captions carried and a visitor's short prompt lacks -- DALL-E 3's caption upsampling (Betker et al.
2023), small. Features are hashed words and character 2-5-grams (so unseen words and typos still count), log
counts weighted by inverse document frequency and L2-normalised; weights are fitted by multinomial logistic
regression on the training captions and kept as buffers (so in the checkpoint)."""
from __future__ import annotations

import re
import warnings
import zlib

import numpy as np
import torch
import torch.nn as nn

SEP = "|"  # between class names in the config strings
MAX_CLASSES = 4096  # category / subcategory names a checkpoint may carry


def words(text: str) -> list[str]:
    """Lowercase words of a caption or prompt (``,`` ``:`` ``-`` ``&`` and other punctuation split)."""
    return re.findall(r"[a-z0-9']+", str(text).lower())


def _keys(text: str) -> list[str]:
    ws = words(text)
    return ["w:" + w for w in ws] + [s[i:i + n] for w in ws for s in (f" {w} ",)
                                      for n in range(2, 6) for i in range(len(s) - n + 1)]


def hashed_counts(texts, buckets: int) -> torch.Tensor:
    """(N, buckets) counts of each text's hashed words and character n-grams."""
    out = torch.zeros(len(texts), buckets)
    for i, t in enumerate(texts):
        idx = torch.tensor([zlib.crc32(k.encode()) % buckets for k in _keys(t)], dtype=torch.long)
        out[i].index_add_(0, idx, torch.ones(len(idx)))
    return out


def idf(counts: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Smoothed inverse document frequency, ln((1 + N) / (1 + df)) + 1, of (N, buckets) counts (rows weighted)."""
    w = torch.ones(len(counts)) if weight is None else weight.float()
    return ((1 + w.sum()) / (1 + ((counts > 0).float() * w[:, None]).sum(0))).log() + 1


def tfidf(texts, buckets: int, idf_weights: torch.Tensor) -> torch.Tensor:
    """(N, buckets) L2-normalised log1p counts x idf of texts' hashed words and character n-grams."""
    x = hashed_counts(list(texts), buckets).to(idf_weights.device).log1p() * idf_weights
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


def name_part(prompt: str) -> str:
    """The part of a prompt that names the emoji: up to its first ``,``."""
    return str(prompt).split(",", 1)[0]


def split_caption(caption: str) -> tuple[str, str, str, str]:
    """(name, category, subcategory, style and skin tone) of a "name, category, subcategory, style[, … skin tone]"
    caption, read from the right (the name may hold commas)."""
    f = [x.strip() for x in str(caption).split(",")]
    tail = 2 if f[-1].endswith("skin tone") else 1
    if len(f) < 3 + tail or not all(f):
        raise ValueError(f"prompt fields need captions of the form 'name, category, subcategory, style', not "
                         f"{caption!r}")
    return ", ".join(f[:-2 - tail]), f[-2 - tail], f[-1 - tail], ", ".join(f[-tail:])


def name_and_style(caption: str) -> str:
    """A caption's "name, style" prompt (the style without a skin tone)."""
    f = split_caption(caption)
    return f"{f[0]}, {f[3].split(',')[0]}"


def parse_captions(captions) -> tuple[list[str], list[str], list[str]]:
    """Names, categories and subcategories of "name, category, subcategory, style" captions."""
    if not captions:
        raise ValueError("prompt fields need captions")
    fields = [split_caption(c) for c in captions]
    return [f[0] for f in fields], [f[1] for f in fields], [f[2] for f in fields]


def check_class_names(categories, subcategories) -> None:
    """2 to MAX_CLASSES distinct, non-empty names of each kind, none holding the separator or a comma."""
    for names in (categories, subcategories):
        if not 2 <= len(names) <= MAX_CLASSES or len(set(names)) < len(names):
            raise ValueError(f"prompt fields need 2 to {MAX_CLASSES} distinct categories and subcategories")
        if any(not v.strip() or SEP in v or "," in v for v in names):
            raise ValueError(f"prompt fields: a category or subcategory name is empty or holds '{SEP}' or ','")


class FieldPredictor(nn.Module):
    """p(category | name) and p(subcategory | name) from hashed n-gram features; :meth:`fit` sets the weights."""

    def __init__(self, buckets: int, categories: list[str], subcategories: list[str]):
        super().__init__()
        if not 64 <= buckets <= 65536:
            raise ValueError(f"prompt fields: buckets must be in [64, 65536], not {buckets}")
        check_class_names(categories, subcategories)
        self.buckets, self.categories, self.subcategories = buckets, list(categories), list(subcategories)
        # each class name's words, to spot a field a prompt already gives
        self.name_words = [{tuple(words(v)) for v in names} for names in (categories, subcategories)]
        k = len(categories) + len(subcategories)
        self.register_buffer("idf", torch.ones(buckets))
        self.register_buffer("weight", torch.zeros(buckets, k))
        self.register_buffer("bias", torch.zeros(k))

    @torch.no_grad()
    def probs(self, names) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, categories), (N, subcategories) probabilities for emoji names."""
        z = tfidf(names, self.buckets, self.idf.cpu()).to(self.weight) @ self.weight + self.bias
        nc = len(self.categories)
        return z[:, :nc].softmax(1), z[:, nc:].softmax(1)

    def predict(self, names) -> list[tuple[str, str]]:
        pc, ps = self.probs(names)
        return [(self.categories[c], self.subcategories[s]) for c, s in zip(pc.argmax(1).tolist(),
                                                                           ps.argmax(1).tolist())]

    @torch.no_grad()
    def fit(self, captions, *, c: float = 10.0, max_iter: int = 1000) -> dict:
        """Fit both classifiers to training captions (every caption, so frequent names weigh more); returns the
        training accuracies."""
        from sklearn.linear_model import LogisticRegression

        rows, weight = np.unique(np.array(parse_captions(captions)).T, axis=0, return_counts=True)
        names, cats, subs = rows.T.tolist()  # each distinct (name, category, subcategory) once, weighted by count
        self.idf.copy_(idf(hashed_counts(names, self.buckets), torch.from_numpy(weight)))
        x = tfidf(names, self.buckets, self.idf).numpy()
        out, cols = {}, 0
        for key, labels, classes in (("category", cats, self.categories), ("subcategory", subs, self.subcategories)):
            y = np.array([classes.index(v) for v in labels])
            with warnings.catch_warnings():  # few captions per class (a small training set) is fine here
                warnings.filterwarnings("ignore", message="The number of unique classes")
                clf = LogisticRegression(C=c, max_iter=max_iter).fit(x, y, sample_weight=weight)
            w = np.zeros((self.buckets, len(classes)), dtype=np.float32)
            b = np.full(len(classes), -1e4, dtype=np.float32)  # a class absent from the captions is never picked
            w[:, clf.classes_] = clf.coef_.T if len(clf.classes_) > 2 else np.c_[-clf.coef_[0], clf.coef_[0]] / 2
            b[clf.classes_] = clf.intercept_ if len(clf.classes_) > 2 else [-clf.intercept_[0] / 2, clf.intercept_[0] / 2]
            self.weight[:, cols:cols + len(classes)] = torch.from_numpy(w)
            self.bias[cols:cols + len(classes)] = torch.from_numpy(b)
            cols += len(classes)
            out[f"fields_train_{key}"] = float(((clf.predict(x) == y) * weight).sum() / weight.sum())
        return out


def has_fields(captions) -> bool:
    """Whether captions are "name, category, subcategory, style" ones whose class names prompt expansion takes."""
    try:
        check_class_names(*class_lists(captions))
    except ValueError:
        return False
    return True


def class_lists(captions) -> tuple[list[str], list[str]]:
    """The sorted category and subcategory names of training captions."""
    _, cats, subs = parse_captions(captions)
    return sorted(set(cats)), sorted(set(subs))
