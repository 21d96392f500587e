"""Throughput of the importance-weighted NLL estimate (record key ``iw_nll``).

Chapter: *Differentiable SVI* (the benchmark); the estimator is described with the evaluation.

Sentences per second of ``objectives.iw_nll(model, x, mu, logvar, S, max_rows)`` (the text model in eval mode,
no gradient, S = ``iw_samples``), which evaluates ``chunk = max_rows // B`` samples of every sentence as one
batch of ``B * chunk`` rows. Each ``max_rows`` setting is timed ``iw_repeats`` times, the settings interleaved
(round-robin, alternating order); reported: median and IQR of sentences/s per setting, and the best setting's.
"""
from __future__ import annotations

import torch

from savae_lite.bench.presets import BenchConfig
from savae_lite.bench.timing import Clock, Spread, Timing
from savae_lite.objectives import iw_nll


def bench_iw(model_config, x: torch.Tensor, bc: BenchConfig, device: torch.device, log=print) -> dict:
    """The ``iw_nll`` record (module docstring)."""
    from savae_lite.models.text import TextVAE

    torch.manual_seed(0)
    model = TextVAE(model_config).to(device).eval()
    with torch.no_grad():
        mu, logvar = model.encode(x)
        iw_nll(model, x, mu, logvar, min(bc.iw_samples, 2), bc.iw_max_rows[0])  # warm-up
    sentences = x.shape[0]
    clock = Clock(device)
    times: dict[int, list[Timing]] = {m: [] for m in bc.iw_max_rows}
    settings = list(bc.iw_max_rows)
    for rnd in range(bc.iw_repeats):
        for max_rows in (settings if rnd % 2 == 0 else settings[::-1]):
            with torch.no_grad():
                times[max_rows].append(clock.measure(lambda: iw_nll(model, x, mu, logvar, bc.iw_samples, max_rows)))
    runs = []
    for max_rows in settings:
        chunk = max(1, max_rows // sentences)
        rate = Spread.of([sentences / t.seconds for t in times[max_rows]])
        runs.append({"max_rows": max_rows, "chunk_samples": chunk, "rows_per_chunk": chunk * sentences,
                     "time_s": round(Spread.of([t.seconds for t in times[max_rows]]).median, 4),
                     "wall_s": round(Spread.of([t.wall for t in times[max_rows]]).median, 4),
                     **rate.fields("sentences_per_s", 3),
                     "sentences_per_wall_s": round(Spread.of([sentences / t.wall for t in times[max_rows]]).median, 3),
                     "repeats": len(times[max_rows])})
        log(f"  IW-NLL ({bc.iw_samples} samples, chunk {chunk}): {rate.median:.2f} sentences/s "
            f"(IQR {rate.iqr:.2f}, {clock.kind})")
    best = max(runs, key=lambda r: r["sentences_per_s"])
    return {"samples": bc.iw_samples, "sentences": sentences, "tokens_per_sentence": int(x.shape[1]),
            "clock": clock.kind, "chunk_samples": best["chunk_samples"], "max_rows": best["max_rows"],
            **{k: best[k] for k in ("sentences_per_s", "sentences_per_s_q25", "sentences_per_s_q75",
                                     "sentences_per_s_iqr")},
            "runs": runs}
