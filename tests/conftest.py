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
