"""What one training step of every training mode costs at the size of a training recipe (record key
``mode_steps``), and each mode's cost relative to ``vae``.

Chapter: Image VAEs with a gated PixelCNN decoder (what the paper's 12-layer decoder costs per mode; the text
recipes work the same way).

Command (the paper's Omniglot set-up on a GPU; not part of a plain ``savae-lite bench``, it runs only when asked
for)::

    savae-lite bench --only mode_steps --recipe omniglot-paper --device cuda \\
        --out results/omniglot-paper-steps.json

and on a CPU with a small recipe, e.g. ``savae-lite bench --only mode_steps --tiny --recipe omniglot-study-quick``.

**Workload.** The recipe is a training preset (``savae_lite.presets.preset``; ``--recipe``; default
``BenchConfig.mode_steps_recipe``). For each of the six modes of Kim et al. (``MODES``: ``autoreg``, ``vae``,
``svi``, ``vae+svi``, ``vae+svi+kl``, ``savae``; ``aggressive`` is left out: its extra encoder steps depend on the
training state) the recipe's :class:`~savae_lite.config.RunConfig` with that mode gives the model
(:func:`savae_lite.build.build_model`: the PixelCNN / LSTM language model for ``autoreg``, the VAE otherwise,
seed 0) and a :class:`~savae_lite.loop.TrainingLoop` with the recipe's optimiser, learning rate, gradient clip
and SVI (K steps, step sizes, momentum, clip, HVP back-end). One step is ``TrainingLoop.step(x)``, the step every
``savae-lite train`` run takes: zero the gradients, the mode's gradients (:func:`savae_lite.modes.training_step`),
finiteness checks, global clip, optimiser step. The KL weight is 1 (its value after the warm-up; it does not
change the cost). ``x`` is one batch of the recipe's batch size, the same for every mode:

* images: (B, 1, 28, 28) Omniglot training images binarised once when the data are on disk, else random binary
  images of the model's size (the cost does not depend on the pixel values);
* text: (B, T) the first full training batch of the seed-0 epoch order when the corpus is on disk (PTB is
  embedded), else random sentences of the recipe's longest length (``max_len`` + 2 tokens, an upper bound) over
  the corpus's vocabulary when it loads (a small corpus may have no full batch of equal-length sentences), else
  over the recipe's ``vocab_size`` (10,002 when unset).

Nothing is downloaded.

**Schedule.** One untimed warm-up step per mode (lazy initialisation, cuDNN's choices), then
``BenchConfig.mode_steps_rounds`` rounds; each round times one step of every mode, in the mode order on even
rounds and reversed on odd ones, so a slow drift of the machine's speed touches every mode alike. Each step is
timed by :class:`~savae_lite.bench.timing.Clock` (the device synchronised before and after: wall time on CUDA,
process CPU time on a CPU with one thread, with the wall time beside it).

**Per mode:** ``step_s`` (median seconds per step on the bench's clock, with quartiles) and ``step_s_all`` (every
timed step), the same on the wall clock (``step_wall_s``, ``step_wall_s_all``), ``ratio_to_vae`` (median over
vae's median: vae's is 1), ``K`` (the recipe's SVI steps; ``uses_svi`` says whether the mode runs them),
``batch_size``, ``parameters``, ``skipped_steps`` (non-finite steps; they are timed all the same), and on CUDA
``peak_cuda_mb`` (``max_memory_allocated`` during the mode's steps, every mode's model and optimiser state
resident) and ``peak_cuda_step_mb`` (the same minus ``memory_allocated`` just before the step).
"""
from __future__ import annotations

import dataclasses
import time

import torch

from savae_lite.bench.presets import BenchConfig
from savae_lite.bench.timing import Clock, Spread, Timing
from savae_lite.registry import PAPER_MODES

MODE_NAMES = PAPER_MODES  # Kim et al.'s six, in the paper's order
MIB = 2**20


