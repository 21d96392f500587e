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


# ---- one look for the whole book: colours and sizes ------------------------------------------------------
MODES = ("autoreg", "vae", "vae+anneal", "svi", "vae+svi", "vae+svi+kl", "savae", "aggressive")

# Machado, Oliveira & Fernandes (2009), severity 1, applied to linear RGB.
CVD = {
    "normal": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}


def _lab(rgb, matrix):
    import numpy as np

    c = np.asarray(rgb, dtype=float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lin = np.clip(np.asarray(matrix) @ lin, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_every_mode_has_its_own_colour_distinct_under_colour_blindness():
    pytest.importorskip("matplotlib")
    import itertools

    import matplotlib.colors as mc
    import numpy as np

    from savae_lite import plotting

    assert set(MODES) <= set(plotting.MODE_COLORS)
    colours = {m: mc.to_rgb(c) for m, c in plotting.MODE_COLORS.items()}
    assert len(set(colours.values())) == len(colours)
    for vision, matrix in CVD.items():
        lab = {m: _lab(c, matrix) for m, c in colours.items()}
        worst = min((float(np.linalg.norm(lab[a] - lab[b])), a, b) for a, b in itertools.combinations(lab, 2))
        floor = 20.0 if vision == "normal" else 12.0  # CIE76 ΔE: clearly different shades
        assert worst[0] >= floor, f"{worst[1]} and {worst[2]} look alike under {vision} (ΔE {worst[0]:.1f})"
    for mode in MODES:  # every chapter asks color_of; settings of a study take their mode's colour
        assert plotting.color_of(mode) == plotting.MODE_COLORS[mode]
    assert plotting.color_of("savae-K10") == plotting.color_of("savae-long") == plotting.MODE_COLORS["savae"]
    assert plotting.color_of("vae+anneal-dec64") == plotting.MODE_COLORS["vae+anneal"]
    assert plotting.color_of("something else") in plotting.EXTRA_COLORS
    # the methods that share the figures of chapters 1 and 2 are told apart as well
    together = ("encoder", "narrow encoder", "posterior", "best diagonal q", "svi")
    lab = {m: mc.to_rgb(plotting.color_of(m)) for m in together}
    for vision, matrix in CVD.items():
        pairs = [(float(np.linalg.norm(_lab(lab[a], matrix) - _lab(lab[b], matrix))), a, b)
                 for a, b in itertools.combinations(together, 2)]
        worst = min(pairs)
        assert worst[0] >= 12.0, f"{worst[1]} and {worst[2]} look alike under {vision} (ΔE {worst[0]:.1f})"
    assert plotting.rgb_of("savae") == (213, 94, 0)


def _page_px(pt, fig_width_in):
    """The on-page size of ``pt``-point text in a figure ``fig_width_in`` wide, by the book's rule."""
    from savae_lite import plotting

    natural = fig_width_in * plotting.DPI
    return pt * plotting.DPI / 72 * min(1.0, plotting.COLUMN_PX / natural)


@pytest.mark.parametrize("ncols,nrows", [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2)])
def test_book_figure_sizes_keep_text_at_least_11_px_at_1280(ncols, nrows):
    pytest.importorskip("matplotlib")
    from savae_lite import plotting

    w, h = plotting.figsize(ncols, nrows)
    assert w * plotting.DPI <= plotting.COLUMN_PX + 1e-6 and h > 0
    smallest = min(plotting.book_rc()[k] for k in ("font.size", "xtick.labelsize", "ytick.labelsize",
                                                   "legend.fontsize", "axes.labelsize", "axes.titlesize"))
    assert _page_px(smallest, w) >= plotting.MIN_TEXT_PX
    # the render check's rule: a figure shown at MIN_DISPLAY_RATIO of its width still reads at 11 px
    assert smallest * plotting.DPI / 72 * plotting.MIN_DISPLAY_RATIO >= plotting.MIN_TEXT_PX - 1e-9


def test_wide_grids_are_refused():
    pytest.importorskip("matplotlib")
    from savae_lite import plotting

    with pytest.raises(ValueError, match="split"):
        plotting.figsize(4)
    with pytest.raises(ValueError):
        plotting.figsize(2, width=1.5)


def test_finish_measures_text_on_the_page(monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from savae_lite import plotting, plotting_style

    monkeypatch.setattr(plt, "show", lambda: None)
    monkeypatch.setattr(plotting_style, "_show_figures_inline", lambda: None)
    plotting.use_book_style()
    fig, axes = plotting.figure(2)
    axes[0].plot([0, 1], label="vae")
    axes[0].legend(fontsize="x-small")  # raised to the floor by the book style
    axes[0].set_xticks([0, 1], ["a", "b"], fontsize="xx-small")
    assert plotting.min_text_px(fig) >= plotting.MIN_TEXT_PX
    plotting.finish(fig)
    # a 13-inch figure of four panels is shown at ~60 % of its size: its ticks fall below 11 px
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    for ax in axes:
        ax.plot([0, 1])
    assert plotting.displayed_scale(fig) < 0.65
    with pytest.warns(plotting.FigureTextWarning):
        plotting.finish(fig)
    monkeypatch.setenv("SAVAE_LITE_FIGURE_CHECK", "error")
    fig, ax = plt.subplots(figsize=(13, 3.4))
    ax.plot([0, 1])
    with pytest.raises(ValueError, match="px on the page"):
        plotting.finish(fig)
    plt.close("all")
