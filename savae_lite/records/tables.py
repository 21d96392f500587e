"""How the book writes numbers: one formatting rule per quantity and the one table helper.

Chapters: every results table and every glued number of chapters 4–7.

Rules: a fixed number of decimals per quantity (:data:`DECIMALS`), never scientific notation (``1013.46``, not
``1.01e+03``) and never ``-0.00``; "–" where a value does not exist (``None``, NaN); ``mean ± sd`` only where
there is a standard deviation (one seed has none, so no "± sd"); human column headers (:data:`HEADERS`), not the
records' snake_case keys; padding between cells, so that two numbers never touch; and a table that fits the
page's column: headers, row names and columns of prose wrap, numbers never break.
"""
from __future__ import annotations

import html as _html
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

#: A text cell at least this long that contains a letter is prose (:func:`is_prose`): its column wraps.
PROSE_MIN_CHARS = 20
#: The style of every cell of a column with prose. It wraps between words and, where a path or a word is longer
#: than the column, inside it; it reads from the left; the column keeps a readable width. (A cell's own style is
#: less specific than :data:`CELL_STYLE`'s ``#table td``, hence ``!important``.)
PROSE_STYLE = ("text-align: left !important; white-space: normal !important; overflow-wrap: anywhere; "
               "min-width: 8em")

#: A row or column name longer than this may wrap after a "+" too (``_label``).
LABEL_WRAP_CHARS = 12

#: Padding between cells, numbers right-aligned, no line break inside a cell (a "± sd" stays on its line).
CELL_STYLE = [
    {"selector": "th, td", "props": [("padding", "0.3em 0.6em")]},
    # a number (e.g. "67.39 ± 0.15") never breaks; a header, a row name or a column of prose (:data:`PROSE_STYLE`)
    # wraps, so that a table fits the page's column instead of hiding its last columns behind a scroll bar
    {"selector": "td", "props": [("text-align", "right"), ("font-variant-numeric", "tabular-nums"),
                                 ("white-space", "nowrap")]},
    {"selector": "th", "props": [("text-align", "left"), ("white-space", "normal"), ("min-width", "4em")]},
    {"selector": "", "props": [("border-collapse", "collapse"), ("margin-bottom", "1em")]},
]


def is_prose(value) -> bool:
    """True for a cell of prose: text of at least :data:`PROSE_MIN_CHARS` characters with a letter in it (a
    description, a path, "K = 10 SVI steps in training and at test time"). Numbers ("67.39 ± 0.15", "0.0123
    [0.0100, 0.0150]") and short labels ("cuda", "PPL 101.40", "≤ 327.5 (bound)") are not: they never break."""
    return isinstance(value, str) and len(value) >= PROSE_MIN_CHARS and any(c.isalpha() for c in value)


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


def counted(n, noun: str) -> str:
    """A count with its noun in the right number: ``counted(1, "seed") == "1 seed"``, ``counted(3, "seed") ==
    "3 seeds"`` (nouns whose plural adds an s); a missing count reads ``"– seeds"``."""
    try:
        n = int(n)
    except (TypeError, ValueError):  # None, NaN or a dash
        return f"{DASH} {noun}s"
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
    padding between cells and no line breaks inside numbers; a column that holds prose (:func:`is_prose`) wraps
    and reads from the left; text is escaped (``<unk>`` shows as written). ``transpose``: settings as columns."""
    from pandas.io.formats.style import Styler  # needs jinja2 (the book's extra)

    if isinstance(data, Styler):
        styler = data
    else:
        shown = frame(data, columns, decimals, signed)
        styler = (shown.T if transpose else shown).style.format(escape="html")  # "<unk>" is text, not a tag
        styler = styler.format_index(_label, axis=0).format_index(_label, axis=1)
    if any(is_prose(v) for v in styler.data.to_numpy().ravel()):  # a column with prose wraps (:data:`PROSE_STYLE`)
        styler = styler.apply(_prose_column, axis=0)
    return styler.set_table_styles(CELL_STYLE, overwrite=False)


def _prose_column(column: pd.Series) -> list[str]:
    """Every cell of a column that holds prose (:func:`is_prose`) in :data:`PROSE_STYLE`, so that the column
    reads from the left throughout; nothing for the other columns."""
    style = PROSE_STYLE if any(is_prose(v) for v in column) else ""
    return [style] * len(column)


def _label(value) -> str:
    """A row or column name as HTML: escaped, and, when longer than :data:`LABEL_WRAP_CHARS`, free to wrap after
    a "+" ("aggressive+ anneal") as it already may after a hyphen or a space; a short name ("vae+svi+kl") stays
    whole."""
    text = _html.escape(str(value))
    return text.replace("+", "+<wbr>") if len(str(value)) > LABEL_WRAP_CHARS else text


def html(data, **kwargs) -> str:
    """The HTML of :func:`table` (what a page shows)."""
    return table(data, **kwargs).to_html()
