"""What the package's training loop costs around the model: VAE training tokens/s through
:class:`savae_lite.loop.TrainingLoop` against a bare hand-written PyTorch loop (record key ``loop_vs_bare``).

Chapter: *Differentiable SVI* (the benchmark); the loop itself is described in *SA-VAE*.

Both sides train the same text model (SGD, learning rate 0.1, global gradient-norm clip 5) on the same batches:

* **package** — ``TrainingLoop(model, "vae", SVIConfig(), optimizer="sgd", lr=0.1, grad_clip=5.0, kl_start=0.1,
  kl_warmup_steps=...)`` and one ``loop.run_epoch(batches)`` per chunk: ``training_step`` + finiteness checks
  + clipping + ``optimizer.step`` + the epoch's running totals, exactly as every experiment trains;
* **bare** — encode, reparameterise, ``neg_log_lik`` + KL, ``backward``, ``clip_grad_norm_``, ``step``.

After one untimed chunk each, ``train_rounds`` chunks per side are timed alternately (package-bare, then
bare-package, ...). ``ratio`` is the median over rounds of ``bare seconds / package seconds`` (= package
tokens/s over bare tokens/s; 1 means the loop costs nothing), with its IQR.
"""
from __future__ import annotations

import torch

from savae_lite.bench.presets import BenchConfig
from savae_lite.bench.timing import Clock, Spread, Timing


def bench_loop_vs_bare(model_config, batches: list[torch.Tensor], bc: BenchConfig, device: torch.device,
                       log=print) -> dict:
    """The ``loop_vs_bare`` record (module docstring)."""
    from savae_lite.loop import TrainingLoop
    from savae_lite.models.text import TextVAE
    from savae_lite.svi import SVIConfig

    torch.manual_seed(0)
    model = TextVAE(model_config).to(device)
    loop = TrainingLoop(model, "vae", SVIConfig(), optimizer="sgd", lr=0.1, grad_clip=5.0, kl_start=0.1,
                        kl_warmup_steps=2 * (bc.train_rounds + 1) * len(batches))
    params = [p for p in model.parameters() if p.requires_grad]
    bare_optimizer = torch.optim.SGD(params, lr=0.1)
    bare_kl_weight = 0.5  # the value does not change the cost

    def package_chunk() -> None:
        loop.run_epoch(batches)

    def bare_chunk() -> None:
        model.train()
        for x in batches:
            bare_optimizer.zero_grad(set_to_none=True)
            mu, logvar = model.encode(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            nll = model.neg_log_lik(x, z)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
            loss = (nll + bare_kl_weight * kl).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            bare_optimizer.step()

    tokens = float(sum(model.num_targets(x).sum() for x in batches))
    clock = Clock(device)
    package_chunk()  # warm-up
    bare_chunk()
    times: dict[str, list[Timing]] = {"package": [], "bare": []}
    sides = [("package", package_chunk), ("bare", bare_chunk)]
    for rnd in range(bc.train_rounds):
        for side, chunk in (sides if rnd % 2 == 0 else sides[::-1]):
            times[side].append(clock.measure(chunk))
        log(f"  loop vs bare: round {rnd + 1}: package {times['package'][-1].seconds:.3f} s, "
            f"bare {times['bare'][-1].seconds:.3f} s ({clock.kind})")

    def rates(side: str, wall: bool = False) -> Spread:
        return Spread.of([tokens / (t.wall if wall else t.seconds) for t in times[side]])

    ratios = Spread.of([b.seconds / p.seconds for p, b in zip(times["package"], times["bare"])])
    wall_ratios = Spread.of([b.wall / p.wall for p, b in zip(times["package"], times["bare"])])
    return {"mode": "vae", "loop": "savae_lite.loop.TrainingLoop.run_epoch",
            "batches_per_chunk": len(batches), "batch_size": int(batches[0].shape[0]), "tokens_per_chunk": tokens,
            "rounds": bc.train_rounds, "clock": clock.kind,
            **rates("package").fields("package_tokens_per_s", 2), **rates("bare").fields("bare_tokens_per_s", 2),
            **ratios.fields("ratio", 4),
            "ratio_wall": round(wall_ratios.median, 4), "ratio_wall_iqr": round(wall_ratios.iqr, 4),
            "package_tokens_per_wall_s": round(rates("package", wall=True).median, 2),
            "bare_tokens_per_wall_s": round(rates("bare", wall=True).median, 2),
            "ratio_all": [round(r, 4) for r in ratios.values]}
