"""Prompt expansion for a text -> image model trained on structured captions ("name, category, subcategory,
style"): a linear classifier reads the name part of a prompt and fills in the category and subcategory fields that
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


def _keys(text: str) -> list[str]:
    ws = re.findall(r"[a-z0-9']+", str(text).lower())
    return ["w:" + w for w in ws] + [s[i:i + n] for w in ws for s in (f" {w} ",)
                                      for n in range(2, 6) for i in range(len(s) - n + 1)]


def hashed_counts(texts, buckets: int) -> torch.Tensor:
    """(N, buckets) counts of each text's hashed words and character n-grams."""
    out = torch.zeros(len(texts), buckets)
    for i, t in enumerate(texts):
        idx = torch.tensor([zlib.crc32(k.encode()) % buckets for k in _keys(t)], dtype=torch.long)
        out[i].index_add_(0, idx, torch.ones(len(idx)))
    return out


def name_part(prompt: str) -> str:
    """The part of a prompt or caption that names the emoji: up to its first ``,`` or ``:``."""
    return re.split(r"[,:]", str(prompt), maxsplit=1)[0]


def parse_captions(captions) -> tuple[list[str], list[str], list[str]]:
    """Names, categories and subcategories of "name, category, subcategory, ..." captions."""
    fields = [[f.strip() for f in c.split(",")] for c in captions]
    if not fields or any(len(f) < 3 for f in fields):
        raise ValueError("prompt fields need captions of the form 'name, category, subcategory, ...'")
    return [f[0] for f in fields], [f[1] for f in fields], [f[2] for f in fields]


class FieldPredictor(nn.Module):
    """p(category | name) and p(subcategory | name) from hashed n-gram features; :meth:`fit` sets the weights."""

    def __init__(self, buckets: int, categories: list[str], subcategories: list[str]):
        super().__init__()
        if not 64 <= buckets <= 65536:
            raise ValueError(f"prompt fields: buckets must be in [64, 65536], not {buckets}")
        if len(categories) < 2 or len(subcategories) < 2:
            raise ValueError("prompt fields need at least two categories and two subcategories")
        self.buckets, self.categories, self.subcategories = buckets, list(categories), list(subcategories)
        k = len(categories) + len(subcategories)
        self.register_buffer("idf", torch.ones(buckets))
        self.register_buffer("weight", torch.zeros(buckets, k))
        self.register_buffer("bias", torch.zeros(k))

    def features(self, texts) -> torch.Tensor:
        x = hashed_counts([name_part(t) for t in texts], self.buckets).log1p() * self.idf.cpu()
        return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)

    @torch.no_grad()
    def probs(self, texts) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, categories), (N, subcategories) probabilities for prompts (their name part)."""
        z = self.features(texts).to(self.weight) @ self.weight + self.bias
        nc = len(self.categories)
        return z[:, :nc].softmax(1), z[:, nc:].softmax(1)

    def predict(self, texts) -> list[tuple[str, str]]:
        pc, ps = self.probs(texts)
        return [(self.categories[c], self.subcategories[s]) for c, s in zip(pc.argmax(1).tolist(),
                                                                           ps.argmax(1).tolist())]

    @torch.no_grad()
    def fit(self, captions, *, c: float = 10.0, max_iter: int = 1000) -> dict:
        """Fit both classifiers to training captions (every caption, so frequent names weigh more); returns the
        training accuracies."""
        from sklearn.linear_model import LogisticRegression

        rows, weight = np.unique(np.array(parse_captions(captions)).T, axis=0, return_counts=True)
        names, cats, subs = rows.T.tolist()  # each distinct (name, category, subcategory) once, weighted by count
        df = ((hashed_counts(names, self.buckets) > 0).float() * torch.from_numpy(weight)[:, None]).sum(0)
        self.idf.copy_(((1 + weight.sum()) / (1 + df)).log() + 1)
        x = self.features(names).numpy()
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


def class_lists(captions) -> tuple[list[str], list[str]]:
    """The sorted category and subcategory names of training captions."""
    _, cats, subs = parse_captions(captions)
    return sorted(set(cats)), sorted(set(subs))