def check_recipe(name: str) -> str:
    """``name`` if it is a training preset; ``ValueError`` naming ``--recipe`` otherwise."""
    from savae_lite.presets import PRESETS

    if name not in PRESETS:
        raise ValueError(f"--recipe: unknown recipe {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return name


def describe_model(kind: str, mc) -> str:
    """One line naming the recipe's model and its sizes (``mc``: its ImageModelConfig / TextModelConfig)."""
    if kind == "image":
        return (f"ImageVAE: ResNet encoder of {mc.enc_channels} channels -> z of {mc.latent_dim}; gated PixelCNN "
                f"decoder of {mc.dec_layers} layers x {mc.dec_channels} channels, kernels "
                f"{', '.join(map(str, mc.kernel_sizes))}, {mc.cond_maps} conditioning maps; {mc.image_size} x "
                f"{mc.image_size} binary images (autoreg: PixelCNNLM, the same decoder without z)")
    return (f"TextVAE: LSTM encoder of {mc.enc_hidden} units -> z of {mc.latent_dim}; LSTM decoder of "
            f"{mc.dec_hidden} units; embeddings {mc.emb_dim}, vocabulary {mc.vocab_size} (autoreg: "
            f"LSTMLanguageModel, the same decoder without z)")


def recipe_batch(cfg, seed: int = 0) -> tuple[torch.Tensor, int | None, str]:
    """(x, vocabulary size or None, description): one batch of ``cfg.data.batch_size`` examples on the CPU.

    Images: x (B, 1, S, S) in {0, 1}; text: x (B, T) token ids. Real data when on disk, else random (module
    docstring); never a download."""
    from savae_lite.build import model_config

    dc = cfg.data
    b = dc.batch_size
    gen = torch.Generator().manual_seed(seed)
    if cfg.model_kind == "image":
        size = model_config(cfg).image_size
        desc = f"random binary images {size}x{size} (pixels 1 with probability 0.5)"
        if size == 28:
            try:
                from savae_lite.data import binarize_fixed, load_omniglot

                images = load_omniglot(dc.data_dir, source=dc.omniglot_source, max_images=b).train[:b]
                if images.shape[0] == b:
                    return binarize_fixed(images, seed=seed), None, "Omniglot training images 28x28, binarised once"
                desc += f" (Omniglot gave only {images.shape[0]} images)"
            except Exception as err:  # not on disk: the timing does not depend on the pixel values
                desc += f" (Omniglot not available: {type(err).__name__})"
        return (torch.rand(b, 1, size, size, generator=gen) < 0.5).float(), None, desc
    from savae_lite.bench.sharing import fixed_batches
    from savae_lite.build import build_data
    from savae_lite.checks import random_sentences

    vocab = dc.vocab_size or 10_002
    try:
        splits = build_data(dataclasses.replace(cfg, data=dataclasses.replace(dc, download=False)))
        vocab = len(splits.vocab)
        x = fixed_batches(splits.train_batches(torch.Generator().manual_seed(seed)), b, 1)[0]
        if x.shape[0] == b:
            return x, vocab, (f"{dc.name} training sentences: the first full batch of the seed-{seed} epoch order, "
                              f"{x.shape[1]} tokens (<s> and </s> included), vocabulary {vocab}")
        note = f" ({dc.name}'s vocabulary; its length-sorted batches hold fewer than {b} sentences)"
    except Exception as err:  # corpus not on disk
        note = f" ({dc.name} not available: {type(err).__name__})"
    length = (dc.max_len or 30) + 2
    return (random_sentences(b, length, vocab, gen), vocab,
            f"random sentences of {length} tokens (the recipe's longest), vocabulary {vocab}{note}")


@dataclasses.dataclass
class ModeTimings:
    """The timed steps of one mode."""

    name: str
    loop: object  # TrainingLoop
    times: list[Timing] = dataclasses.field(default_factory=list)
    skipped: int = 0
    peak_mb: float = 0.0  # CUDA: max_memory_allocated during its steps
    peak_step_mb: float = 0.0  # CUDA: the same minus memory_allocated before the step


def bench_mode_steps(recipe: str, bc: BenchConfig, device: torch.device, log=print) -> dict:
    """The ``mode_steps`` record of training preset ``recipe`` (module docstring)."""
    from savae_lite.build import build_model, model_config
    from savae_lite.loop import TrainingLoop
    from savae_lite.modes import get_mode
    from savae_lite.presets import derive, preset

    t0 = time.perf_counter()
    base = preset(check_recipe(recipe))
    tc = base.train
    x_cpu, vocab, data_desc = recipe_batch(base)
    x = x_cpu.to(device)
    cuda = device.type == "cuda"
    runs: dict[str, ModeTimings] = {}
    for name in MODE_NAMES:
        cfg = derive(base, train=dict(mode=name))
        torch.manual_seed(0)
        model = build_model(cfg, vocab).to(device)
        loop = TrainingLoop(model, name, tc.svi, optimizer=tc.optimizer, lr=tc.lr, grad_clip=tc.grad_clip,
                            kl_start=1.0, kl_warmup_steps=0, on_nan="skip")
        runs[name] = ModeTimings(name, loop)
    mc = model_config(base, vocab)
    log(f"  mode steps: {recipe} on {device}, batch {list(x.shape)}, K = {tc.svi.steps}, "
        f"{bc.mode_steps_rounds} round(s); {data_desc}")
    for run in runs.values():  # warm-up
        run.loop.model.train()
        run.loop.step(x)
    clock = Clock(device)
    for rnd in range(bc.mode_steps_rounds):
        order = MODE_NAMES if rnd % 2 == 0 else MODE_NAMES[::-1]
        for name in order:
            run = runs[name]
            if cuda:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
                before = torch.cuda.memory_allocated(device)
            stats = []
            run.times.append(clock.measure(lambda: stats.append(run.loop.step(x))))
            run.skipped += stats[0] is None
            if cuda:
                peak = torch.cuda.max_memory_allocated(device)
                run.peak_mb = max(run.peak_mb, peak / MIB)
                run.peak_step_mb = max(run.peak_step_mb, (peak - before) / MIB)
        log(f"  mode steps: round {rnd + 1}: " + ", ".join(f"{n} {runs[n].times[-1].seconds:.4f} s"
                                                          for n in MODE_NAMES) + f" ({clock.kind})")
    vae = Spread.of([t.seconds for t in runs["vae"].times]).median
    vae_wall = Spread.of([t.wall for t in runs["vae"].times]).median
    rows = []
    for name in MODE_NAMES:
        run, m = runs[name], get_mode(name)
        secs = Spread.of([t.seconds for t in run.times])
        walls = Spread.of([t.wall for t in run.times])
        row = {"mode": name, **secs.fields("step_s", 6), "step_s_all": [round(v, 6) for v in secs.values],
               "step_wall_s": round(walls.median, 6), "step_wall_s_all": [round(v, 6) for v in walls.values],
               "ratio_to_vae": round(secs.median / vae, 4) if vae > 0 else None,
               "ratio_to_vae_wall": round(walls.median / vae_wall, 4) if vae_wall > 0 else None,
               "K": tc.svi.steps, "uses_svi": m.refines, "batch_size": int(x.shape[0]),
               "parameters": sum(p.numel() for p in run.loop.model.parameters()),
               "model": type(run.loop.model).__name__, "skipped_steps": run.skipped}
        if cuda:
            row.update(peak_cuda_mb=round(run.peak_mb, 1), peak_cuda_step_mb=round(run.peak_step_mb, 1))
        rows.append(row)
    return {"recipe": recipe, "model_kind": base.model_kind, "model_preset": base.model_preset,
            "model_description": describe_model(base.model_kind, mc), "model_config": dataclasses.asdict(mc),
            "data": data_desc, "batch_shape": list(x.shape), "batch_size": int(x.shape[0]), "K": tc.svi.steps,
            "svi": dataclasses.asdict(tc.svi), "optimizer": tc.optimizer, "lr": tc.lr, "grad_clip": tc.grad_clip,
            "kl_weight": 1.0, "step": "savae_lite.loop.TrainingLoop.step", "device": str(device),
            "clock": clock.kind, "warmup_steps": 1, "rounds": bc.mode_steps_rounds, "modes": rows,
            "wall_time_s": round(time.perf_counter() - t0, 2)}


def format_mode_steps(rec: dict) -> list[str]:
    """The record as text lines: one per mode."""
    lines = [f"mode steps: {rec['recipe']} ({rec['model_description']}), batch {rec['batch_shape']}, "
             f"K = {rec['K']}, {rec['rounds']} timed step(s) per mode on {rec['device']} ({rec['clock']} clock)",
             f"{'mode':11s} {'step s':>9s} {'/vae':>7s} {'wall s':>9s} {'params':>10s} {'CUDA MiB':>9s}"]
    for r in rec["modes"]:
        ratio = f"{r['ratio_to_vae']:7.2f}" if r["ratio_to_vae"] is not None else "-".rjust(7)
        mem = f"{r['peak_cuda_mb']:9.1f}" if "peak_cuda_mb" in r else "-".rjust(9)
        lines.append(f"{r['mode']:11s} {r['step_s']:9.4f} {ratio} {r['step_wall_s']:9.4f} {r['parameters']:10d} "
                     f"{mem}" + (f"  ({r['skipped_steps']} non-finite)" if r["skipped_steps"] else ""))
    return lines
