import os
import random
import stat

import pytest
import torch
from safetensors.torch import save_file

from imggen import checkpoint, registry
from imggen.checkpoint import CheckpointError
from imggen.models.classifier import ClassifierConfig, DigitClassifier

CFG = {"channels": 4, "feature_dim": 8, "num_classes": 10, "dropout": 0.0}


def _tiny(seed=0) -> DigitClassifier:
    torch.manual_seed(seed)
    return DigitClassifier(ClassifierConfig(**CFG)).eval()


@pytest.fixture
def saved(tmp_path):
    net = _tiny()
    path = checkpoint.save(net, tmp_path / "tiny.safetensors", family="classifier", config=CFG,
                           metrics={"test_accuracy": 0.5, "hist": [1, 2]}, recipe={"epochs": 1},
                           card={"data": "mnist5k", "train_seconds": 1.5})
    return net, path


def test_round_trip_metadata_and_outputs(saved):
    net, path = saved
    meta = checkpoint.read_metadata(path)
    assert meta["family"] == "classifier" and meta["name"] == "tiny" and meta["config"] == CFG
    assert meta["metrics"] == {"test_accuracy": 0.5, "hist": [1, 2]} and meta["recipe"] == {"epochs": 1}
    assert meta["card"]["data"] == "mnist5k"
    again = registry.build(meta["family"], **meta["config"]).eval()
    checkpoint.load_weights(again, path)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), again(x))


def test_update_metadata_merges(saved):
    net, path = saved
    checkpoint.update_metadata(path, net, metrics={"fd": 3.0})
    meta = checkpoint.read_metadata(path)
    assert meta["metrics"]["fd"] == 3.0 and meta["metrics"]["test_accuracy"] == 0.5


def test_atomic_write_leaves_no_temp_files_and_is_readable(saved):
    _, path = saved
    assert [p.name for p in path.parent.iterdir()] == ["tiny.safetensors"]
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o044  # readable by others: servable/shareable


def test_failed_write_keeps_old_file(saved, monkeypatch):
    net, path = saved
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_model", boom)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(net, path, family="classifier", config=CFG)
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["tiny.safetensors"]


def test_pickle_is_refused(tmp_path):
    p = tmp_path / "model.pt"
    torch.save(_tiny().state_dict(), p)
    with pytest.raises(CheckpointError, match="pickle"):
        checkpoint.read_metadata(p)
    with pytest.raises(CheckpointError, match="pickle"):
        registry.load(str(p))


def test_random_bytes_refused(tmp_path):
    p = tmp_path / "noise.safetensors"
    p.write_bytes(random.Random(0).randbytes(4096))  # seeded: never starts like a zip by chance
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        checkpoint.read_metadata(p)


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_safetensors_refused(saved, tmp_path, keep):
    _, path = saved
    raw = path.read_bytes()
    p = tmp_path / "cut.safetensors"
    p.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(CheckpointError, match="safetensors"):
        checkpoint.read_metadata(p)


def test_foreign_safetensors_refused(tmp_path):
    p = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(p), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not an imggen checkpoint"):
        checkpoint.read_metadata(p)


def test_missing_and_mismatched(saved, tmp_path):
    _, path = saved
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.read_metadata(tmp_path / "nope.safetensors")
    wrong = DigitClassifier(ClassifierConfig(**{**CFG, "channels": 6}))
    with pytest.raises(CheckpointError, match="do not match"):
        checkpoint.load_weights(wrong, path)


def test_registry_register_and_load(saved):
    _, path = saved
    registry.register("tiny-test-clf", path)
    try:
        assert registry.list_models()["tiny-test-clf"]["family"] == "classifier"
        assert registry.load("tiny-test-clf").family == "classifier"
    finally:
        registry.unregister("tiny-test-clf", owner=None)
        registry.load.cache_clear()


def test_shipped_classifier_metadata():
    meta = checkpoint.read_metadata(registry.CHECKPOINT_DIR / "classifier-mnist.safetensors")
    assert meta["family"] == "classifier" and meta["metrics"]["test_accuracy"] >= 0.99
    assert os.path.getsize(registry.CHECKPOINT_DIR / "classifier-mnist.safetensors") < 20e6
