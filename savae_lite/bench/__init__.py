"""``savae-lite bench``: how close an SA-VAE step comes to its cost floor, what it costs in memory, what the
package's training loop and IW evaluation cost around the model, and how training shares the machine.

Chapter: *Differentiable SVI* (the cost of Algorithm 1) loads ``book/results/bench.json``, written by
``savae-lite bench --quick --out book/results/bench.json``.

One module per part of the record:

=============================  ==============================================================================
module                         what it holds
=============================  ==============================================================================
:mod:`.presets`                :class:`BenchConfig` and the presets ``full``, ``quick`` (the book), ``tiny`` (CI)
:mod:`.timing`                 the clock (CPU time with one CPU thread, else wall time) and median / IQR
:mod:`.memory`                 :func:`measure_memory` (``peak_mem_mb``, ``peak_rss_mb``) and the tensor tracker
:mod:`.workloads`              the text and image batches
:mod:`.savae_step`             record ``savae_step``: decoder gradient evaluation, the SA-VAE step, their
                               ratio to the 2K + 1 floor (interleaved rounds), and ``summary``
:mod:`.training_loop`          record ``loop_vs_bare``: :class:`~savae_lite.loop.TrainingLoop` vs a bare loop
:mod:`.iw`                     record ``iw_nll``: IW-NLL sentences/s
:mod:`.sharing`                record ``sharing``: training steps/s alone and next to one busy process, per
                               CPU thread policy (the policy of :mod:`savae_lite.runtime` against the old one)
:mod:`.mode_steps`             record ``mode_steps`` (only when asked for): seconds per training step of every
                               mode at the size of a training preset (``--recipe``), each against ``vae``
=============================  ==============================================================================

``--only PART`` (repeatable) runs some of the parts: ``savae_step``, ``loop_vs_bare``, ``iw_nll``, ``sharing``,
``mode_steps``. The first four run by default; ``mode_steps`` (minutes per step at the paper's image size on a
CPU) runs only with ``--only mode_steps``, e.g. on a GPU
``savae-lite bench --only mode_steps --recipe omniglot-paper --device cuda`` (``--out FILE`` to keep it).

Every timed quantity is repeated and reported as its median with the interquartile range (``*_q25``,
``*_q75``, ``*_iqr`` fields); every ratio is formed from measurements interleaved in time. The machine's load
average at the start and the end is recorded with the results. On CPU the benchmark runs with one intra-op
thread unless told otherwise (``--threads``): on a shared machine whose cores are busy, OpenMP's barriers make
two-thread timings of small operations several times slower and far noisier, and ratios are what the benchmark
is about. (The ``sharing`` part runs its own worker processes with their own thread settings.)
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, replace

import torch

from savae_lite.bench.iw import bench_iw
from savae_lite.bench.memory import TensorMemoryPeak, measure_memory
from savae_lite.bench.mode_steps import bench_mode_steps, check_recipe, format_mode_steps
from savae_lite.bench.presets import PRESETS, BenchConfig
from savae_lite.bench.savae_step import HVPS, bench_savae_steps, decoder_grad_eval, savae_gradients, summarize
from savae_lite.bench.sharing import bench_sharing, format_sharing
from savae_lite.bench.training_loop import bench_loop_vs_bare
from savae_lite.bench.workloads import image_workload, text_workload
from savae_lite.svi import SVIConfig

__all__ = ["BenchConfig", "PRESETS", "PARTS", "OPTIONAL_PARTS", "ALL_PARTS", "HVPS", "TensorMemoryPeak",
           "decoder_grad_eval", "measure_memory", "savae_gradients", "run", "format_table", "main"]

PARTS = ("savae_step", "loop_vs_bare", "iw_nll", "sharing")  # the record's default parts, in the order they run
OPTIONAL_PARTS = ("mode_steps",)  # run only when named with --only (expensive at the paper's sizes on a CPU)
ALL_PARTS = PARTS + OPTIONAL_PARTS

DEFINITIONS = {
    "clock": "on CPU with one thread: process CPU time (time.process_time); otherwise wall-clock time; "
             "wall-clock values are given in the *_wall* fields",
    "grad_eval_s": "one decoder gradient evaluation: autograd.grad of sum_i f_i(lambda) (one reparameterised "
                   "sample, train mode) w.r.t. (mu, logvar) and the decoder parameters, lambda = encoder(x); median "
                   "over the evaluations timed next to the cell's steps",
    "step_s": "model.zero_grad(); modes.training_step(model, x, 'savae', SVIConfig(steps=K, hvp=hvp), kl_weight=1); "
              "median over rounds",
    "ratio_to_floor": "median over rounds of step_s / ((2K+1) * grad_eval_s), each step against the median of the "
                      "gradient evaluations timed in the blocks just before and just after it",
    "*_q25, *_q75, *_iqr": "quartiles (linear interpolation) and interquartile range of the repeated values",
    "stable": "ratio_to_floor_iqr / ratio_to_floor <= config.stable_rel_iqr (cells that are not get extra rounds, "
              "up to config.max_repeats)",
    "peak_rss_mb": "Linux CPU only: VmHWM after the step minus VmRSS before (after malloc_trim and a reset of the "
                   "high-water mark), MiB",
    "loop_vs_bare.ratio": "median over rounds of bare-loop seconds / TrainingLoop.run_epoch seconds for the same "
                          "batches (= package tokens/s over bare tokens/s)",
    "sharing.*_steps_per_s": "optimiser steps of the recipe per wall-clock second, alone or next to one process "
                             "spinning on one core; each policy in its own worker process",
    "sharing.loaded_over_alone": "median over rounds of a policy's loaded over its alone steps/s",
    "sharing.*_over_best_alone": "median over rounds of a policy's alone (or loaded) steps/s over the fastest "
                                 "policy's alone steps/s in the same round",
    "mode_steps.step_s": "one TrainingLoop.step(x) of the mode (zero_grad, modes.training_step with the recipe's "
                         "SVI and KL weight 1, checks, clip, optimiser step) on one batch of the recipe's batch size; "
                         "median over interleaved rounds after one untimed warm-up step; all values in step_s_all",
    "mode_steps.ratio_to_vae": "the mode's step_s median over vae's step_s median (vae: 1)",
    "mode_steps.peak_cuda_mb": "CUDA only: max_memory_allocated during the mode's steps (every mode's model and "
                               "optimiser resident), MiB; peak_cuda_step_mb: minus memory_allocated before the step",
}


def _load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def run(preset: str = "quick", device: str | torch.device = "cpu", threads: int | None = None, log=print,
        parts: tuple[str, ...] | list[str] | None = None, recipe: str | None = None) -> dict:
    """Run the benchmark ``preset`` ('full', 'quick' or 'tiny') and return the results record.

    On CPU the intra-op thread count is ``threads`` (default 1) for the run and restored afterwards. ``parts``:
    which of ``ALL_PARTS`` to run (default ``PARTS``: all but ``mode_steps``); ``ValueError`` naming ``--only``
    for an unknown one. ``recipe``: the training preset of ``mode_steps`` (default the preset's
    ``mode_steps_recipe``); ``ValueError`` naming ``--recipe`` for an unknown one, before anything runs.
    """
    parts = tuple(PARTS if not parts else parts)
    unknown = [p for p in parts if p not in ALL_PARTS]
    if unknown:
        raise ValueError(f"--only: unknown part(s) {', '.join(map(repr, unknown))}; choose from "
                         f"{', '.join(ALL_PARTS)}")
    from savae_lite.runtime import pick_device

    bc = PRESETS[preset]
    if recipe is not None:
        bc = replace(bc, mode_steps_recipe=check_recipe(recipe))
    dev = pick_device(device)
    threads_before = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(threads or 1)
    elif threads:
        torch.set_num_threads(threads)
    try:
        return _run(bc, dev, log, parts)
    finally:
        torch.set_num_threads(threads_before)


def _run(bc: BenchConfig, dev: torch.device, log, parts: tuple[str, ...] = PARTS) -> dict:
    from savae_lite import results
    from savae_lite.models.image import ImageVAE
    from savae_lite.models.text import TextVAE

    load_start = _load_average()
    t_start = time.perf_counter()
    record: dict = {"benchmark": "savae-lite bench", "preset": bc.preset, "created": results.stamp(),
                    "environment": {**results.environment(dev), "cpu_count": os.cpu_count()},
                    "load_avg_start": load_start}
    text = text_workload(bc, dev) if {"savae_step", "loop_vs_bare", "iw_nll"} & set(parts) else None
    image = image_workload(bc, dev) if "savae_step" in parts else None
    record["config"] = {**asdict(bc), "parts": list(parts),
                        "svi": {k: v for k, v in asdict(SVIConfig()).items() if k not in ("steps", "hvp")},
                        "kl_weight": 1.0}
    if text is not None:
        record["config"].update(text_model_config=asdict(text.model_config), text_data_used=text.description)
    if image is not None:
        record["config"].update(image_model_config=asdict(image.model_config), image_data_used=image.description)
    record["definitions"] = {
        **DEFINITIONS,
        "peak_mem_mb": ("CUDA max_memory_allocated during the step minus memory_allocated before" if dev.type == "cuda"
                        else "peak of live tensor storage created during the step (TorchDispatchMode tracker), MiB"),
    }
    log(f"savae-lite bench ({bc.preset}) on {dev}, {torch.get_num_threads()} thread(s), load {load_start}")
    phases: dict[str, float] = {"setup": time.perf_counter() - t_start}

    def phase(name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        phases[name] = time.perf_counter() - t0
        return out

    def savae_rows(name: str, model_cls, model_config, x) -> list[dict]:
        torch.manual_seed(0)
        return bench_savae_steps(name, model_cls(model_config).to(dev), x, bc, dev, log)

    if "savae_step" in parts:
        rows = phase("savae_step_text", lambda: savae_rows("text", TextVAE, text.model_config, text.step_batch))
        rows += phase("savae_step_image", lambda: savae_rows("image", ImageVAE, image.model_config, image.batch))
        record["savae_step"] = rows
        record["summary"] = summarize(rows)
    if "loop_vs_bare" in parts:
        record["loop_vs_bare"] = phase("loop_vs_bare", lambda: bench_loop_vs_bare(text.model_config,
                                                                                 text.train_batches, bc, dev, log))
    if "iw_nll" in parts:
        record["iw_nll"] = phase("iw_nll", lambda: bench_iw(text.model_config, text.iw_batch, bc, dev, log))
    if "sharing" in parts:  # on CPU whatever the device: it is about CPU threads
        record["sharing"] = phase("sharing", lambda: bench_sharing(bc, log))
    if "mode_steps" in parts:
        record["mode_steps"] = phase("mode_steps", lambda: bench_mode_steps(bc.mode_steps_recipe, bc, dev, log))
    record["load_avg_end"] = _load_average()
    record["phase_wall_s"] = {k: round(v, 2) for k, v in phases.items()}
    record["wall_time_s"] = round(time.perf_counter() - t_start, 2)
    return record


def format_table(record: dict) -> str:
    """The record as a text table: one line per (model, hvp, K) with medians and the ratio's IQR, then the rest
    (only the parts the record holds)."""
    def fmt(v, spec):
        return format(v, spec) if v is not None else "-".rjust(len(format(0.0, spec)))

    lines = []
    if "savae_step" in record:
        lines.append(f"{'model':6s} {'hvp':5s} {'K':>3s} {'step s':>9s} {'grad s':>9s} {'/floor':>7s} {'IQR':>7s} "
                     f"{'n':>3s} {'mem MiB':>9s} {'rss MiB':>9s}")
        for r in record["savae_step"]:
            lines.append(f"{r['model']:6s} {r['hvp']:5s} {r['K']:3d} {fmt(r['step_s'], '9.4f')} "
                         f"{fmt(r['grad_eval_s'], '9.4f')} {fmt(r['ratio_to_floor'], '7.3f')} "
                         f"{fmt(r['ratio_to_floor_iqr'], '7.3f')} {r.get('repeats', 0):3d} "
                         f"{fmt(r.get('peak_mem_mb'), '9.1f')} {fmt(r.get('peak_rss_mb'), '9.1f')}"
                         + ("" if r.get("stable", True) else "  (not stable)"))
        lines.append(f"summary: {record['summary']}")
    if "loop_vs_bare" in record:
        lv = record["loop_vs_bare"]
        lines.append(f"VAE training: TrainingLoop {lv['package_tokens_per_s']:.0f} tokens/s, bare loop "
                     f"{lv['bare_tokens_per_s']:.0f} tokens/s, ratio {lv['ratio']:.3f} (IQR {lv['ratio_iqr']:.3f})")
    if "iw_nll" in record:
        iw = record["iw_nll"]
        lines.append(f"IW-NLL ({iw['samples']} samples, chunk {iw['chunk_samples']}): {iw['sentences_per_s']:.2f} "
                     f"sentences/s (IQR {iw['sentences_per_s_iqr']:.2f})")
    if "sharing" in record:
        lines += format_sharing(record["sharing"])
    if "mode_steps" in record:
        lines += format_mode_steps(record["mode_steps"])
    lines.append(f"load average: start {record['load_avg_start']}, end {record['load_avg_end']}; "
                 f"{record['environment']['cpu_threads']} thread(s); {record['wall_time_s']} s")
    return "\n".join(lines)


def main(quick: bool = False, tiny: bool = False, device: str = "auto", out: str | None = None,
         threads: int | None = None, only: list[str] | None = None, recipe: str | None = None) -> int:
    """``savae-lite bench``: print the table and, with ``out``, write the JSON record. Returns the exit code."""
    from savae_lite import results

    if recipe is not None:
        check_recipe(recipe)  # a one-line error before anything runs
    preset = "tiny" if tiny else "quick" if quick else "full"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"  # mps timings are not comparable; ask for it
    record = run(preset, device, threads, parts=only, recipe=recipe)
    print(format_table(record))
    if out:
        results.write_json(record, out)
        print(f"wrote {out}")
    return 0
