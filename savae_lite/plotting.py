"""The book's plotting helpers: Gaussian contours, source listings, the SVI-gap curves and :func:`finish`, the last
call of every plotting cell.

Chapter: every chapter. The book's style (colours, figure sizes, fonts and the text-size check) is
:mod:`savae_lite.plotting_style`; its names are importable from here too (``plotting.use_book_style()``,
``plotting.figure``, ``plotting.color_of``, ``plotting.DPI``), as the chapters use them. Matplotlib and seaborn
are optional dependencies (the ``book`` extra); the rest of the package never imports this module.

Conventions: log-likelihoods and gaps in nats on labelled axes; no figure titles when the caption or the text
already says what is shown.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from savae_lite.plotting_style import (  # noqa: F401 (re-exported: the chapters use them as plotting.<name>)
    COLUMN_IN,
    COLUMN_PX,
    DPI,
    EXTRA_COLORS,
    FONT_PT,
    MAX_COLS,
    METHOD_COLORS,
    MIN_DISPLAY_RATIO,
    MIN_TEXT_PX,
    MODE_COLORS,
    PALETTE,
    SMALL_FONT_PT,
    FigureTextWarning,
    book_rc,
    check_text_size,
    color_of,
    displayed_scale,
    figsize,
    figure,
    min_text_px,
    rgb_of,
    text_sizes_px,
    use_book_style,
)


def gaussian_ellipse(ax, mean, cov, n_std: float = 1.0, **kwargs) -> Ellipse:
    """Draw the ``n_std``-standard-deviation contour of N(mean, cov) in 2-D on ``ax``.

    ``mean`` (2,), ``cov`` (2, 2) (array-like or tensors); kwargs go to :class:`~matplotlib.patches.Ellipse`
    (e.g. ``edgecolor``, ``label``, ``linestyle``). Returns the patch.
    """
    mean = np.asarray(_numpy(mean), dtype=float).reshape(2)
    cov = np.asarray(_numpy(cov), dtype=float).reshape(2, 2)
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, 0.0, None)
    angle = math.degrees(math.atan2(vecs[1, 1], vecs[0, 1]))  # direction of the largest eigenvector
    kwargs.setdefault("facecolor", "none")
    kwargs.setdefault("linewidth", 1.8)
    patch = Ellipse(mean, width=2 * n_std * math.sqrt(vals[1]), height=2 * n_std * math.sqrt(vals[0]),
                    angle=angle, **kwargs)
    ax.add_patch(patch)
    return patch


def gaussian_contours(ax, mean, cov, *, color, label: str | None = None, linestyle: str = "-",
                      n_stds=(1, 2), mark_mean: bool = False) -> None:
    """Chapters *The amortization gap* and *SA-VAE*: the 1- and 2-standard-deviation ellipses of N(mean, cov).

    The first ellipse carries ``label`` and full opacity, the others are fainter; ``mark_mean`` adds a ``+``
    at the mean. ``mean`` (2,), ``cov`` (2, 2), array-like or tensors.
    """
    for i, k in enumerate(n_stds):
        gaussian_ellipse(ax, mean, cov, n_std=k, edgecolor=color, linestyle=linestyle,
                         label=label if i == 0 else None, alpha=1.0 if i == 0 else 0.5)
    if mark_mean:
        ax.plot(*np.asarray(_numpy(mean), dtype=float).reshape(2), marker="+", color=color, markersize=9)


def show_source(obj, width: int = 88) -> None:
    """Display the source code of ``obj`` (a function, method or class) as a highlighted code block.

    Lines longer than ``width`` characters are wrapped so that the block fits the page: a trailing comment
    moves above its line, long comments continue on a new comment line, and long code lines break after a
    comma or an operator, continued four spaces deeper (display only: the text is not meant to be run).
    """
    import inspect
    import textwrap

    from IPython.display import Markdown, display

    source = textwrap.dedent(inspect.getsource(obj))
    display(Markdown("```python\n" + "\n".join(_wrap_code(source.splitlines(), width)) + "\n```"))


def _wrap_code(lines: list[str], width: int) -> list[str]:
    import textwrap

    out: list[str] = []
    in_doc = False
    for line in lines:
        quotes = line.count('"""') + line.count("'''")
        doc_line = in_doc or quotes > 0
        in_doc = in_doc != (quotes % 2 == 1)
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        if doc_line:  # prose inside a docstring: wrap as text
            out += textwrap.wrap(line.strip(), width, initial_indent=indent, subsequent_indent=indent)
            continue
        code, sep, comment = line.partition("  # ")
        if line.lstrip().startswith("#"):
            code, comment = "", line.lstrip()[1:].strip()
        elif not sep:
            comment = ""
        if comment:
            out += textwrap.wrap(comment.strip(), width, initial_indent=indent + "# ",
                                 subsequent_indent=indent + "# ")
        code = code.rstrip()
        while len(code) > width:
            lo = len(indent) + 8
            cut = code.rfind(", ", lo, width - 1)
            if cut < 0:
                cut = max(code.rfind(op, lo, width - 1) for op in (" + ", " - ", " * ", " and ", " or ", " if "))
            if cut < 0:
                break
            out.append(code[: cut + 1].rstrip())
            code = indent + "    " + code[cut + 1:].lstrip()
        if code:
            out.append(code)
    return out


def nats_axis(ax, which: str = "y", what: str = "ELBO") -> None:
    """Label an axis '<what> (nats)'."""
    (ax.set_ylabel if which == "y" else ax.set_xlabel)(f"{what} (nats)")


def finish(fig=None) -> None:
    """Tight layout, check the text size on the page (:func:`~savae_lite.plotting_style.check_text_size`) and
    show: one call at the end of every plotting cell."""
    fig = fig or plt.gcf()
    fig.tight_layout()
    check_text_size(fig)
    plt.show()


def svi_gap_curves(frame, xlabel: str, *, skip_first: bool = True, shift: int = 0, linestyles: dict | None = None,
                   colors: dict | None = None, legend_fontsize=None) -> None:
    """Chapter *SVI*: each column of ``frame`` (index: SVI steps K; values: ELBO(lambda*) - ELBO(lambda_K) in
    nats) against K on log-log axes. ``skip_first`` drops the row K = 0 (log axis); ``shift`` is added to K;
    ``linestyles`` / ``colors`` map column names to matplotlib styles."""
    fig, ax = figure(1, width=1.0)
    data = frame.iloc[1:] if skip_first else frame
    for name in frame:
        style = {"color": colors[name]} if colors and name in colors else {}
        ax.plot(data.index + shift, data[name], (linestyles or {}).get(name, "-"), marker="o", markersize=3,
                label=name, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    nats_axis(ax, what=r"ELBO$(\lambda^*)$ $-$ ELBO$(\lambda_K)$")
    ax.legend(fontsize=legend_fontsize)
    finish(fig)


def _numpy(a):
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return a
