"""The image study: how much a VAE with a gated PixelCNN decoder uses its latent, by training mode and by the
decoder's depth, on Omniglot at a CPU-sized scale (preset ``omniglot-study``).

Chapter: *Image VAEs with a gated PixelCNN decoder* reads the record written by
``savae-lite experiment latent-use --out book/results/latent_use.json``.

Named after its question rather than its decoder: the PixelCNN is the instrument, the latent's use (KL, mutual
information, active units, and the NLL gained over the PixelCNN alone) is what the table and the depth sweep
measure. The training modes repeat the paper's Omniglot table (``autoreg`` .. ``savae``, all with the original's
KL warm-up from 0.1); the depth sweep trains ``vae`` and ``savae`` with shallower and deeper decoders (one seed
each): a decoder that sees less of the image has more to gain from z; ``vae-long`` trains the VAE 2.5 times
longer (one seed), because the preset stops while the validation bound still falls, and ``savae-long`` the same
for SA-VAE, so that the longer-training comparison is two-sided. The
machinery (units, claim lock, resuming, partial records, summary) is :mod:`savae_lite.study`'s.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from savae_lite import study
from savae_lite.study import Setting

BASE_DEPTH = 4  # the preset's decoder: 4 gated layers, kernels 7, 5, 5, 3
DEPTH_KERNELS: dict[int, list[int]] = {  # decreasing kernel sizes, as the paper's 9, 9, 9, 7, ..., 3
    2: [7, 5],
    4: [7, 5, 5, 3],
    8: [7, 7, 5, 5, 5, 5, 3, 3],
}
SWEEP_DEPTHS = (8, 2)  # the base depth is the main table's vae and savae; deepest (slowest) first
LONG_EPOCHS = 30  # the longer-training check: vae, seed 1, 2.5 times the preset's 12 epochs


def reach(kernel_sizes: list[int]) -> int:
    """P = sum k // 2: a logit sees P pixels to its left and P + 1 rows above, within P columns (pixelcnn.py)."""
    return sum(k // 2 for k in kernel_sizes)


def depth_model(depth: int) -> dict:
    """Model overrides for a decoder of ``depth`` gated layers (kernels from ``DEPTH_KERNELS``)."""
    if depth not in DEPTH_KERNELS:
        raise ValueError(f"depth: no kernel sizes for {depth} layers; choose one of {sorted(DEPTH_KERNELS)}")
    return {"dec_layers": depth, "kernel_sizes": list(DEPTH_KERNELS[depth])}


def depth_settings(modes: tuple[str, ...] = ("savae", "vae"), depths: tuple[int, ...] = SWEEP_DEPTHS
                   ) -> tuple[Setting, ...]:
    """The depth sweep: ``<mode>-depth<L>`` for every mode and depth, one seed each. The default order puts the
    slowest units first (savae, deepest), so that two workers sharing the study finish at about the same time."""
    return tuple(Setting(f"{mode}-depth{d}", mode, model=depth_model(d),
                         note=f"{d} gated layers, kernels {DEPTH_KERNELS[d]} (reach {reach(DEPTH_KERNELS[d])})")
                 for mode in modes for d in depths)


def long_settings(modes: tuple[str, ...] = ("vae",), epochs: int = LONG_EPOCHS) -> tuple[Setting, ...]:
    """The longer-training check: ``<mode>-long``, the main table's set-up trained ``epochs`` epochs instead of the
    preset's (one seed each). The preset stops while the validation bound still falls; these runs show whether
    the modes' ranking holds further towards convergence. Each continues ``<mode>``'s seed-1 run from its final
    checkpoint when its work folder still has it (:func:`savae_lite.study.start_from`: the same run step for step),
    else trains from scratch. The study runs both, ``vae`` then ``savae``."""
    return tuple(Setting(f"{mode}-long", mode, train={"epochs": epochs}, continues=mode,
                         note=f"{epochs} epochs (from the seed-1 run of {mode} when its final checkpoint is at "
                              "hand, else from scratch)")
                 for mode in modes)


SETTINGS: tuple[Setting, ...] = (
    Setting("autoreg", "autoreg", note="the gated PixelCNN alone, no z"),
    Setting("vae", "vae", seeds=3, note="KL weight 0.1 -> 1 (the original's warm-up)"),
    Setting("svi", "svi", note="no encoder; K SVI steps from 0"),
    Setting("vae+svi", "vae+svi"),
    Setting("vae+svi+kl", "vae+svi+kl"),
    Setting("savae", "savae", seeds=3, note="as the paper"),
    *depth_settings(),
    *long_settings(("vae", "savae")),
)
SEEDS = (1, 2, 3)

STUDY = study.Study(name="latent-use", preset="omniglot-study", quick_preset="omniglot-study-quick",
                    settings=SETTINGS, quick_settings=("autoreg", "vae", "savae", "vae-depth8"), baseline="vae",
                    seeds=SEEDS)


def units(quick: bool = False) -> list[tuple[Setting, int]]:
    """(setting, seed) pairs in running order (:func:`savae_lite.study.units`): seed 1 of vae and savae, their
    seeds 2 and 3, then the single-seed settings (other modes, the depth sweep, the longer run)."""
    return study.units(STUDY, quick)


def run_latent_use(quick: bool = False, device: str = "auto", work_dir: str | Path = "runs/latent-use.units",
                   log: Callable[[str], None] | None = print, previous: dict | None = None,
                   train: bool = True) -> dict | None:
    """Train every unfinished, unclaimed unit; return the study's record once all are finished (else None).
    See :func:`savae_lite.study.run_study`."""
    return study.run_study(STUDY, quick=quick, device=device, work_dir=work_dir, log=log, previous=previous,
                           train=train)
