"""The benchmark's models' inputs: a text batch set (PTB or random sentences) and an image batch (Omniglot or
random binary images), sized by a :class:`~savae_lite.bench.BenchConfig`.

Chapter: *Differentiable SVI*. The timings do not depend on the values of the data, only on their shapes; PTB
and Omniglot are used when available so that the recorded runs are the real workload.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from savae_lite.bench.presets import BenchConfig
from savae_lite.checks import random_sentences


@dataclass
class TextWorkload:
    """The text side of the benchmark: the model's :class:`~savae_lite.models.text.TextModelConfig`,
    the SA-VAE step's batch (B, T) (LongTensor), the batches of the loop-vs-bare comparison, the
    IW-NLL sentences (N, T) and a line saying which data they are."""

    model_config: object  # TextModelConfig
    step_batch: torch.Tensor  # (text_batch, text_len): the SA-VAE step's batch
    train_batches: list[torch.Tensor]  # train_batches batches for loop-vs-bare
    iw_batch: torch.Tensor  # (iw_sentences, text_len): IW-NLL's sentences
    description: str


@dataclass
class ImageWorkload:
    """The image side of the benchmark: the model's :class:`~savae_lite.models.image.ImageModelConfig`,
    one batch of binary images (B, 1, H, W) and a line saying which data it is."""

    model_config: object  # ImageModelConfig
    batch: torch.Tensor  # (image_batch, 1, size, size)
    description: str


def text_workload(bc: BenchConfig, device: torch.device, seed: int = 0) -> TextWorkload:
    """Sentences of exactly ``bc.text_len`` tokens: the SA-VAE batch, the training batches and the IW batch."""
    from savae_lite.models.text import TextModelConfig

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
        iw_rows = torch.tensor((test * bc.iw_sentences)[: bc.iw_sentences], dtype=torch.long)
        desc = f"PTB sentences of exactly {bc.text_len} tokens (<s> and </s> included), vocabulary {vocab}"
    else:
        vocab = 50 if bc.text_model == "tiny" else 10_002
        rows = random_sentences(need, bc.text_len, vocab, torch.Generator().manual_seed(seed))
        iw_rows = rows[: bc.iw_sentences]
        desc = f"random sentences of {bc.text_len} tokens, vocabulary {vocab}"
    b = bc.text_batch
    return TextWorkload(model_config=getattr(TextModelConfig, bc.text_model)(vocab),
                        step_batch=rows[:b].to(device),
                        train_batches=[rows[b * (i + 1): b * (i + 2)].to(device) for i in range(bc.train_batches)],
                        iw_batch=iw_rows.to(device), description=desc)


def image_workload(bc: BenchConfig, device: torch.device, seed: int = 0) -> ImageWorkload:
    """One batch of ``bc.image_batch`` binary images (Omniglot when asked for and available, else random)."""
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
        x = (torch.rand(bc.image_batch, 1, size, size, generator=torch.Generator().manual_seed(seed)) < 0.5).float()
    return ImageWorkload(model_config=mc, batch=x.to(device), description=desc)
