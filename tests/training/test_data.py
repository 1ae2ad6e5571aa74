import zipfile

import pytest
import torch

from imggen.data import _split_index, default_mnist_root, load_data, zip_bytes

import imagefiles


def test_mnist5k_shapes_ranges_labels():
    train, test = load_data("mnist5k", split="train"), load_data("mnist5k", split="test")
    assert train.images.shape == (4500, 1, 28, 28) and test.images.shape == (500, 1, 28, 28)
    assert train.images.dtype == torch.float32 and train.labels.dtype == torch.int64
    assert train.images.min() == -1 and train.images.max() == 1
    assert set(train.labels.tolist()) == set(range(10)) and train.is_digits and train.num_classes == 10


def test_mnist5k_splits_deterministic_and_disjoint():
    a, b = load_data("mnist5k", split="train"), load_data("mnist5k", split="train")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    test = load_data("mnist5k", split="test")
    rows = lambda d: {x.numpy().tobytes() for x in d.images}  # noqa: E731
    assert not rows(a) & rows(test)
    tr, te = _split_index(5000, "train"), _split_index(5000, "test")
    assert len(set(tr.tolist()) | set(te.tolist())) == 5000 and not set(tr.tolist()) & set(te.tolist())


@pytest.mark.parametrize("size,channels", [(32, 1), (64, 3)])
def test_mnist5k_resized(size, channels):
    d = load_data("mnist5k", split="test", image_size=size, channels=channels, limit=7)
    assert d.images.shape == (7, channels, size, size)
    assert d.images.min() >= -1 and d.images.max() <= 1


def test_loader_batches():
    d = load_data("mnist5k", split="test")
    x, y = next(iter(d.loader(32, seed=1)))
    x2, _ = next(iter(d.loader(32, seed=1)))
    assert x.shape == (32, 1, 28, 28) and y.shape == (32,) and torch.equal(x, x2)


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="split"):
        load_data("mnist5k", split="val")
    with pytest.raises(ValueError, match="image_size"):
        load_data("mnist5k", image_size=30)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_data("cifar-not-here")


def _write_mixed_folder(root):
    for name, make in {**imagefiles.GOOD, **imagefiles.BAD}.items():
        (root / name).write_bytes(make())
    (root / "notes.txt").write_text("ignored: not an image extension")


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_mixed_files(tmp_path, channels):
    _write_mixed_folder(tmp_path)
    d = load_data(str(tmp_path), image_size=32, channels=channels)
    # fewer than 10 readable images: no held-out split, every good file is used
    assert len(d) == len(imagefiles.GOOD) and d.skipped == len(imagefiles.BAD)
    assert d.images.shape[1:] == (channels, 32, 32)
    assert d.images.min() >= -1 and d.images.max() <= 1 and torch.isfinite(d.images).all()
    assert (d.labels == -1).all() and d.classes == ()


def test_zip_mixed_files_with_classes(tmp_path):
    files = {f"{cls}/{i}_{name}": make() for cls in ("cats", "dogs") for i in range(4)
             for name, make in imagefiles.GOOD.items()}
    files["cats/broken.png"] = imagefiles.truncated_png()
    files["__MACOSX/._junk.png"] = b"resource fork"
    path = tmp_path / "pets.zip"
    path.write_bytes(zip_bytes(files))
    train, test = load_data(str(path), split="train"), load_data(str(path), split="test")
    n = 2 * 4 * len(imagefiles.GOOD)
    assert len(train) + len(test) == n and train.skipped == 1
    assert train.classes == ("cats", "dogs") and set(train.labels.tolist()) == {0, 1}
    assert len(test) == round(n * 0.1)
    assert torch.equal(load_data(str(path), split="test").images, test.images)


def test_empty_zip_and_folder_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w"):
        pass
    with pytest.raises(ValueError, match="no readable images"):
        load_data(str(empty))
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "readme.txt").write_text("no pictures here")
    with pytest.raises(ValueError, match="no readable images"):
        load_data(str(folder))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(imagefiles.not_an_image())
    with pytest.raises(ValueError, match="1 files could not be read"):
        load_data(str(bad))
    with pytest.raises(ValueError, match="no such folder"):
        load_data(str(tmp_path / "missing.zip"))
    notzip = tmp_path / "fake.zip"
    notzip.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="neither a folder nor a .zip"):
        load_data(str(notzip))


@pytest.mark.skipif(default_mnist_root() is None, reason="full MNIST not present (set IMGGEN_MNIST_ROOT)")
def test_full_mnist_test_split():
    d = load_data("mnist", split="test")
    assert d.images.shape == (10000, 1, 28, 28) and d.is_digits
    assert d.images.min() == -1 and d.images.max() == 1


def test_by_digit_labels_digit_named_classes_by_their_digit():
    from imggen.data import DIGIT_CLASSES, ImageData

    x = torch.zeros(3, 1, 28, 28)
    d = ImageData(x, torch.tensor([0, 1, 0]), "mine.zip", classes=("3", "7")).by_digit()
    assert d.classes == DIGIT_CLASSES and d.labels.tolist() == [3, 7, 3] and d.is_digits
    other = ImageData(x, torch.tensor([0, 1, 0]), "pets.zip", classes=("cat", "dog"))
    assert other.by_digit() is other
    flat = ImageData(x, torch.full((3,), -1), "flat.zip")
    assert flat.by_digit() is flat
