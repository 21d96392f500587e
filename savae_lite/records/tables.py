"""How the book writes numbers: one formatting rule per quantity and the one table helper.

Chapters: every results table and every glued number of chapters 4–7.

Rules: a fixed number of decimals per quantity (:data:`DECIMALS`), never scientific notation (``1013.46``, not
``1.01e+03``) and never ``-0.00``; "–" where a value does not exist (``None``, NaN); ``mean ± sd`` only where
there is a standard deviation (one seed has none, so no "± sd"); human column headers (:data:`HEADERS`), not the
records' snake_case keys; and padding between cells, so that two numbers never touch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import pandas as pd

DASH = "–"  # n/a

#: Decimals per quantity (a record's key); other numeric columns get :data:`DEFAULT_DECIMALS`.
DECIMALS = {"iw_nll": 2, "nll_bound": 2, "bound": 2, "gap": 2, "kl": 2, "mi": 2, "au": 1, "ppl_iw": 1,
            "ppl_bound": 1, "seeds": 0, "epochs_run": 1, "best_epoch": 1, "train_time_per_epoch_s": 1,
            "train_s": 0, "time_vs_vae": 2}
#: Decimals of a numeric column whose quantity :data:`DECIMALS` does not list.
DEFAULT_DECIMALS = 2

#: Quantities that count seeds or epochs, shown as a mean without "± sd" (no decimals when whole, else one).
COUNTS = {"seeds", "epochs_run", "best_epoch"}

#: Column headers for the records' keys.
HEADERS = {"iw_nll": "IW-NLL", "nll_bound": "bound", "bound": "test bound", "ppl_iw": "PPL (IW)",
           "ppl_bound": "PPL (bound)", "kl": "KL", "mi": "MI", "au": "AU", "seeds": "seeds",
           "epochs_run": "epochs", "best_epoch": "best epoch", "train_time_per_epoch_s": "seconds per epoch",
           "time_vs_vae": "relative to vae", "train_s": "train time (s)", "setting": "setting", "mode": "mode"}

#: Padding between cells, numbers right-aligned, no line break inside a cell (a "± sd" stays on its line).
CELL_STYLE = [
    {"selector": "th, td", "props": [("padding", "0.3em 0.6em")]},
    # a number (e.g. "67.39 ± 0.15") never breaks; a header or a row name wraps between words, so that a table
    # fits the page's column instead of hiding its last columns behind a scroll bar
    {"selector": "td", "props": [("text-align", "right"), ("font-variant-numeric", "tabular-nums"),
                                 ("white-space", "nowrap")]},
    {"selector": "th", "props": [("text-align", "left"), ("white-space", "normal"), ("min-width", "4em")]},
    {"selector": "", "props": [("border-collapse", "collapse"), ("margin-bottom", "1em")]},
]


def missing(value) -> bool:
    """True for ``None`` and NaN (a value that does not exist)."""
    if value is None:
        return True
    try:
        return math.isnan(value)
    except TypeError:
        return False


def number(value, decimals: int = DEFAULT_DECIMALS, signed: bool = False) -> str:
    """``value`` with ``decimals`` decimals ("–" when missing), a leading ``+`` when ``signed``; a value that rounds
    to zero is written without a sign (``0.00``, not ``-0.00``)."""
    if missing(value):
        return DASH
    value = float(value)
    if math.isinf(value):
        return ("-" if value < 0 else "+" if signed else "") + "∞"
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    digits = text.lstrip("+-")
    if not digits.strip("0."):  # rounds to zero: no sign
        return digits
    return text


def pm(mean, sd=None, decimals: int = DEFAULT_DECIMALS) -> str:
    """``mean ± sd`` with ``decimals`` decimals; the mean alone when there is no sd (one seed); "–" when the mean
    is missing. ``pm(1.2345, 0.0567) == "1.23 ± 0.06"``, ``pm(1.2345, None) == "1.23"``."""
    if missing(mean):
        return DASH
    if missing(sd):
        return number(mean, decimals)
    return f"{number(mean, decimals)} ± {number(sd, decimals)}"


def pm_of(row: Mapping, key: str, decimals: int | None = None) -> str:
    """:func:`pm` of ``row[key]`` and ``row[key + "_sd"]`` (a summary entry), decimals from :data:`DECIMALS`."""
    d = DECIMALS.get(key, DEFAULT_DECIMALS) if decimals is None else decimals
    return pm(_get(row, key), _get(row, f"{key}_sd"), d)


def pct(value, decimals: int = 1) -> str:
    """A share as a percentage: ``pct(0.9512) == "95.1 %"``."""
    return DASH if missing(value) else f"{number(100 * float(value), decimals)} %"


@dataclass(frozen=True)
class Num:
    """A number with its formatting: ``str(Num(0.1234, 3)) == "0.123"``, ``float()`` gives the value back.
    The package's reading functions return these, so a test can check the value and a page can glue the text."""

    value: float | None
    decimals: int = DEFAULT_DECIMALS
    signed: bool = False

    def __float__(self) -> float:
        return math.nan if self.value is None else float(self.value)

    def __str__(self) -> str:
        return number(self.value, self.decimals, self.signed)


