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


def test_gaussian_contours_draws_one_labelled_ellipse_per_level():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from savae_lite import plotting

    fig, ax = plt.subplots()
    plotting.gaussian_contours(ax, torch.zeros(2), torch.eye(2), color="red", label="q", mark_mean=True)
    assert [p.get_label() for p in ax.patches][0] == "q" and len(ax.patches) == 2
    assert sorted(p.width for p in ax.patches) == pytest.approx([2.0, 4.0]) and len(ax.get_lines()) == 1
    plt.close(fig)


def test_show_source_wraps_long_lines_to_the_page_width():
    pytest.importorskip("matplotlib")
    from savae_lite import plotting

    lines = [
        "def f(alpha, beta):",
        '    """' + "word " * 30 + '"""',
        "    x = g(" + ", ".join(f"argument_{i}" for i in range(12)) + ")  # " + "comment " * 12,
        "    return x",
    ]
    wrapped = plotting._wrap_code(lines, 60)
    assert max(map(len, wrapped)) <= 60
    assert wrapped[0] == lines[0] and wrapped[-1] == lines[-1]
    assert any(line.lstrip().startswith("# comment") for line in wrapped)  # the comment moved above
    assert "".join(wrapped).replace(" ", "").count("argument_11") == 1
