"""Test-only fixtures and helpers, in one place. Numerical checks that the book uses too live in the package
(:mod:`savae_lite.checks`)."""
import os
from pathlib import Path

import pytest
import torch

from savae_lite.checks import random_sentences

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _small_torch():
    torch.set_num_threads(1)  # tests use tiny tensors: one thread is fastest and immune to oversubscription
    yield


@pytest.fixture
def shared_data():
    """The offline data cache beside the checkout (skip when absent)."""
    path = Path(os.environ.get("SAVAE_LITE_DATA", SHARED_DATA))
    if not (path / "ptb").exists() and not (path / "omniglot").exists():
        pytest.skip("offline data cache not available")
    return path


# ---------------------------------------------------------------------------------------------- text
def tiny_sentences(n=6, length=7, vocab=20, seed=0):
    """A (n, length) LongTensor of sentences <s> w.. </s> with ids in [4, vocab), from its own seeded generator."""
    return random_sentences(n, length, vocab, torch.Generator().manual_seed(seed))


class TinyVocab:
    """Stands in for :class:`savae_lite.data.Vocab` with 20 ids."""

    pad_idx = 0

    def __len__(self):
        return 20

    def to_dict(self):
        return {"itos": [str(i) for i in range(20)]}


def tiny_text_splits(n_batches=3, n_lengths=2, n_valid=1, n_test=1):
    """In-memory :class:`savae_lite.build.Splits` of tiny sentence batches (4 sentences each; lengths cycle)."""
    from savae_lite.build import Splits

    sents = [tiny_sentences(4, 5 + (i % n_lengths), seed=i) for i in range(n_batches)]

    def train_batches(gen):
        return [sents[i] for i in torch.randperm(len(sents), generator=gen).tolist()]

    return Splits(train_batches, sents[:n_valid], sents[n_valid:n_valid + n_test], "text", TinyVocab(),
                  {"dataset": "tiny-text"})


def tiny_text_vae(dropout=0.2):
    """A float64 TextVAE over 20 ids (seed 0) with torch's default initialisation (larger gradients than the
    original's uniform(-0.1, 0.1), so the SVI clip is exercised)."""
    from savae_lite.models.text import TextModelConfig, TextVAE

    torch.manual_seed(0)
    cfg = TextModelConfig.tiny(20)
    cfg.dropout = dropout
    cfg.init_range = None
    return TextVAE(cfg).double()


# ---------------------------------------------------------------------------------------------- toy model
@pytest.fixture
def toy():
    """A float64 linear Gaussian VAE (D = 5, Z = 2) with exact posterior and marginal, and 16 of its samples."""
    from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig

    torch.manual_seed(0)
    model = LinearGaussianVAE(ToyModelConfig(data_dim=5, latent_dim=2, noise_std=0.6)).double()
    x = model.sample_data(16, torch.Generator().manual_seed(2))
    return model, x


# ---------------------------------------------------------------------------------------------- training runs
def text_run_config(out_dir, mode="savae", **train):
    """A resumable tiny text run: two epochs, a checkpoint after every step, decoder dropout 0.3 (so the RNG
    state matters for an exact resume). Keyword arguments override :class:`~savae_lite.config.TrainConfig`."""
    from savae_lite.config import DataConfig, RunConfig, TrainConfig
    from savae_lite.svi import SVIConfig

    base = dict(mode=mode, epochs=2, optimizer="sgd", lr=0.5, svi=SVIConfig(steps=2, lr_mu=0.1, lr_logvar=0.1),
                iw_samples=3, out_dir=str(out_dir), progress=False, device="cpu", kl_warmup_epochs=1,
                decay_start_epoch=0, checkpoint_every=1)
    base.update(train)
    return RunConfig(data=DataConfig(name="ptb", batch_size=4), train=TrainConfig(**base), model_kind="text",
                     model={"vocab_size": 20, "dropout": 0.3}, model_preset="tiny")


def text_run_splits(n_batches=5):
    """The splits of :func:`text_run_config`: five training batches of three lengths, two valid, two test."""
    return tiny_text_splits(n_batches, n_lengths=3, n_valid=2, n_test=2)


def params_of(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
