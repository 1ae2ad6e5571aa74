"""UI endpoints take registered model names only (custom values allowed for models trained after start-up)."""
import gradio as gr
import pytest

from imggen import registry
from imggen.ui import common


def test_require_model_accepts_registered_names_only(tmp_path):
    name = next(iter(registry.model_paths()))
    assert common.require_model(name) == name
    path = str(registry.model_paths()[name])
    with pytest.raises(gr.Error, match="unknown model"):
        common.require_model(path)  # a server path is never loaded from the UI
    with pytest.raises(gr.Error, match="No model selected"):
        common.require_model("")


def test_model_registered_later_is_accepted(tmp_path):
    import shutil

    src = next(iter(registry.model_paths().values()))
    dst = tmp_path / "late-model.safetensors"
    shutil.copy(src, dst)
    with pytest.raises(gr.Error, match="unknown model"):
        common.require_model("late-model")
    registry.register("late-model", dst)
    assert common.require_model("late-model") == "late-model"
