"""Comparisons the book draws from its records, as numbers and short verdict words.

Chapters 4–7: "is SA-VAE's IW-NLL better than the VAE's by more than the seeds' spread?" is
:func:`separated`; "does the KL fall as the decoder deepens?" is :func:`trend`. The yardstick for a difference
between two means over seeds is ``k`` times the larger of their standard deviations (``k = 2`` by default): a
difference beyond it is a difference, one within it is not told apart from the noise of training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from savae_lite.records.tables import DECIMALS, DEFAULT_DECIMALS, PM, Num, missing

ONE_SEED = "not judged (one seed)"
WITHIN = "within the seeds' spread"


def difference(a, b) -> float:
    """``a - b`` for two numbers or two means (anything with ``float()``: :class:`~savae_lite.records.tables.PM`,
    :class:`~savae_lite.records.tables.Num`); NaN when either is missing."""
    if missing(a) or missing(b):
        return float("nan")
    fa, fb = float(a), float(b)
    return float("nan") if missing(fa) or missing(fb) else fa - fb


def separated(a_mean, a_sd, b_mean, b_sd, k: float = 2, lower_is_better: bool = True,
              senses: tuple[str, str] = ("better", "worse")) -> str:
    """Verdict words for mean ``a`` against mean ``b``: "better by more than 2 sd" / "worse by more than 2 sd"
    when ``|a - b|`` exceeds ``k`` times the larger standard deviation, "within the seeds' spread" when it does
    not, "not judged (one seed)" when either sd is missing (a single seed has no spread), "–" when a mean is.
    ``lower_is_better``: the sense of "better" (True for NLLs and bounds); ``senses``: the words for a better and
    a worse ``a`` (``("higher", "lower")`` with ``lower_is_better=False`` for a quantity that is not a score)."""
    if missing(a_mean) or missing(b_mean):
        return "–"
    if missing(a_sd) or missing(b_sd):
        return ONE_SEED
    diff = float(a_mean) - float(b_mean)
    if abs(diff) <= k * max(float(a_sd), float(b_sd)):
        return WITHIN
    better = diff < 0 if lower_is_better else diff > 0
    return f"{senses[0] if better else senses[1]} by more than {k:g} sd"


@dataclass(frozen=True)
class Comparison:
    """Mean ``a`` against mean ``b`` of one quantity: the difference ``a - b`` and the verdict words of
    :func:`separated`. ``resolved``: True beyond the yardstick, False within it, None without a spread."""

    a: PM
    b: PM
    diff: Num
    words: str

    @property
    def resolved(self) -> bool | None:
        """True when the difference exceeds the yardstick, False within it, None without a spread or a mean."""
        if self.words in (ONE_SEED, "–"):
            return None
        return self.words != WITHIN


def compare(a: Mapping, b: Mapping, key: str, decimals: int | None = None, k: float = 2,
            lower_is_better: bool = True, senses: tuple[str, str] = ("better", "worse")) -> Comparison:
    """:class:`Comparison` of ``key`` between two summary entries (``key`` and ``key + "_sd"`` in each);
    ``lower_is_better`` and ``senses`` as for :func:`separated`."""
    d = DECIMALS.get(key, DEFAULT_DECIMALS) if decimals is None else decimals
    pa, pb = PM.of(a, key, d), PM.of(b, key, d)
    diff = difference(pa, pb)
    words = separated(pa.mean, pa.sd, pb.mean, pb.sd, k, lower_is_better, senses)
    return Comparison(pa, pb, Num(None if missing(diff) else diff, d, signed=True), words)


def trend(values: Sequence[float]) -> str:
    """How a sequence moves: "rises" (every step up), "falls" (every step down), "does not move in one
    direction" otherwise (including ties and a single value)."""
    steps = list(zip(values, values[1:]))
    if steps and all(b > a for a, b in steps):
        return "rises"
    if steps and all(b < a for a, b in steps):
        return "falls"
    return "does not move in one direction"


def rank(values: Mapping[str, float], name: str) -> int:
    """1-based rank of ``name`` among ``values`` in ascending order (1: the lowest, the best NLL)."""
    order = sorted(values, key=lambda n: values[n])
    return order.index(name) + 1


def yes_no(condition: bool) -> str:
    """"Yes" or "No"."""
    return "Yes" if condition else "No"
