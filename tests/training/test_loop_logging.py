"""The loop's log line and periodic-snapshot callback, shared by the training scripts."""
from imggen.training.loop import TrainEvent, snapshot_every


class FakeSnapshot:
    def __init__(self):
        self.saved = []

    def save(self, path, status="snapshot"):
        self.saved.append((path, status))
        return str(path)


def test_snapshot_every_writes_each_n_steps_of_step_and_epoch_events(capsys):
    snap, cb = FakeSnapshot(), snapshot_every("run.safetensors", 3)
    for step in range(1, 8):
        cb(TrainEvent("step", step, 0.0), snap)
    cb(TrainEvent("end", 9, 0.0), snap)  # the loop writes the final weights itself
    assert [s.split(" (")[0] for _, s in snap.saved] == ["snapshot at step 3", "snapshot at step 6"]
    assert "snapshot step 6 -> run.safetensors" in capsys.readouterr().out
    never = FakeSnapshot()
    off = snapshot_every("x", 0)
    for step in range(1, 5):
        off(TrainEvent("epoch", step, 1.0), never)
    assert never.saved == []


def test_summary_names_kind_step_losses_and_numeric_metrics():
    ev = TrainEvent("epoch", 12, 1.5, losses={"loss/G": 0.5}, metrics={"fd": 2.0, "test_set": "x"},
                    steps_per_s=3.0, message="done")
    line = ev.summary()
    assert line.startswith("[epoch] step 12 epoch 1.50 3.00 steps/s loss/G=0.5000 fd=2")
    assert "test_set" not in line and line.endswith("done")
