"""The book's plotting helpers (plotting.py)."""
import pytest
import torch


def test_plotting_ellipse_and_style():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from savae_lite import plotting

    plotting.use_book_style()
    fig, ax = plt.subplots()
    e = plotting.gaussian_ellipse(ax, [1.0, 2.0], torch.tensor([[4.0, 0.0], [0.0, 1.0]]), n_std=2.0)
    assert sorted([e.width, e.height]) == pytest.approx([4.0, 8.0])
    assert plotting.color_of("savae") == plotting.METHOD_COLORS["savae"]
    plt.close(fig)
