"""The synthetic experiment: data drawn from a known LSTM generative model (in the spirit of Table 1 of
Kim et al. 2018).

Chapter: *SA-VAE* (the experiment and its results).

An *oracle* generator p*(x | z) p(z) is an LSTM decoder of :class:`~savae_lite.models.text.TextVAE` whose weights
are drawn at random with a large scale (uniform(-1, 1)), so that the latent z changes the sentences noticeably —
except the hidden-to-hidden matrix, drawn from uniform(-0.6, 0.6): with the full scale the random LSTM is chaotic,
log p(x | z) is a very rough function of z, and the derivative through K SVI steps explodes (norms of 1e7 at K = 20
were measured), which no training mode that differentiates through SVI can use.
A corpus is sampled from it ancestrally. Because the oracle is known, its own negative log-likelihood on the
test set — the best any model of this form can do on average — can be estimated with many importance samples.

Every training mode is then run twice:

* **Oracle Gen** — the generator is frozen at the oracle and only the inference network is trained, so the
  test bound measures *inference* alone (how close the mode's q gets to the oracle's posterior).
  ``svi`` has no inference network: it needs no training and just runs SVI at test time.
  ``vae+svi`` trains its encoder on the encoder's own ELBO, exactly like ``vae`` (the SVI part only ever
  trains the generator), so with a frozen generator the two share one encoder; they differ at test time.
* **Learned Gen** — generator and inference network are trained together from a fresh initialisation.

Sentences are ``<s> w_1 .. w_L`` with a fixed length L and no end symbol, so batches need no padding and every
target token is drawn from the oracle's softmax: the oracle's ``neg_log_lik`` is the exact -log p*(x | z) of the
data. The special ids 0..3 (``<pad> <unk> <s> </s>``) get an output bias of -30, which makes their
probability negligible (about e^-30 relative to a word); sampling uses the oracle's softmax as it is.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from savae_lite import evaluate, objectives
from savae_lite.models.text import TextModelConfig, TextVAE
from savae_lite.modes import training_step
from savae_lite.svi import SVIConfig
from savae_lite.utils import pick_device, set_seed

BOS = 2  # <s>
FIRST_WORD = 4  # ids 0..3 are <pad> <unk> <s> </s>
SYNTHETIC_MODES = ("vae", "svi", "vae+svi", "vae+svi+kl", "savae")
REFINED = ("svi", "vae+svi", "vae+svi+kl", "savae")  # modes whose test-time q comes from K SVI steps


@dataclass
class SyntheticConfig:
    """Sizes, schedule and evaluation budget of the synthetic experiment. Presets: default (full, about
    twenty minutes on one CPU thread), :meth:`quick` (under a minute), :meth:`micro` (seconds, for tests)."""

    vocab_size: int = 100  # ids 4..vocab_size-1 are words
    emb_dim: int = 100
    hidden: int = 100  # encoder and decoder LSTM width
    latent_dim: int = 2
    length: int = 10  # words per sentence (the sequence is <s> + length words)
    oracle_scale: float = 1.0  # oracle decoder weights ~ uniform(-scale, scale) ...
    oracle_recurrent_scale: float = 0.6  # ... except hidden-to-hidden: uniform(-this, this) (not chaotic)
    n_train: int = 10_000
    n_valid: int = 500
    n_test: int = 500
    batch_size: int = 100
    epochs: int = 4
    optimizer: str = "adam"  # adam | sgd
    lr: float = 3e-3
    grad_clip: float = 5.0  # global norm, before every optimiser step
    kl_start: float = 0.1  # KL weight at the first step, rising linearly ...
    kl_warmup_epochs: float = 1.0  # ... to 1 over this many epochs (0: weight 1 throughout)
    svi: SVIConfig = field(default_factory=lambda: SVIConfig(steps=20, lr_mu=0.03, lr_logvar=0.03, momentum=0.5,
                                                            clip=5.0))
    hvp: str = "fd"  # back-end of the SA-VAE reverse pass
    elbo_samples: int = 10  # z samples per example in the reported test bound
    true_nll_samples: int = 1000  # importance samples for the oracle's -log p(x)
    true_nll_svi_steps: int = 100  # SVI steps (from 0) that fit the importance proposal
    proposal_std_scale: float = 1.5  # the proposal's std is the fitted q's std times this
    learned_iw_samples: int = 250  # importance samples for each Learned Gen model's -log p(x) (0: skip)

    @classmethod
    def quick(cls) -> "SyntheticConfig":
        return cls(vocab_size=50, emb_dim=32, hidden=32, length=8, n_train=600, n_valid=100, n_test=100,
                   batch_size=50, epochs=2, kl_warmup_epochs=1.0,
                   svi=SVIConfig(steps=10, lr_mu=0.05, lr_logvar=0.05, momentum=0.5, clip=5.0),
                   elbo_samples=5, true_nll_samples=300, true_nll_svi_steps=30, learned_iw_samples=50)

    @classmethod
    def micro(cls) -> "SyntheticConfig":
        return cls(vocab_size=20, emb_dim=8, hidden=8, length=5, n_train=40, n_valid=10, n_test=10,
                   batch_size=10, epochs=1, kl_warmup_epochs=0.5,
                   svi=SVIConfig(steps=3, lr_mu=0.05, lr_logvar=0.05, momentum=0.5, clip=5.0),
                   elbo_samples=2, true_nll_samples=50, true_nll_svi_steps=5, learned_iw_samples=10)

    def model_config(self) -> TextModelConfig:
        return TextModelConfig(vocab_size=self.vocab_size, emb_dim=self.emb_dim, enc_hidden=self.hidden,
                               dec_hidden=self.hidden, latent_dim=self.latent_dim, dropout=0.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---- the oracle and its data -------------------------------------------------------------------------------
def make_oracle(cfg: TextModelConfig, seed: int, scale: float = 1.0, recurrent_scale: float = 0.6) -> TextVAE:
    """A TextVAE whose *decoder* weights are uniform(-scale, scale) drawn from ``seed`` (the oracle generator),
    except the LSTM's hidden-to-hidden matrix, uniform(-recurrent_scale, recurrent_scale).

    Its encoder keeps PyTorch's default initialisation and is not used by the oracle itself. The output bias of
    the special ids 0..3 is set to -30 so that the oracle (almost surely) only emits words. Dropout must be 0.
    """
    if cfg.dropout != 0 or cfg.word_dropout != 0:
        raise ValueError("make_oracle: the oracle must have dropout = word_dropout = 0")
    if cfg.vocab_size <= FIRST_WORD:
        raise ValueError(f"make_oracle: vocab_size must exceed {FIRST_WORD} (ids 0..3 are special)")
    gen = torch.Generator().manual_seed(seed)
    model = TextVAE(cfg)
    with torch.no_grad():
        for name, p in model.decoder.named_parameters():
            s = recurrent_scale if name == "rnn.weight_hh_l0" else scale
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * s)
        model.decoder.out.weight[:FIRST_WORD] = 0.0
        model.decoder.out.bias[:FIRST_WORD] = -30.0
    return model.eval()


@torch.no_grad()
def sample_corpus(oracle: TextVAE, n: int, length: int, generator: torch.Generator,
                  return_z: bool = False, z: torch.Tensor | None = None):
    """Ancestral sampling: z ~ N(0, I), then w_t ~ p*(w_t | w_<t, z) for t = 1..length.

    Returns a LongTensor (n, length + 1) of sentences ``<s> w_1 .. w_length`` (on the oracle's device), and the
    latents (n, Z) when ``return_z``. ``generator`` is a CPU generator; the draws do not touch the global RNG.
    ``z`` (n, Z), when given, replaces the draw from the prior (sentences given a chosen z).
    """
    dec = oracle.decoder
    device = next(oracle.parameters()).device
    if z is None:
        z = torch.randn(n, oracle.latent_dim, generator=generator)
    elif z.shape != (n, oracle.latent_dim):
        raise ValueError(f"sample_corpus: z must have shape ({n}, {oracle.latent_dim}), got {tuple(z.shape)}")
    z = z.to(device)
    x = torch.full((n, length + 1), BOS, dtype=torch.long, device=device)
    h = dec.h0(z).unsqueeze(0)  # (1, n, H), as in TextDecoder.logits
    c = torch.zeros_like(h)
    for t in range(length):
        inp = torch.cat([dec.emb(x[:, t : t + 1]), z.unsqueeze(1)], -1)  # (n, 1, E + Z)
        out, (h, c) = dec.rnn(inp, (h, c))
        probs = torch.softmax(dec.out(out[:, 0]).double(), -1).cpu()
        x[:, t + 1] = torch.multinomial(probs, 1, generator=generator)[:, 0].to(device)
    if int((x[:, 1:] < FIRST_WORD).sum()):
        raise RuntimeError("sample_corpus: the oracle emitted a special symbol; raise its special-id bias")
    return (x, z) if return_z else x


def batches_of(x: torch.Tensor, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Split (N, T) into batches of rows; shuffled with ``generator`` when given."""
    idx = torch.randperm(x.shape[0], generator=generator) if generator is not None else torch.arange(x.shape[0])
    return [x[idx[i : i + batch_size].to(x.device)] for i in range(0, x.shape[0], batch_size)]


# ---- evaluation ---------------------------------------------------------------------------------------------
def test_time_q(model, x: torch.Tensor, mode: str, svi_cfg: SVIConfig, refine: bool = True):
    """lambda used at test time by ``mode``: zeros (svi) or the encoder's output, then K SVI steps for the
    refined modes (when ``refine``). Returns (mu, logvar), each (B, Z)."""
    steps = svi_cfg if refine and mode in REFINED else None
    return evaluate.test_time_q(model, x, evaluate.init_for(mode), steps)


@torch.no_grad()
def bound_terms(model, x, mu, logvar, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """E_q[-log p(x | z)] averaged over ``samples`` draws, and KL(q || p); each (B,). Their sum is -ELBO."""
    B = x.shape[0]
    xs = x.repeat_interleave(samples, 0)
    terms = objectives.elbo_terms(model, xs, mu.repeat_interleave(samples, 0), logvar.repeat_interleave(samples, 0))
    return terms.nll.view(B, samples).mean(1), terms.kl.view(B, samples)[:, 0]


def evaluate_mode(model, batches, mode: str, svi_cfg: SVIConfig, samples: int, refine: bool = True,
                  iw_samples: int = 0) -> dict:
    """Average test metrics (nats per sentence) of ``model`` with ``mode``'s test-time q.

    ``bound`` = -ELBO (an upper bound on -log p(x)), ``recon``, ``kl``; with ``iw_samples`` > 0 also ``iw_nll``,
    the importance-weighted estimate of the model's own -log p(x) with that q as proposal.
    """
    was_training = model.training
    model.eval()
    tot = {"recon": 0.0, "kl": 0.0, "iw": 0.0}
    n = 0
    for x in batches:
        mu, logvar = test_time_q(model, x, mode, svi_cfg, refine)
        recon, kl = bound_terms(model, x, mu, logvar, samples)
        tot["recon"] += float(recon.sum())
        tot["kl"] += float(kl.sum())
        if iw_samples > 0:
            tot["iw"] += float(objectives.iw_nll(model, x, mu, logvar, iw_samples, max_rows=2000).sum())
        n += x.shape[0]
    model.train(was_training)
    out = {"bound": (tot["recon"] + tot["kl"]) / n, "recon": tot["recon"] / n, "kl": tot["kl"] / n}
    if iw_samples > 0:
        out["iw_nll"] = tot["iw"] / n
    return out


def true_nll(oracle, batches, cfg: SyntheticConfig) -> dict:
    """The oracle's own -log p*(x) on ``batches`` by importance sampling.

    Proposal: the Gaussian fitted by ``true_nll_svi_steps`` SVI steps from 0 (same step sizes as the
    experiment), with its standard deviation widened by ``proposal_std_scale`` (a wider proposal is safer for
    importance sampling: a fitted q is narrower than the posterior). Any proposal gives a consistent estimate;
    the widening only lowers its variance. Also returns the bound of the fitted q itself.
    """
    fit = dataclasses.replace(cfg.svi, steps=cfg.true_nll_svi_steps)
    tot_iw, tot_bound, n = 0.0, 0.0, 0
    for x in batches:
        mu, logvar = test_time_q(oracle, x, "svi", fit)
        recon, kl = bound_terms(oracle, x, mu, logvar, cfg.elbo_samples)
        wide = logvar + 2 * math.log(cfg.proposal_std_scale)
        tot_iw += float(objectives.iw_nll(oracle, x, mu, wide, cfg.true_nll_samples, max_rows=2000).sum())
        tot_bound += float((recon + kl).sum())
        n += x.shape[0]
    return {"true_nll": tot_iw / n, "fitted_q_bound": tot_bound / n, "samples": cfg.true_nll_samples,
            "proposal": f"q from {cfg.true_nll_svi_steps} SVI steps from 0, std x {cfg.proposal_std_scale}"}


# ---- training -----------------------------------------------------------------------------------------------
def train_mode(model, mode: str, train: torch.Tensor, valid_batches, cfg: SyntheticConfig,
               train_generator: bool, seed: int, log: Callable[[str], None] | None = None) -> dict:
    """Train ``model`` with ``mode`` for ``cfg.epochs`` epochs; keep the parameters with the best validation
    bound (the mode's own test-time procedure). ``train_generator=False`` trains only the inference network.

    The KL weight rises linearly from ``cfg.kl_start`` to 1 over ``cfg.kl_warmup_epochs`` (validation always uses
    weight 1). Returns {"history": [...per epoch...], "train_s": seconds, "best_epoch": e}; the model ends at its
    best state.
    """
    # Oracle Gen: the generator is simply left out of the optimiser. Its parameters keep requires_grad (the
    # training steps of vae+svi(+kl) and savae back-propagate into them); those gradients are discarded.
    params = list(model.encoder_parameters()) if not train_generator else list(model.parameters())
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr)
    else:
        raise ValueError(f"optimizer: {cfg.optimizer!r} is not adam or sgd")
    gen = torch.Generator().manual_seed(seed)
    history, best, best_state, best_epoch, train_s = [], math.inf, None, 0, 0.0
    steps_per_epoch = math.ceil(train.shape[0] / cfg.batch_size)
    warmup, step = int(round(cfg.kl_warmup_epochs * steps_per_epoch)), 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum, kl_sum, count = 0.0, 0.0, 0
        for x in batches_of(train, cfg.batch_size, gen):
            model.zero_grad(set_to_none=True)
            kl_weight = objectives.kl_weight_at(step, cfg.kl_start, warmup)
            stats = training_step(model, x, mode, cfg.svi, kl_weight, cfg.hvp)
            step += 1
            stats.check_finite(mode, epoch)
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            loss_sum, kl_sum, count = loss_sum + stats.loss, kl_sum + stats.kl, count + stats.n
        model.zero_grad(set_to_none=True)
        train_s += time.perf_counter() - t0
        val = evaluate_mode(model, valid_batches, mode, cfg.svi, samples=1)
        history.append({"epoch": epoch, "kl_weight": round(kl_weight, 4), "train_loss": loss_sum / count,
                        "train_kl": kl_sum / count, "valid_bound": val["bound"], "valid_kl": val["kl"],
                        "train_s": round(train_s, 2)})
        if log:
            log(f"  epoch {epoch}: train {loss_sum / count:.3f}  valid bound {val['bound']:.3f}  "
                f"kl {val['kl']:.3f}  ({train_s:.0f} s)")
        if val["bound"] < best:
            best, best_epoch = val["bound"], epoch
            best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"history": history, "train_s": round(train_s, 2), "best_epoch": best_epoch}


