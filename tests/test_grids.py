"""Image grids (grids.py): tiling a batch into one picture, and labelled rows of them.

Chapter: *Image VAEs with a gated PixelCNN decoder*.
"""
import pytest
import torch

from savae_lite.grids import show_rows, tile


def test_tile_places_every_image_in_raster_order_with_borders():
    images = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 1, 2, 3) / 10  # image i is all i / 10
    out = tile(images, ncol=3, pad=1, pad_value=0.9)
    assert out.shape == (2 * 3 + 1, 3 * 4 + 1)
    for i in range(5):
        r, c = divmod(i, 3)
        block = out[1 + r * 3: 1 + r * 3 + 2, 1 + c * 4: 1 + c * 4 + 3]
        assert torch.allclose(block, torch.full((2, 3), i / 10))
    assert (out[0] == 0.9).all() and (out[:, 0] == 0.9).all()  # borders
    assert (out[4:6, 9:12] == 0.9).all()  # the empty sixth cell


def test_tile_defaults_and_errors():
    x = torch.rand(4, 5, 5)
    assert tile(x, pad=0).shape == (5, 20)  # one row, no border
    assert torch.equal(tile(x, pad=0)[:, 5:10], x[1])
    with pytest.raises(ValueError, match="batch"):
        tile(torch.rand(5, 5))
    with pytest.raises(ValueError, match="channel"):
        tile(torch.rand(2, 3, 5, 5))
    with pytest.raises(ValueError, match="ncol"):
        tile(x, ncol=0)


def test_show_rows_draws_one_labelled_strip_per_entry():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = show_rows({"data": torch.rand(6, 1, 28, 28), "vae": torch.rand(3, 1, 28, 28)}, ncol=6)
    assert [ax.get_ylabel() for ax in fig.axes] == ["data", "vae"]
    assert fig.axes[1].images[0].get_array().shape == (30, 6 * 29 + 1)  # padded to six cells
    with pytest.raises(ValueError, match="nothing"):
        show_rows({})
    plt.close(fig)