@dataclass(frozen=True)
class PM:
    """A mean over seeds with its standard deviation (``None``: one seed); ``str()`` is :func:`pm`."""

    mean: float | None
    sd: float | None = None
    decimals: int = DEFAULT_DECIMALS

    @classmethod
    def of(cls, row: Mapping, key: str, decimals: int | None = None) -> "PM":
        """The mean and sd of ``key`` in a summary entry (``key`` and ``key + "_sd"``)."""
        d = DECIMALS.get(key, DEFAULT_DECIMALS) if decimals is None else decimals
        return cls(_get(row, key), _get(row, f"{key}_sd"), d)

    def __float__(self) -> float:
        return math.nan if self.mean is None else float(self.mean)

    def __str__(self) -> str:
        return pm(self.mean, self.sd, self.decimals)


def _get(row, key):
    value = row.get(key) if hasattr(row, "get") else None
    return None if missing(value) else value


def header(key) -> str:
    """The human header of a record key: :data:`HEADERS`, else the key with spaces for underscores."""
    return HEADERS.get(key, str(key).replace("_", " ")) if isinstance(key, str) else str(key)


def frame(data: pd.DataFrame, columns: Mapping[str, str] | list[str] | None = None,
          decimals: Mapping[str, int] | None = None, signed: tuple[str, ...] = ()) -> pd.DataFrame:
    """``data`` as a frame of strings, ready to show: each chosen column formatted with its decimals, merged with
    its ``<key>_sd`` column into ``mean ± sd`` where that column exists, headed by its human name.

    ``columns``: keys to show, in order (a mapping gives each its header; default: every column except the
    ``_sd`` ones); ``decimals``: decimals per key (default :data:`DECIMALS`, integer columns 0; :data:`COUNTS`
    without sd, 0 decimals when every value is whole, else 1); ``signed``: keys written with a leading ``+``. Text
    cells pass through; missing cells become "–"."""
    if columns is None:
        columns = [c for c in data.columns if not (isinstance(c, str) and c.endswith("_sd"))]
    names = dict(columns) if isinstance(columns, Mapping) else {c: header(c) for c in columns}
    decimals = dict(decimals or {})
    out = pd.DataFrame(index=data.index)
    for key, name in names.items():
        if key not in data:
            raise KeyError(f"table: no column {key!r}; the frame has {', '.join(map(str, data.columns))}")
        col = data[key]
        d = decimals.get(key, DECIMALS.get(key, 0 if pd.api.types.is_integer_dtype(col) else DEFAULT_DECIMALS))
        sd = data[f"{key}_sd"] if isinstance(key, str) and f"{key}_sd" in data else None
        if key in COUNTS:
            sd = None
            if key not in decimals:
                d = 0 if all(missing(v) or float(v).is_integer() for v in col if not isinstance(v, str)) else 1
        cells = []
        for i, value in enumerate(col):
            if isinstance(value, str):
                cells.append(value)
            elif missing(value):
                cells.append(DASH)
            elif sd is not None:
                cells.append(pm(value, sd.iloc[i], d))
            else:
                cells.append(number(value, d, key in signed))
        out[name] = cells
    out.index = data.index.set_names([header(n) if n else n for n in data.index.names])
    return out


def table(data, columns: Mapping[str, str] | list[str] | None = None, decimals: Mapping[str, int] | None = None,
          signed: tuple[str, ...] = (), transpose: bool = False):
    """The book's one table helper: a pandas ``Styler`` of :func:`frame` (or of a ``Styler`` given as is) with
    padding between cells and no line breaks inside them. ``transpose``: settings as columns."""
    from pandas.io.formats.style import Styler  # needs jinja2 (the book's extra)

    if isinstance(data, Styler):
        styler = data
    else:
        shown = frame(data, columns, decimals, signed)
        styler = (shown.T if transpose else shown).style
    return styler.set_table_styles(CELL_STYLE, overwrite=False)


def html(data, **kwargs) -> str:
    """The HTML of :func:`table` (what a page shows)."""
    return table(data, **kwargs).to_html()
