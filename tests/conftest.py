import os
from pathlib import Path

import pytest
import torch

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


def tiny_sentences(n=6, length=7, vocab=20, seed=0):
    """A (n, length) LongTensor of sentences <s> w.. </s> with ids in [4, vocab)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, vocab, (n, length), generator=g)
    x[:, 0], x[:, -1] = 2, 3
    return x


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