def _round(d: dict, nd: int = 4) -> dict:
    return {k: (round(v, nd) if isinstance(v, float) else v) for k, v in d.items()}


def run_synthetic(quick: bool = False, seed: int = 3435, device: str | torch.device = "auto",
                  cfg: SyntheticConfig | None = None, log: Callable[[str], None] | None = print) -> dict:
    """Run the whole experiment and return a JSON-able dict (see :mod:`savae_lite.experiments`).

    ``cfg`` overrides the preset chosen by ``quick``. Seeds: the oracle from ``seed``, the corpus from
    ``seed + 1``, every trained model from ``seed + 2`` (same initialisation and data order for every mode).
    Rows: one per (setting, mode) with ``bound`` (test -ELBO with the mode's test-time q, nats per
    sentence), ``kl``, ``bound_no_refine`` (the encoder's q alone, where there is an encoder), ``train_s``,
    ``eval_s``, ``trained_here`` (False where no training ran: Oracle Gen svi, and Oracle Gen vae+svi, whose
    ``train_s`` is that of the shared vae encoder) and, for Learned Gen, ``iw_nll`` (the learned model's own
    -log p(x)).
    """
    cfg = cfg or (SyntheticConfig.quick() if quick else SyntheticConfig())
    dev = pick_device(device)
    log = log or (lambda s: None)
    t_start = time.perf_counter()
    mcfg = cfg.model_config()
    oracle = make_oracle(mcfg, seed, cfg.oracle_scale, cfg.oracle_recurrent_scale).to(dev)
    for p in oracle.parameters():
        p.requires_grad_(False)
    data_gen = torch.Generator().manual_seed(seed + 1)
    splits = {name: sample_corpus(oracle, n, cfg.length, data_gen)
              for name, n in (("train", cfg.n_train), ("valid", cfg.n_valid), ("test", cfg.n_test))}
    valid, test = batches_of(splits["valid"], cfg.batch_size), batches_of(splits["test"], cfg.batch_size)
    set_seed(seed + 3)
    t0 = time.perf_counter()
    truth = true_nll(oracle, test, cfg)
    truth["eval_s"] = round(time.perf_counter() - t0, 2)
    log(f"oracle: true NLL {truth['true_nll']:.3f} (bound of the fitted q {truth['fitted_q_bound']:.3f})")

    rows = []
    histories = {}
    for setting in ("oracle", "learned"):
        shared_vae, shared_vae_info = None, {}
        for mode in SYNTHETIC_MODES:
            label = f"{'Oracle' if setting == 'oracle' else 'Learned'} Gen / {mode}"
            set_seed(seed + 2)
            model = TextVAE(mcfg).to(dev)
            note = ""
            trained_here = True
            info = {"history": [], "train_s": 0.0, "best_epoch": None}
            if setting == "oracle":
                model.decoder.load_state_dict(oracle.decoder.state_dict())
                if mode == "svi":
                    trained_here = False
                    note = "no training: SVI from 0 at test time"
                elif mode == "vae+svi" and shared_vae is not None:
                    model.encoder.load_state_dict(shared_vae.encoder.state_dict())
                    info, trained_here = dict(shared_vae_info), False
                    note = "encoder of Oracle Gen / vae (identical training); refined by SVI at test time"
                else:
                    log(f"{label}: training the inference network")
                    info = train_mode(model, mode, splits["train"], valid, cfg, train_generator=False,
                                      seed=seed + 2, log=log)
            else:
                log(f"{label}: training generator and inference network")
                info = train_mode(model, mode, splits["train"], valid, cfg, train_generator=True,
                                  seed=seed + 2, log=log)
            if setting == "oracle" and mode == "vae":
                shared_vae, shared_vae_info = model, info
            set_seed(seed + 4)
            t0 = time.perf_counter()
            iw = cfg.learned_iw_samples if setting == "learned" else 0
            res = evaluate_mode(model, test, mode, cfg.svi, cfg.elbo_samples, refine=True, iw_samples=iw)
            if mode != "svi" and mode in REFINED:
                res["bound_no_refine"] = evaluate_mode(model, test, mode, cfg.svi, cfg.elbo_samples,
                                                       refine=False)["bound"]
            eval_s = time.perf_counter() - t0
            row = {"setting": "Oracle Gen" if setting == "oracle" else "Learned Gen", "mode": mode,
                   **_round(res), "train_s": info["train_s"], "eval_s": round(eval_s, 2),
                   "best_epoch": info["best_epoch"], "trained_here": trained_here, "note": note}
            rows.append(row)
            histories[f"{row['setting']} / {mode}"] = info["history"]
            log(f"{label}: bound {res['bound']:.3f}  kl {res['kl']:.3f}"
                + (f"  iw {res['iw_nll']:.3f}" if "iw_nll" in res else "") + f"  ({info['train_s']:.0f} s train)")
    return {
        "config": cfg.to_dict(),
        "seed": seed,
        "device": str(dev),
        "dataset": {"kind": "sampled from the oracle LSTM", "sentences": {k: int(v.shape[0]) for k, v in
                                                                           splits.items()},
                    "tokens_per_sentence": cfg.length, "vocab_size": cfg.vocab_size,
                    "words": cfg.vocab_size - FIRST_WORD},
        "true_nll": _round(truth),
        "rows": rows,
        "histories": histories,
        "wall_time_s": round(time.perf_counter() - t_start, 2),
    }
