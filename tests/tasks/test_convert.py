import pytest
import torch
from torchvision.utils import make_grid

from imggen.convert import from01, from_uint8, grid, png_bytes, read_recipe, to01, to_pil, to_uint8


@pytest.mark.parametrize("n,c,nrow", [(1, 1, None), (4, 1, 2), (7, 3, 3), (64, 1, None), (5, 1, 8)])
def test_grid_matches_torchvision(n, c, nrow):
    x = torch.rand(n, c, 9, 11)
    assert torch.equal(grid(x, nrow=nrow), make_grid(x, nrow=nrow or int(torch.tensor(n).sqrt().ceil()),
                                                     padding=2, pad_value=0.2))


def test_pil_recipe_round_trip():
    im = to_pil(torch.rand(1, 5, 5), scale=3, recipe={"seed": 3})
    assert im.size == (15, 15)
    import io

    from PIL import Image

    assert read_recipe(Image.open(io.BytesIO(png_bytes(im)))) == {"seed": 3}
    a, b = png_bytes(to_pil(torch.zeros(1, 4, 4), recipe={})), png_bytes(to_pil(torch.zeros(1, 4, 4), recipe={}))
    assert a != b  # a request id keeps identical images distinct (gradio cache race)


def test_range_conversions_agree():
    """uint8 -> [-1, 1] (data sets, uploads) matches [0, 1] -> [-1, 1] on the uint8 grid, and round-trips."""
    import numpy as np

    a = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    x = from_uint8(a)
    assert x.dtype == torch.float32 and x.min() == -1 and x.max() == 1
    assert torch.allclose(x, from01(torch.from_numpy(a) / 255.0), atol=1e-6)
    assert torch.equal(from_uint8(torch.from_numpy(a).float()), x)  # tensors too
    assert (to_uint8(to01(x)) == a[0]).all()
