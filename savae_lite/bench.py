"""``savae-lite bench``: how close an SA-VAE step is to its cost floor, what it costs in memory, and how much the
package's training loop and IW evaluation cost around the model.

Chapter: *Differentiable SVI* (the cost of Algorithm 1) loads ``book/results/bench.json`` written by
``savae-lite bench --quick --out book/results/bench.json``.

What is measured (every ratio is taken side by side in one process, interleaved, medians over repeats):

* **Decoder gradient evaluation** (``grad_eval_s``): with lambda = (mu, logvar) the encoder's output for the batch
  x (detached leaves, (B, Z)), one call ``torch.autograd.grad(f, [mu, logvar, *theta])`` where
  ``f = sum_i [-log p_theta(x_i | z_i) + KL(q(z; lambda_i) || N(0, I))]``, ``z_i = mu_i + exp(logvar_i / 2) eps_i``
  (one fresh eps, the model in train mode, so dropout is on) and theta are the decoder parameters: the forward
  pass of f and the backward pass to lambda *and* theta. This is exactly one SVI step's work in the ``fd``
  back-end and the unit of the cost floor.
* **SA-VAE step** (``step_s``): ``model.zero_grad(); modes.training_step(model, x, 'savae', SVIConfig(steps=K),
  hvp=...)`` — encoder forward, K SVI steps, the reverse pass through them and the backward pass into the
  encoder, gradients left in ``.grad``.
* ``ratio_to_floor = step_s / ((2K + 1) * grad_eval_s)``: 2K + 1 gradient evaluations (K forward, K
  Hessian-vector products, one at lambda_K) is the floor of exact unrolled differentiation; the ratio is the
  median over repeats of each step divided by the median of the four gradient evaluations timed just before
  (two) and just after (two) it.
* **Peak memory** (``peak_mem_mb``), measured in separate, untimed runs of the same step. CUDA: ``max_memory_allocated``
  during the step minus ``memory_allocated`` before it. CPU: the peak of live tensor memory created during the
  step — every tensor storage produced by an ATen operation inside the step is counted from its creation until
  it is freed (a ``TorchDispatchMode`` with weak references; kernel-internal scratch space is not seen), which is
  the CPU analogue of the CUDA number. On Linux we also report ``peak_rss_mb``: the growth of the resident set
  (``VmHWM`` after the step minus ``VmRSS`` before it, with free heap pages returned by ``malloc_trim`` and the
  high-water mark reset through ``/proc/self/clear_refs`` just before the step) — what the OS sees, including
  allocator slack.
* **Training loop overhead** (``trainer_vs_bare``): VAE training of the same text model on the same batches,
  alternating chunks between the package's :class:`~savae_lite.train.Trainer` (its epoch loop:
  ``training_step`` + global clipping + NaN checks + ``optimizer.step`` + bookkeeping) and a bare hand-written
  PyTorch loop (encode, reparameterise, ``neg_log_lik`` + KL, ``backward``, ``clip_grad_norm_``, ``step``);
  ``ratio = package tokens/s / bare tokens/s``.
* **IW-NLL throughput** (``iw_nll``): sentences per second of ``objectives.iw_nll(model, x, mu, logvar, 500,
  max_rows)`` (the model in eval mode, no gradient), which evaluates ``chunk = max_rows // B`` samples of every
  sentence as one batch of ``B * chunk`` rows.

Clocks. On CPU the benchmark runs with one intra-op thread unless told otherwise (``threads``): on a shared
machine whose cores are busy, OpenMP's barriers make two-thread timings of small operations several times
slower and far noisier; ratios are what the benchmark is about. With one thread every second of computation
is spent on the calling thread, so the primary times (``step_s``, ``grad_eval_s``, tokens/s, sentences/s) are
the process's CPU time (``time.process_time``), which time-slicing with other processes does not inflate
(shared caches and memory bandwidth still add noise of several per cent on a busy machine); wall-clock times
are reported beside them (``*_wall*``; on an idle machine the two agree). On CUDA, or with
more than one thread, the primary clock is wall-clock time (with ``torch.cuda.synchronize``). The machine's
load average at the start and the end is recorded with the results.

Presets: ``full`` (minutes to tens of minutes on a CPU: the specified sizes, 3 repeats), ``quick`` (about two
minutes on 2 CPU cores: text sentences of 10 tokens instead of 22, images in batches of 6 instead of 50, random
binary images, one repeat, IW-NLL on 2 sentences), ``tiny`` (seconds: the tiny models, for CI).
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import os
import statistics
import sys
import tempfile
import time
import weakref
from dataclasses import asdict, dataclass

import torch

from savae_lite.objectives import elbo_terms, iw_nll
from savae_lite.svi import SVIConfig

HVPS = ("fd", "exact")


@dataclass
class BenchConfig:
    """Sizes of one benchmark run (see the module docstring)."""

    preset: str
    ks: tuple[int, ...] = (5, 10, 20)
    repeats: int = 3  # timed SA-VAE steps per (model, hvp, K)
    text_model: str = "small"  # TextModelConfig preset
    text_len: int = 22  # tokens per sentence, <s> and </s> included (all sentences of a batch have this length)
    text_batch: int = 32
    text_data: str = "ptb"  # 'ptb' (embedded) or 'random'
    image_model: str = "small"  # ImageModelConfig preset
    image_batch: int = 50
    image_data: str = "omniglot"  # 'omniglot' (when available, else random) or 'random' binary images
    train_batches: int = 4  # batches per chunk in trainer-vs-bare
    train_rounds: int = 8  # chunks per side (plus one untimed warm-up chunk each), alternating
    iw_sentences: int = 32
    iw_samples: int = 500
    iw_max_rows: tuple[int, ...] = (250, 1000)
    memory_limit_gb: float = 6.0  # skip an exact-HVP configuration whose extrapolated memory exceeds this


PRESETS = {
    "full": BenchConfig("full"),
    "quick": BenchConfig("quick", repeats=1, text_len=10, image_batch=6, image_data="random", train_batches=2,
                         train_rounds=6, iw_sentences=2, iw_max_rows=(1000,)),
    "tiny": BenchConfig("tiny", ks=(1, 2), repeats=1, text_model="tiny", text_len=6, text_batch=4,
                        text_data="random", image_model="tiny", image_batch=4, image_data="random",
                        train_batches=2, train_rounds=1, iw_sentences=2, iw_samples=20, iw_max_rows=(40,),
                        memory_limit_gb=1.0),
}


# ----------------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """``clock.time(fn)`` -> (primary seconds, wall seconds). The primary clock is the process's CPU time on a
    CPU with one thread (not inflated when other processes get the core; shared caches and memory bandwidth
    still add noise), else wall-clock time."""

    def __init__(self, device: torch.device):
        self.device = device
        self.kind = "cpu" if device.type == "cpu" and torch.get_num_threads() == 1 else "wall"

    def time(self, fn) -> tuple[float, float]:
        gc.collect()
        _sync(self.device)
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        _sync(self.device)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        return (cpu if self.kind == "cpu" else wall), wall


def decoder_grad_eval(model, x, mu, logvar, params) -> list[torch.Tensor]:
    """One decoder gradient evaluation: d f / d (mu, logvar, theta) at lambda = (mu, logvar) (module docstring)."""
    mu = mu.detach().requires_grad_(True)
    logvar = logvar.detach().requires_grad_(True)
    f = elbo_terms(model, x, mu, logvar).loss(1.0).sum()
    return list(torch.autograd.grad(f, [mu, logvar, *params]))


def savae_step(model, x, k: int, hvp: str) -> None:
    """One SA-VAE training step's gradients (no optimiser step), as the trainer computes them."""
    from savae_lite.modes import training_step

    model.zero_grad(set_to_none=True)
    training_step(model, x, "savae", SVIConfig(steps=k, hvp=hvp), kl_weight=1.0)


