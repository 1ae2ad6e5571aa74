import pytest
import torch

from imggen import metrics
from imggen.data import load_data


@pytest.fixture(scope="module")
def digits():
    train = load_data("mnist5k", split="train")
    return train.images, train.labels


@pytest.fixture(scope="module")
def noise():
    return torch.rand(600, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.slow
def test_fd_real_vs_real_small_noise_large(digits, noise):
    x, _ = digits
    f1, _ = metrics.classify(x[:600])
    f2, _ = metrics.classify(x[600:1200])
    fn, _ = metrics.classify(noise)
    real = metrics.frechet_distance(f1, f2)
    fake = metrics.frechet_distance(fn, f2)
    assert 0 <= real < 10, real
    assert fake > 20 * real, (real, fake)
    assert metrics.frechet_distance(f1, f1) == pytest.approx(0, abs=1e-3)


def test_one_repeated_digit_has_coverage_one(digits):
    x, y = digits
    one = x[(y == 3).nonzero()[0, 0]].expand(200, -1, -1, -1)
    _, probs = metrics.classify(one)
    s = metrics.class_stats(probs)
    assert s["coverage"] == 1 and s["class_entropy"] == pytest.approx(0, abs=1e-6)
    assert s["class_histogram"][3] == 200 and s["confident_fraction"] == 1.0


@pytest.mark.slow
def test_real_digits_cover_all_classes(digits):
    x, _ = digits
    s = metrics.class_stats(metrics.classify(x[:1000])[1])
    assert s["coverage"] == 10 and s["class_entropy"] > 3.2 and s["confident_fraction"] > 0.9
    assert sum(s["class_histogram"]) == 1000


@pytest.mark.slow
def test_precision_recall_ranges(digits, noise):
    x, _ = digits
    fr, _ = metrics.classify(x[:500])
    fr2, _ = metrics.classify(x[500:1000])
    fn, _ = metrics.classify(noise[:500])
    p, r = metrics.precision_recall(fr, fr2)
    assert 0.5 < p <= 1 and 0.5 < r <= 1
    p, r = metrics.precision_recall(fr, fn)
    assert 0 <= p < 0.1 and 0 <= r <= 1


@pytest.mark.slow
def test_sliced_wasserstein_same_small_noise_large(digits, noise):
    x, _ = digits
    kw = dict(per_image=32, projections=128)  # a third of the default cost; same separation
    same = metrics.sliced_wasserstein(x[:300], x[300:600], **kw)
    far = metrics.sliced_wasserstein(noise[:300], x[300:600], **kw)
    assert 0 <= same and far > 3 * same, (same, far)  # measured: ~38 vs ~153
    assert metrics.sliced_wasserstein(x[:50], x[50:100]) == metrics.sliced_wasserstein(x[:50], x[50:100])  # seeded
    rgb = torch.rand(50, 3, 64, 64) * 2 - 1
    assert metrics.sliced_wasserstein(rgb, rgb.flip(0)) >= 0


@pytest.mark.slow
def test_digit_metrics_keys(digits):
    x, y = digits
    m = metrics.digit_metrics(x[:300], x[300:600], reference=x[600:900], labels=y[:300])
    assert {"fd", "fd_floor", "fd_ratio", "coverage", "precision", "recall", "label_accuracy"} <= set(m)
    assert m["label_accuracy"] > 0.98
    assert m["real_confident_fraction"] > 0.9  # real digits: the level the samples' confident fraction aims at
    blends = metrics.digit_metrics(torch.maximum(x[:300], x[300:600].roll(1, 0)), x[600:900])  # two digits overlaid
    assert blends["confident_fraction"] < blends["real_confident_fraction"] - 0.2


def test_classifier_accuracy_on_heldout_mnist5k():
    test = load_data("mnist5k", split="test")
    _, probs = metrics.classify(test.images)
    acc = (probs.argmax(1) == test.labels).float().mean().item()
    assert acc >= 0.98, acc
