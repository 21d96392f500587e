"""The book's one look (a style module, as QuantEcon's and d2l's): a colour per training mode and method, figures
sized for the page, fonts that read on it, and the check that they do.

Chapter: every chapter calls :func:`use_book_style` in its first cells (through :mod:`savae_lite.plotting`, which
re-exports every name of this module). Matplotlib and seaborn are optional dependencies (the ``book`` extra).

Conventions: one colour per training mode and method across chapters (:data:`MODE_COLORS`,
:data:`METHOD_COLORS`, :func:`color_of`); figures sized for the page (:func:`figure`) so that their text is at
least :data:`MIN_TEXT_PX` pixels in a 1280-pixel window (:func:`check_text_size`, which
:func:`savae_lite.plotting.finish` calls).
"""
from __future__ import annotations

import math
import zlib

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns

PALETTE = sns.color_palette("colorblind")

# ---- colours -------------------------------------------------------------------------------------------
#: One fixed colour per training mode (and per collapse-study setting), for every figure, image and saliency
#: rendering of the book: Okabe & Ito's colour-blind-safe set plus two of Paul Tol's (olive, indigo), chosen so
#: that no two are near-identical for normal vision or under protan-, deutan- or tritanopia
#: (tests/test_plotting.py checks the distances). ``autoreg`` (no latent variable) is a neutral dark grey.
MODE_COLORS = {
    "autoreg": "#4D4D4D",  # dark grey
    "vae": "#0072B2",  # blue
    "vae+anneal": "#56B4E9",  # sky blue
    "svi": "#009E73",  # bluish green
    "vae+svi": "#999933",  # olive
    "vae+svi+kl": "#CC79A7",  # reddish purple
    "savae": "#D55E00",  # vermillion
    "aggressive": "#332288",  # indigo
    "vae+word-dropout": "#E69F00",  # orange (a setting of the collapse study)
}

#: The colour of each method or quantity, shared by all chapters (the modes, plus the reference objects of the
#: first chapters, the true posterior, the best diagonal q, an encoder and the narrow encoder).
METHOD_COLORS = {
    **MODE_COLORS,
    "posterior": "#000000",
    "best diagonal q": "#E69F00",
    "encoder": MODE_COLORS["vae"],
    "narrow encoder": "#882255",  # wine: the one-unit encoder of chapters 1 and 2
}

#: Colours for names that are neither a mode nor a setting of one (stable per name, see :func:`color_of`).
EXTRA_COLORS = ["#882255", "#44AA99", "#AA4499", "#661100", "#6699CC", "#117733"]

# ---- sizes ---------------------------------------------------------------------------------------------
#: Width in CSS pixels of the book's content column in a 1280-pixel browser window (sphinx-book-theme with
#: both sidebars; scripts/render_check.py measures it and fails if it is narrower).
COLUMN_PX = 690
#: Resolution of the book's figures. A figure ``w`` inches wide is a PNG of ``w * DPI`` pixels, shown at that
#: width when it fits the column and scaled down to the column otherwise.
DPI = 110
#: Width of the content column in figure inches, the widest figure that is shown unscaled.
COLUMN_IN = COLUMN_PX / DPI
#: The smallest text a reader should have to read, in CSS pixels at 1280 px.
MIN_TEXT_PX = 11.0
#: Font sizes of the book style (points); text of ``s`` points is ``s * DPI / 72`` pixels in the PNG.
FONT_PT = 10.0
#: Tick labels and legends; also the floor of every named size ("small", "x-small", ...).
SMALL_FONT_PT = 9.0
#: The most panels :func:`figure` puts in one row (split a larger grid into rows or several figures).
MAX_COLS = 3
#: How far the page may scale a figure down before its smallest book-style text falls below
#: :data:`MIN_TEXT_PX`; the render check fails a figure shown at less than this fraction of its pixel width.
MIN_DISPLAY_RATIO = MIN_TEXT_PX / (SMALL_FONT_PT * DPI / 72)


def color_of(name: str) -> tuple | str:
    """The book colour of a mode, study setting, method or quantity.

    A study setting named ``<mode>-<variant>`` (``savae-K10``, ``vae+anneal-dec64``, ``savae-long``) takes its
    mode's colour; other unknown names get one of :data:`EXTRA_COLORS`, the same in every process.
    """
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    base = name
    while "-" in base:
        base = base.rsplit("-", 1)[0]
        if base in METHOD_COLORS:
            return METHOD_COLORS[base]
    return EXTRA_COLORS[zlib.crc32(name.encode()) % len(EXTRA_COLORS)]  # stable across processes


def rgb_of(name: str) -> tuple[int, int, int]:
    """:func:`color_of` as 0-255 integers (for HTML renderings, e.g. ``saliency.render_html(rgb=...)``)."""
    return tuple(int(round(255 * c)) for c in mpl.colors.to_rgb(color_of(name)))


def figsize(ncols: int = 1, nrows: int = 1, *, width: float | None = None,
            row_height: float | None = None) -> tuple[float, float]:
    """The size in inches of a book figure of ``nrows`` x ``ncols`` panels.

    ``width``: the fraction of the page's content column (default 0.8 for one panel, the whole column for
    more), at most 1, so that the page shows the figure at its own pixel size and its smallest text at
    ``SMALL_FONT_PT * DPI / 72`` pixels. ``row_height`` in inches (default from the panel width). More than
    :data:`MAX_COLS` panels in a row are refused: their labels could not be read; split the figure.
    """
    if ncols < 1 or nrows < 1:
        raise ValueError(f"figsize: need at least one panel, got {nrows} x {ncols}")
    if ncols > MAX_COLS:
        raise ValueError(f"figsize: {ncols} panels in a row do not fit the page legibly (at most {MAX_COLS}); "
                         "split the figure into rows or several figures")
    frac = (0.8 if ncols == 1 else 1.0) if width is None else width
    if not 0 < frac <= 1:
        raise ValueError(f"figsize: width is a fraction of the column in (0, 1], got {width}")
    w = frac * COLUMN_IN
    if row_height is None:
        row_height = min(3.4, max(2.5, 0.7 * w / ncols))
    return (math.floor(w * 1000) / 1000, round(row_height * nrows, 3))  # never wider than the column


def figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, row_height: float | None = None,
           **subplots_kw):
    """``plt.subplots(nrows, ncols)`` at the book's size (see :func:`figsize`).

    Returns ``(fig, ax)`` for one panel, ``(fig, axes)`` otherwise, as ``plt.subplots`` does; other keyword
    arguments (``sharey``, ``gridspec_kw``, ...) go to ``plt.subplots``.
    """
    size = figsize(ncols, nrows, width=width, row_height=row_height)
    return plt.subplots(nrows, ncols, figsize=size, dpi=DPI, **subplots_kw)


def book_rc() -> dict:
    """The matplotlib rcParams of the book style (applied on top of seaborn's white grid)."""
    order = ("vae", "savae", "svi", "vae+svi+kl", "vae+anneal", "vae+svi", "aggressive", "autoreg")
    return {
        "figure.figsize": figsize(1),
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "savefig.bbox": "tight",
        "font.size": FONT_PT,
        "axes.labelsize": FONT_PT,
        "axes.titlesize": FONT_PT,
        "axes.titleweight": "bold",
        "xtick.labelsize": SMALL_FONT_PT,
        "ytick.labelsize": SMALL_FONT_PT,
        "legend.fontsize": SMALL_FONT_PT,
        "legend.title_fontsize": FONT_PT,
        "figure.titlesize": FONT_PT,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "lines.linewidth": 1.8,
        "axes.prop_cycle": mpl.cycler(color=[MODE_COLORS[m] for m in order]),
    }


def use_book_style() -> None:
    """Apply the book's matplotlib / seaborn style: white grid, the mode colours, fonts sized for the page.

    Text is :data:`FONT_PT` points (labels, titles) or :data:`SMALL_FONT_PT` (ticks, legends) at :data:`DPI`,
    so at least 13.75 pixels in a figure shown at its own size; named sizes below the floor
    (``fontsize="x-small"``) are raised to :data:`SMALL_FONT_PT`.

    Inside a Jupyter kernel it also selects the inline backend, so figures appear in the executed notebook
    even when the environment names a non-interactive backend (CI exports ``MPLBACKEND=Agg``, which would
    otherwise silently drop every figure from the built book).
    """
    _show_figures_inline()
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update(book_rc())
    _clamp_named_font_sizes(SMALL_FONT_PT / FONT_PT)


def _clamp_named_font_sizes(floor: float) -> None:
    from matplotlib import font_manager

    for key, scale in list(font_manager.font_scalings.items()):
        if scale is not None and scale < floor:
            font_manager.font_scalings[key] = floor


class FigureTextWarning(UserWarning):
    """A figure's text would be shown smaller than :data:`MIN_TEXT_PX` on the page."""


def displayed_scale(fig) -> float:
    """The factor by which the page scales ``fig`` down: 1 when its PNG fits :data:`COLUMN_PX`.

    The PNG is the figure's tight bounding box plus matplotlib's padding (``savefig.pad_inches``) at
    ``fig.dpi``, as the inline backend saves it.
    """
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    width_px = (box.width + 2 * mpl.rcParams["savefig.pad_inches"]) * fig.dpi
    return min(1.0, COLUMN_PX / width_px)


def text_sizes_px(fig) -> list[tuple[float, str]]:
    """``(pixels, text)`` of every visible, non-empty text of ``fig`` as shown on the page at 1280 px.

    Pixels = points x ``fig.dpi`` / 72 x :func:`displayed_scale`. Draws the figure once.
    """
    from matplotlib.text import Text

    fig.canvas.draw()
    scale = displayed_scale(fig)
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        out.append((t.get_fontsize() * fig.dpi / 72 * scale, t.get_text()))
    return out


def min_text_px(fig) -> float:
    """The smallest text of ``fig`` on the page, in CSS pixels at 1280 px (inf for a figure without text)."""
    return min((px for px, _ in text_sizes_px(fig)), default=float("inf"))


def check_text_size(fig) -> float:
    """Warn (:class:`FigureTextWarning`) when ``fig``'s smallest text is below :data:`MIN_TEXT_PX` on the page.

    ``SAVAE_LITE_FIGURE_CHECK=error`` raises ``ValueError`` instead, ``off`` skips the check;
    ``SAVAE_LITE_FIGURE_LOG=<file>`` appends each figure's smallest size to that file. Returns the smallest
    size in pixels. The book's render check fails a page that shows this warning.
    """
    import os
    import warnings

    policy = os.environ.get("SAVAE_LITE_FIGURE_CHECK", "warn")
    if policy == "off":
        return float("nan")
    sizes = text_sizes_px(fig)
    if not sizes:
        return float("inf")
    px, text = min(sizes)
    log = os.environ.get("SAVAE_LITE_FIGURE_LOG")  # one line per figure: smallest px, its text
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{px:.2f}\t{text[:40]!r}\n")
    if px < MIN_TEXT_PX:
        msg = (f"FigureTextWarning: figure text {text[:30]!r} is {px:.1f} px on the page (< {MIN_TEXT_PX:g} "
               "px); use plotting.figure(...) and the book's font sizes, or split the figure")
        if policy == "error":
            raise ValueError(msg)
        warnings.warn(msg, FigureTextWarning, stacklevel=3)
    return px


def _show_figures_inline() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: keep whatever backend is configured
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")
