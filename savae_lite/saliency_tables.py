"""Saliency tables (Kim et al. 2018, Section 5.4 and Figure 4): one row per predicted token with its output and
input saliency, log-likelihood, position, word frequency and POS tag, and the means of a saliency per group
(tag, position, relative position, frequency bucket, log-likelihood bucket) with confidence intervals.

Chapter: *What the latent encodes*. The gradients are :mod:`savae_lite.saliency`'s
(:func:`~savae_lite.saliency.output_saliency`, :func:`~savae_lite.saliency.input_saliency`);
:func:`~savae_lite.saliency.saliency_table` runs them over batches and builds the table. The names are importable from
:mod:`savae_lite.saliency` too.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

# ------------------------------------------------------------------------------------- token table, buckets

REL_EDGES = tuple(i / 10 for i in range(11))  # relative position (position / length) in (0, 1], 10 buckets
FREQ_EDGES = (0, 1, 10, 100, 1_000, 10_000, 100_000, math.inf)  # training count, half-open [lo, hi)
LOGLIK_EDGES = (-math.inf, -10, -8, -6, -5, -4, -3, -2, -1, -0.5, 0)  # log p(x_t | .) in nats, (lo, hi]


def word_counts(sentences: Iterable[Sequence[str]]) -> Counter:
    """Training-corpus word counts for the frequency buckets; ``</s>`` counted once per sentence."""
    counts: Counter = Counter()
    for words in sentences:
        counts.update(words)
        counts["</s>"] += 1
    return counts


def _freq_label(lo: float, hi: float) -> str:
    if lo == 0:
        return "0"
    return f"{int(lo):,}+" if math.isinf(hi) else f"{int(lo):,}-{int(hi) - 1:,}"


def token_table(words: Sequence[Sequence[str]], output_saliency: Sequence[Sequence[float]], *,
                log_lik: Sequence[Sequence[float]] | None = None,
                input_saliency: Sequence[Sequence[float]] | None = None,
                tags: Sequence[Sequence[str]] | None = None, counts: Mapping[str, int] | None = None,
                sent_ids: Sequence | None = None):
    """One row per predicted token, as a pandas DataFrame; the aggregations are group-bys of it.

    ``words[i]``: the targets of sentence i (its words, then ``</s>``), n_i + 1 of them; the other sequences are
    aligned with it (``output_saliency``, ``log_lik``, ``input_saliency`` of the same tokens, ``tags``).
    Columns: ``sentence`` (``sent_ids[i]`` or i), ``position`` (1-based among the targets), ``length`` (n_i + 1),
    ``rel_position`` (position / length, ``</s>`` = 1), ``word``, ``tag``, ``frequency`` (``counts[word]``, 0 when
    absent), ``log_lik``, ``output_saliency``, ``input_saliency`` (NaN when not given), and the buckets
    ``rel_bucket``, ``freq_bucket``, ``loglik_bucket`` (ordered categoricals; edges ``REL_EDGES``,
    ``FREQ_EDGES``, ``LOGLIK_EDGES``).
    """
    import pandas as pd

    rows = []
    for i, ws in enumerate(words):
        n = len(ws)
        for name, seq in (("output_saliency", output_saliency), ("log_lik", log_lik),
                          ("input_saliency", input_saliency), ("tags", tags)):
            if seq is not None and len(seq[i]) != n:
                raise ValueError(f"token_table: sentence {i} has {n} words but {len(seq[i])} {name}")
        for t, w in enumerate(ws):
            rows.append((sent_ids[i] if sent_ids is not None else i, t + 1, n, (t + 1) / n, w,
                         tags[i][t] if tags is not None else None,
                         int(counts.get(w, 0)) if counts is not None else np.nan,
                         float(log_lik[i][t]) if log_lik is not None else np.nan,
                         float(output_saliency[i][t]),
                         float(input_saliency[i][t]) if input_saliency is not None else np.nan))
    df = pd.DataFrame(rows, columns=["sentence", "position", "length", "rel_position", "word", "tag", "frequency",
                                     "log_lik", "output_saliency", "input_saliency"])
    rel_labels = [f"{a:.1f}-{b:.1f}" for a, b in zip(REL_EDGES[:-1], REL_EDGES[1:])]
    df["rel_bucket"] = pd.cut(df["rel_position"], REL_EDGES, labels=rel_labels, include_lowest=True)
    freq_labels = [_freq_label(a, b) for a, b in zip(FREQ_EDGES[:-1], FREQ_EDGES[1:])]
    df["freq_bucket"] = pd.cut(df["frequency"], FREQ_EDGES, labels=freq_labels, right=False)
    ll_labels = [f"({a:g}, {b:g}]" for a, b in zip(LOGLIK_EDGES[:-1], LOGLIK_EDGES[1:])]
    df["loglik_bucket"] = pd.cut(df["log_lik"], LOGLIK_EDGES, labels=ll_labels)
    return df


def aggregate(table, by: str, value: str = "output_saliency", *, ci: str = "t", level: float = 0.95,
              n_boot: int = 2000, seed: int = 0):
    """Mean of ``value`` per group of column ``by``: a DataFrame with columns ``by``, ``count``, ``mean``,
    ``ci_low``, ``ci_high`` (a ``level`` confidence interval for the mean: Student t, or the percentile
    bootstrap with ``n_boot`` resamples; NaN for a group of one). Empty categories are dropped, rows with a
    missing ``value`` are not counted, so ``count`` sums to the number of tokens with a value."""
    import pandas as pd
    from scipy import stats

    if ci not in ("t", "bootstrap"):
        raise ValueError(f"aggregate: ci must be 't' or 'bootstrap', got {ci!r}")
    rng = np.random.default_rng(seed)
    out = []
    for key, vals in table.dropna(subset=[value]).groupby(by, observed=True, sort=True)[value]:
        v = vals.to_numpy(dtype=float)
        n, m = len(v), float(v.mean())
        lo = hi = math.nan
        if n > 1 and ci == "t":
            half = stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)
            lo, hi = m - half, m + half
        elif n > 1:
            means = v[rng.integers(0, n, size=(n_boot, n))].mean(1)
            lo, hi = (float(q) for q in np.quantile(means, [0.5 - level / 2, 0.5 + level / 2]))
        out.append((key, n, m, lo, hi))
    return pd.DataFrame(out, columns=[by, "count", "mean", "ci_low", "ci_high"])


FIGURE4 = {"tag": "tag", "position": "position", "relative position": "rel_bucket",
           "word frequency": "freq_bucket", "log-likelihood": "loglik_bucket"}


def figure4_tables(table, value: str = "output_saliency", **kw) -> dict:
    """The five panels of Figure 4 (``FIGURE4``: panel name -> grouping column) as :func:`aggregate` tables."""
    return {name: aggregate(table, col, value, **kw) for name, col in FIGURE4.items()}