# ----------------------------------------------------------------------------------------------- memory
class TensorMemoryPeak(torch.utils._python_dispatch.TorchDispatchMode):
    """Peak bytes of tensor storage created by ATen operations while active (CPU stand-in for CUDA's
    ``max_memory_allocated``). Outputs that share storage with an input (in-place ops, views) are not new."""

    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0
        self._live: set[int] = set()

    def _freed(self, key: int, nbytes: int) -> None:
        if key in self._live:
            self._live.discard(key)
            self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        flat_in, _ = torch.utils._pytree.tree_flatten((args, kwargs))
        inputs = {t.untyped_storage()._cdata for t in flat_in if isinstance(t, torch.Tensor)}
        for t in torch.utils._pytree.tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key = storage._cdata
            if key in inputs or key in self._live:
                continue
            nbytes = storage.nbytes()
            self._live.add(key)
            self.current += nbytes
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._freed, key, nbytes)
        return out


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _proc_status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def _rss_supported() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return "VmHWM" in _proc_status()
    except OSError:
        return False


def measure_memory(fn, device: torch.device) -> dict:
    """Peak memory of ``fn()`` in MiB (see the module docstring): ``peak_mem_mb`` and, on Linux CPU, ``peak_rss_mb``."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return {"peak_mem_mb": round((torch.cuda.max_memory_allocated(device) - base) / 2**20, 2)}
    out = {}
    rss = _rss_supported()
    if rss:
        libc = _libc()
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before = _proc_status()["VmRSS"]
    with TensorMemoryPeak() as tracker:
        fn()
    out["peak_mem_mb"] = round(tracker.peak / 2**20, 2)
    if rss:
        out["peak_rss_mb"] = round((_proc_status()["VmHWM"] - before) / 2**20, 2)
    return out


def _available_gb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


# ----------------------------------------------------------------------------------------------- data and models
def _text_setup(bc: BenchConfig, device: torch.device, seed: int = 0):
    """(model config, step batch, training batches, IW batch, data description)."""
    from savae_lite.models.text import TextModelConfig

    g = torch.Generator().manual_seed(seed)
    need = bc.text_batch * (1 + bc.train_batches)
    if bc.text_data == "ptb":
        from savae_lite.data import load_text

        corpus = load_text("ptb")
        vocab = len(corpus.vocab)
        train = [s for s in corpus.train if len(s) == bc.text_len]
        test = [s for s in corpus.test if len(s) == bc.text_len] or train
        if len(train) < need:
            raise ValueError(f"bench: PTB has only {len(train)} training sentences of {bc.text_len} tokens")
        rows = torch.tensor(train[:need], dtype=torch.long)
        iw_rows = torch.tensor((test * bc.iw_sentences)[:bc.iw_sentences], dtype=torch.long)
        desc = f"PTB sentences of exactly {bc.text_len} tokens (<s> and </s> included), vocabulary {vocab}"
    else:
        vocab = 50 if bc.text_model == "tiny" else 10_002
        rows = torch.randint(4, vocab, (need, bc.text_len), generator=g)
        rows[:, 0], rows[:, -1] = 2, 3
        iw_rows = rows[: bc.iw_sentences]
        desc = f"random sentences of {bc.text_len} tokens, vocabulary {vocab}"
    mc = getattr(TextModelConfig, bc.text_model)(vocab)
    step_x = rows[: bc.text_batch].to(device)
    train_x = [rows[bc.text_batch * (i + 1): bc.text_batch * (i + 2)].to(device) for i in range(bc.train_batches)]
    return mc, step_x, train_x, iw_rows.to(device), desc


def _image_setup(bc: BenchConfig, device: torch.device, seed: int = 0):
    from savae_lite.models.image import ImageModelConfig

    mc = getattr(ImageModelConfig, bc.image_model)()
    size = mc.image_size
    desc = f"random binary images {size}x{size} (pixels 1 with probability 0.5)"
    x = None
    if bc.image_data == "omniglot" and size == 28:
        try:
            from savae_lite.data import binarize_fixed, load_omniglot

            x = binarize_fixed(load_omniglot(max_images=bc.image_batch).train[: bc.image_batch], seed=seed)
            desc = "Omniglot training images 28x28, binarised once"
        except Exception as err:  # not downloaded: the timing does not depend on the pixel values
            desc += f" (Omniglot not available: {type(err).__name__})"
    if x is None:
        g = torch.Generator().manual_seed(seed)
        x = (torch.rand(bc.image_batch, 1, size, size, generator=g) < 0.5).float()
    return mc, x.to(device), desc


# ----------------------------------------------------------------------------------------------- measurements
def bench_savae_steps(name: str, model, x, bc: BenchConfig, device: torch.device, log=print) -> list[dict]:
    """Rows of ``savae_step`` for one model: timing (interleaved) then memory (separate runs)."""
    model.train()
    params = [p for p in model.decoder_parameters() if p.requires_grad]
    with torch.no_grad():
        mu, logvar = model.encode(x)

    def ge():
        decoder_grad_eval(model, x, mu, logvar, params)

    configs = [(k, hvp) for k in bc.ks for hvp in HVPS]
    skipped: dict[tuple[int, str], str] = {}
    # ---- memory first: it also tells us which exact-HVP configurations would not fit
    limit = bc.memory_limit_gb
    avail = _available_gb()
    if avail is not None:
        limit = min(limit, 0.5 * avail)
    mem: dict[tuple[int, str], dict] = {}
    savae_step(model, x, 1, "fd")  # warm-up: lazy initialisation of kernels, threads and the tracker
    savae_step(model, x, 1, "exact")
    measure_memory(lambda: savae_step(model, x, 1, "fd"), device)
    for hvp in HVPS:
        prev = None
        for k in bc.ks:
            if hvp == "exact" and prev is not None:
                estimate = prev[1] * k / prev[0] / 1024
                if estimate > limit:
                    skipped[(k, hvp)] = f"skipped: extrapolated peak {estimate:.1f} GB > limit {limit:.1f} GB"
                    continue
            mem[(k, hvp)] = measure_memory(lambda: savae_step(model, x, k, hvp), device)
            model.zero_grad(set_to_none=True)
            prev = (k, mem[(k, hvp)]["peak_mem_mb"])
            log(f"  {name:5s} memory  hvp={hvp:5s} K={k:2d}: {mem[(k, hvp)]}")
    # ---- timing: ge, step, ge, step, ..., each step's ratio against its two neighbouring gradient evaluations
    clock = Clock(device)
    ge()
    ge()
    timed = [c for c in configs if c not in skipped]
    steps: dict[tuple[int, str], list[tuple[float, float]]] = {c: [] for c in timed}
    ratios: dict[tuple[int, str], list[tuple[float, float]]] = {c: [] for c in timed}
    neighbours: dict[tuple[int, str], list[tuple[float, float]]] = {c: [] for c in timed}
    g_prev = [clock.time(ge) for _ in range(2)]
    for rep in range(bc.repeats):
        for k, hvp in (timed if rep % 2 == 0 else timed[::-1]):
            s = clock.time(lambda: savae_step(model, x, k, hvp))
            model.zero_grad(set_to_none=True)
            g_next = [clock.time(ge) for _ in range(2)]
            around = g_prev + g_next
            steps[(k, hvp)].append(s)
            ratios[(k, hvp)].append(tuple(s[i] / ((2 * k + 1) * statistics.median(g[i] for g in around))
                                          for i in (0, 1)))
            neighbours[(k, hvp)] += around
            g_prev = g_next
            log(f"  {name:5s} timing  hvp={hvp:5s} K={k:2d}: step {s[0]:.3f} s ({clock.kind}), "
                f"ratio to floor {ratios[(k, hvp)][-1][0]:.3f} (wall clock {ratios[(k, hvp)][-1][1]:.3f})")

    def med(values, i, digits):
        return round(statistics.median(v[i] for v in values), digits)

    rows = []
    for k, hvp in configs:
        row = {"model": name, "hvp": hvp, "K": k}
        if (k, hvp) in skipped:
            row.update(step_s=None, grad_eval_s=None, ratio_to_floor=None, peak_mem_mb=None, note=skipped[(k, hvp)])
        else:
            c = (k, hvp)
            row.update(step_s=med(steps[c], 0, 5), grad_eval_s=med(neighbours[c], 0, 5),
                       ratio_to_floor=med(ratios[c], 0, 4), **mem[c], clock=clock.kind,
                       step_wall_s=med(steps[c], 1, 5), grad_eval_wall_s=med(neighbours[c], 1, 5),
                       ratio_to_floor_wall=med(ratios[c], 1, 4), repeats=len(steps[c]),
                       ratio_all=[round(r[0], 4) for r in ratios[c]])
        rows.append(row)
    return rows


def bench_trainer_vs_bare(mc, batches, bc: BenchConfig, device: torch.device, log=print) -> dict:
    """VAE training tokens/s: the package's Trainer epoch loop vs a bare PyTorch loop, alternating chunks."""
    from savae_lite.build import Splits
    from savae_lite.config import DataConfig, RunConfig, TrainConfig
    from savae_lite.models.text import TextVAE
    from savae_lite.train import Trainer

    torch.manual_seed(0)
    model = TextVAE(mc).to(device)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RunConfig(data=DataConfig(name="ptb", batch_size=batches[0].shape[0]),
                        train=TrainConfig(mode="vae", epochs=1, lr=0.1, grad_clip=5.0, kl_start=0.1,
                                          kl_warmup_epochs=1.0, checkpoint_every=0, iw_samples=0, progress=False,
                                          device=str(device), out_dir=tmp),
                        model_kind="text", model=asdict(mc))
        splits = Splits(lambda g: list(batches), batches[:1], batches[:1], "text", None, {"dataset": "bench"})
        trainer = Trainer(cfg, splits=splits, model=model)
        params = [p for p in model.parameters() if p.requires_grad]
        bare_opt = torch.optim.SGD(params, lr=0.1)
        kl_w = 0.5

        trainer.loop.kl_warmup_steps = 10 * len(batches)

        def package():
            trainer.loop.run_epoch(batches)

        def bare():
            model.train()
            for x in batches:
                bare_opt.zero_grad(set_to_none=True)
                mu, logvar = model.encode(x)
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                nll = model.neg_log_lik(x, z)
                kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
                loss = (nll + kl_w * kl).mean()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                bare_opt.step()

        tokens = float(sum(model.num_targets(x).sum() for x in batches))
        clock = Clock(device)
        package()
        bare()
        times: dict[str, list[tuple[float, float]]] = {"package": [], "bare": []}
        for r in range(bc.train_rounds):
            order = [("package", package), ("bare", bare)]
            if r % 2:
                order.reverse()
            for name, fn in order:
                times[name].append(clock.time(fn))
            log(f"  trainer vs bare: round {r + 1}: package {times['package'][-1][0]:.3f} s, "
                f"bare {times['bare'][-1][0]:.3f} s ({clock.kind})")
    ratios = [(b[0] / p[0], b[1] / p[1]) for p, b in zip(times["package"], times["bare"])]

    def per_s(name, i):
        return round(tokens / statistics.median(t[i] for t in times[name]), 2)

    return {"mode": "vae", "batches_per_chunk": len(batches), "batch_size": int(batches[0].shape[0]),
            "tokens_per_chunk": tokens, "rounds": bc.train_rounds, "clock": clock.kind,
            "package_tokens_per_s": per_s("package", 0), "bare_tokens_per_s": per_s("bare", 0),
            "ratio": round(statistics.median(r[0] for r in ratios), 4),
            "ratio_wall": round(statistics.median(r[1] for r in ratios), 4),
            "package_tokens_per_wall_s": per_s("package", 1), "bare_tokens_per_wall_s": per_s("bare", 1),
            "ratio_all": [round(r[0], 4) for r in ratios]}


