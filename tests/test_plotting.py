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


def test_svi_gap_curves_draws_every_column_on_log_axes(monkeypatch):
    pytest.importorskip("matplotlib")
    pd = pytest.importorskip("pandas")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from savae_lite import plotting

    monkeypatch.setattr(plt, "show", lambda: None)
    frame = pd.DataFrame({"a": [4.0, 2.0, 1.0], "b": [8.0, 3.0, 0.5]}, index=[0, 1, 2])
    plotting.svi_gap_curves(frame, "K", linestyles={"b": "--"}, colors={"a": "red"})
    ax = plt.gcf().axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["a"].get_xdata()) == [1, 2] and lines["b"].get_linestyle() == "--"  # K = 0 skipped
    plotting.svi_gap_curves(frame, "K + 1", skip_first=False, shift=1)
    assert list(plt.gcf().axes[0].get_lines()[0].get_xdata()) == [1, 2, 3]
    plt.close("all")