def bench_iw(mc, x, bc: BenchConfig, device: torch.device, log=print) -> dict:
    """Sentences/s of the S-sample IW-NLL for each ``max_rows`` setting (chunk = max_rows // B samples at once)."""
    from savae_lite.models.text import TextVAE

    torch.manual_seed(0)
    model = TextVAE(mc).to(device).eval()
    with torch.no_grad():
        mu, logvar = model.encode(x)
        iw_nll(model, x, mu, logvar, min(bc.iw_samples, 2), bc.iw_max_rows[0])  # warm-up
    B = x.shape[0]
    runs = []
    for max_rows in bc.iw_max_rows:
        chunk = max(1, max_rows // B)
        t, wall = Clock(device).time(lambda: iw_nll(model, x, mu, logvar, bc.iw_samples, max_rows))
        runs.append({"max_rows": max_rows, "chunk_samples": chunk, "rows_per_chunk": chunk * B, "time_s": round(t, 4),
                     "wall_s": round(wall, 4), "sentences_per_s": round(B / t, 3),
                     "sentences_per_wall_s": round(B / wall, 3)})
        log(f"  IW-NLL ({bc.iw_samples} samples, chunk {chunk}): {B / t:.2f} sentences/s")
    best = max(runs, key=lambda r: r["sentences_per_s"])
    return {"samples": bc.iw_samples, "sentences": B, "tokens_per_sentence": int(x.shape[1]),
            "clock": Clock(device).kind,
            "sentences_per_s": best["sentences_per_s"], "chunk_samples": best["chunk_samples"],
            "max_rows": best["max_rows"], "runs": runs}


def _summary(rows: list[dict]) -> dict:
    out = {}
    for name in sorted({r["model"] for r in rows}):
        mine = {(r["hvp"], r["K"]): r for r in rows if r["model"] == name}
        ks = sorted({k for _, k in mine})
        fd = [mine[("fd", k)]["ratio_to_floor"] for k in ks if mine[("fd", k)]["ratio_to_floor"] is not None]
        s = {"fd_max_ratio_to_floor": max(fd) if fd else None}
        lo, hi = ks[0], ks[-1]
        m_lo, m_hi = mine[("fd", lo)].get("peak_mem_mb"), mine[("fd", hi)].get("peak_mem_mb")
        if m_lo and m_hi:
            s[f"fd_memory_K{hi}_over_K{lo}"] = round(m_hi / m_lo, 3)
        below = [mine[("fd", k)]["peak_mem_mb"] < mine[("exact", k)]["peak_mem_mb"] for k in ks
                 if mine[("fd", k)].get("peak_mem_mb") is not None and mine[("exact", k)].get("peak_mem_mb") is not None]
        s["fd_memory_below_exact"] = all(below) if below else None
        out[name] = s
    return out


# ----------------------------------------------------------------------------------------------- entry points
def run(preset: str = "quick", device: str | torch.device = "cpu", threads: int | None = None, log=print) -> dict:
    """Run the benchmark ``preset`` ('full', 'quick' or 'tiny') and return the results record."""
    from savae_lite import results
    from savae_lite.models.image import ImageVAE
    from savae_lite.models.text import TextVAE
    from savae_lite.runtime import pick_device

    bc = PRESETS[preset]
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(threads or 1)
    elif threads:
        torch.set_num_threads(threads)
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    t_start = time.perf_counter()
    record: dict = {"benchmark": "savae-lite bench", "preset": preset, "created": results.stamp(),
                    "environment": {**results.environment(dev), "cpu_count": os.cpu_count()},
                    "load_avg_start": load_start}
    text_mc, step_x, train_x, iw_x, text_desc = _text_setup(bc, dev)
    image_mc, image_x, image_desc = _image_setup(bc, dev)
    record["config"] = {**asdict(bc), "text_model_config": asdict(text_mc), "image_model_config": asdict(image_mc),
                        "text_data_used": text_desc, "image_data_used": image_desc,
                        "svi": {k: v for k, v in asdict(SVIConfig()).items() if k != "steps"},
                        "kl_weight": 1.0}
    record["definitions"] = {
        "clock": "on CPU with one thread: process CPU time (time.process_time); otherwise wall-clock time; "
                 "wall-clock values are given in the *_wall* fields",
        "grad_eval_s": "one decoder gradient evaluation: autograd.grad of sum_i f_i(lambda) (one reparameterised "
                       "sample, train mode) w.r.t. (mu, logvar) and the decoder parameters, lambda = encoder(x)",
        "step_s": "model.zero_grad(); modes.training_step(model, x, 'savae', SVIConfig(steps=K), hvp=hvp)",
        "ratio_to_floor": "step_s / ((2K+1) * grad_eval_s), median over repeats of each step against the median of "
                          "the four gradient evaluations timed just before (2) and after (2) it",
        "peak_mem_mb": ("CUDA max_memory_allocated during the step minus memory_allocated before" if dev.type == "cuda"
                        else "peak of live tensor storage created during the step (TorchDispatchMode tracker), MiB"),
        "peak_rss_mb": "Linux CPU only: VmHWM after the step minus VmRSS before (after malloc_trim and a reset of the "
                       "high-water mark), MiB",
    }
    torch.manual_seed(0)
    text_model = TextVAE(text_mc).to(dev)
    torch.manual_seed(0)
    image_model = ImageVAE(image_mc).to(dev)
    log(f"savae-lite bench ({preset}) on {dev}, {torch.get_num_threads()} thread(s), load {load_start}")
    rows = bench_savae_steps("text", text_model, step_x, bc, dev, log)
    rows += bench_savae_steps("image", image_model, image_x, bc, dev, log)
    del text_model, image_model
    record["savae_step"] = rows
    record["summary"] = _summary(rows)
    record["trainer_vs_bare"] = bench_trainer_vs_bare(text_mc, train_x, bc, dev, log)
    record["iw_nll"] = bench_iw(text_mc, iw_x, bc, dev, log)
    record["load_avg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    record["wall_time_s"] = round(time.perf_counter() - t_start, 2)
    return record


def format_table(record: dict) -> str:
    lines = [f"{'model':6s} {'hvp':5s} {'K':>3s} {'step s':>9s} {'grad s':>9s} {'/floor':>7s} {'mem MiB':>9s} {'rss MiB':>9s}"]
    for r in record["savae_step"]:
        def fmt(v, spec):
            return format(v, spec) if v is not None else "-".rjust(len(format(0.0, spec)))
        lines.append(f"{r['model']:6s} {r['hvp']:5s} {r['K']:3d} {fmt(r['step_s'], '9.4f')} {fmt(r['grad_eval_s'], '9.4f')} "
                     f"{fmt(r['ratio_to_floor'], '7.3f')} {fmt(r.get('peak_mem_mb'), '9.1f')} {fmt(r.get('peak_rss_mb'), '9.1f')}")
    tv = record["trainer_vs_bare"]
    iw = record["iw_nll"]
    lines += [f"summary: {record['summary']}",
              f"VAE training: package {tv['package_tokens_per_s']:.0f} tokens/s, bare loop {tv['bare_tokens_per_s']:.0f} "
              f"tokens/s, ratio {tv['ratio']:.3f}",
              f"IW-NLL ({iw['samples']} samples, chunk {iw['chunk_samples']}): {iw['sentences_per_s']:.2f} sentences/s",
              f"load average: start {record['load_avg_start']}, end {record['load_avg_end']}; "
              f"{record['environment']['cpu_threads']} thread(s); {record['wall_time_s']} s"]
    return "\n".join(lines)


def main(quick: bool = False, tiny: bool = False, device: str = "auto", out: str | None = None,
         threads: int | None = None) -> int:
    """``savae-lite bench``: print the table and, with ``out``, write the JSON record. Returns the exit code."""
    from savae_lite import results

    preset = "tiny" if tiny else "quick" if quick else "full"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"  # mps timings are not comparable; ask for it
    record = run(preset, device, threads)
    print(format_table(record))
    if out:
        results.write_json(record, out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(prog="python -m savae_lite.bench")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    sys.exit(main(a.quick, a.tiny, a.device, a.out, a.threads))
