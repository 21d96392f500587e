"""Omniglot at 28x28 as probability-of-ink images, and binarised batches of them.

Every loader returns float32 tensors of shape (N, 1, 28, 28) with values in [0, 1]: 1 = ink, 0 = background.
Three sources, all with the same split rule -- 2,000 images of the training set, drawn with
``torch.Generator().manual_seed(seed)``, are held out for validation (as in Kim et al.); the rest keep their
original order:

* ``'npz'`` (default): ``omniglot/images_{background,evaluation}.npz``, the 105x105 drawings as bool arrays
  (True = background). Train + valid = the 964 background characters x 20 drawers = 19,280 images
  (17,280 + 2,000); test = the 659 evaluation characters x 20 = 13,180 images. The alphabets of the test set
  do not occur in training.
* ``'zip'``: the canonical PNG zips ``omniglot_canonical/images_{background,evaluation}.zip``; same images and
  split as 'npz' (the 1-bit PNGs are decoded with Pillow).
* ``'mat'``: Burda et al.'s ``omniglot/chardata.mat``, already 28x28 with grey values; keys ``data`` (784, 24345)
  and ``testdata`` (784, 8070). Train + valid = 24,345 (22,345 + 2,000), test = 8,070. Every character occurs
  in both. Each column is one image stored column-major, i.e. ``column.reshape(28, 28, order='F')`` -- what
  Burda's code does with ``data.T.reshape(-1, 28, 28).reshape(-1, 784, order='F')``.

105 -> 28 resizing: ``F.interpolate(mode='area')``, i.e. adaptive average pooling (105/28 = 3.75 is not an
integer, so windows of 4 or 5 pixels overlap); each output pixel is the fraction of ink in its window.
"""
from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from savae_lite.data.download import DataError, ensure
from savae_lite.data.download import data_dir as _data_dir
from savae_lite.registry import OMNIGLOT_SOURCES

SIDE = 28
N_VALID = 2000
IMAGE_SOURCES = OMNIGLOT_SOURCES  # the readers below (savae_lite.registry)


@dataclass
class ImageData:
    """Three float32 tensors (N, 1, 28, 28) in [0, 1], 1 = ink."""

    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor


def decode_png(data: bytes, name: str = "<png>") -> np.ndarray:
    """A PNG (any mode Pillow can turn into 8-bit grey; Omniglot's are 1-bit) -> float32 (H, W) in [0, 1],
    1 = white. DataError naming ``name`` for a corrupt or truncated file."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.verify()  # every chunk's CRC up to IEND: decoding alone accepts some truncated files
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:  # verify() uses the image up
            grey = image.convert("L")  # bit depths 1, 2, 4 are scaled to 0..255 exactly
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{name}: not a readable PNG file ({type(err).__name__}: {err})") from None
    return np.asarray(grey, dtype=np.float32) / 255.0


def _zip_order(member: str) -> tuple[int, int, str]:
    """Sort key: Omniglot's NNNN_DD.png (character number, drawer), as in the npz; else by name."""
    m = re.fullmatch(r"(\d+)_(\d+)\.png", member.rsplit("/", 1)[-1])
    return (int(m[1]), int(m[2]), member) if m else (1 << 30, 0, member)


def read_omniglot_zip(path: str | os.PathLike) -> np.ndarray:
    """All PNGs of a canonical Omniglot zip -> float32 ink (N, H, W) in [0, 1], ordered by NNNN_DD."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted((n for n in zf.namelist() if n.lower().endswith(".png")), key=_zip_order)
            images = [decode_png(zf.read(n), f"{path}:{n}") for n in names]
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: cannot read the zip archive ({err})") from None
    if not images:
        raise DataError(f"{path}: no .png files in the archive")
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise DataError(f"{path}: images of different sizes {sorted(shapes)}; expected all 105x105")
    return 1.0 - np.stack(images)  # PNG: black ink (0) on white (1)


def _npz_background(path: Path) -> np.ndarray:
    """``images`` of an Omniglot npz as stored: bool (N, 105, 105), True = background."""
    try:
        with np.load(path) as npz:
            if "images" not in npz.files:
                raise DataError(f"{path}: no array 'images' in the archive (found {npz.files})")
            images = npz["images"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path}: cannot read the .npz archive, corrupt or truncated? ({err})") from None
    if images.dtype != np.bool_ or images.ndim != 4 or images.shape[2:] != (105, 105):
        raise DataError(f"{path}: 'images' has shape {images.shape} and dtype {images.dtype}; "
                        "expected (characters, drawers, 105, 105) bool")
    return images.reshape(-1, 105, 105)


def read_omniglot_npz(path: str | os.PathLike) -> np.ndarray:
    """``images`` of an Omniglot npz, (chars, 20, 105, 105) bool True = background -> bool ink (N, 105, 105)."""
    return ~_npz_background(Path(path))


def read_chardata_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Burda's ``chardata.mat`` -> (train, test) float32 ink (N, 28, 28); columns read in Fortran order."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types for a bad file
        raise DataError(f"{path}: cannot read the .mat file ({err})") from None
    out = []
    for key in ("data", "testdata"):
        arr = mat.get(key)
        if arr is None or arr.ndim != 2 or arr.shape[0] != SIDE * SIDE or not np.issubdtype(arr.dtype, np.number):
            shape = None if arr is None else arr.shape
            raise DataError(f"{path}: '{key}' has shape {shape}; expected a numeric (784, N) array")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise DataError(f"{path}: '{key}' has values outside [0, 1]")
        out.append(arr.T.astype(np.float32).reshape(-1, SIDE, SIDE).transpose(0, 2, 1))
    return out[0], out[1]


def to_28(images: np.ndarray, index: np.ndarray | None = None, *, invert: bool = False) -> torch.Tensor:
    """Images (N, H, W), bool or float in [0, 1] -> float32 (len(index), 1, 28, 28) by area averaging.

    ``index`` selects images (default all); ``invert`` maps v -> 1 - v (background-coded input -> ink).
    Works in chunks, so no full-resolution float copy of the whole set is ever made.
    """
    index = np.arange(len(images)) if index is None else np.asarray(index)
    chunks = [torch.zeros(0, 1, SIDE, SIDE)]
    for start in range(0, len(index), 2048):
        x = torch.from_numpy(images[index[start:start + 2048]].astype(np.float32)).unsqueeze(1)
        if x.shape[-2:] != (SIDE, SIDE):
            x = F.interpolate(x, size=(SIDE, SIDE), mode="area")
        chunks.append((1.0 - x if invert else x).clamp_(0.0, 1.0))
    return torch.cat(chunks)


def load_omniglot(data_dir: str | os.PathLike | None = None, *, source: str = "npz",
                  max_images: int | None = None, download: bool = False, seed: int = 0,
                  n_valid: int = N_VALID, checksums: bool = True) -> ImageData:
    """Omniglot 28x28 (see the module docstring for sources, split sizes and resizing).

    ``max_images`` keeps the first ``max_images`` of each split (quick mode); ``seed`` picks the ``n_valid``
    validation images; ``checksums=False`` skips verification (fixtures). Missing files raise DataError
    unless ``download=True``.
    """
    root = _data_dir(data_dir)
    invert = source == "npz"  # the npz stores background = True; the other readers return ink
    if source == "npz":
        pool, test = (_npz_background(ensure(f"omniglot/images_{s}.npz", root, download=download,
                                             checksums=checksums)) for s in ("background", "evaluation"))
    elif source == "zip":
        pool, test = (read_omniglot_zip(ensure(f"omniglot_canonical/images_{s}.zip", root, download=download,
                                               checksums=checksums)) for s in ("background", "evaluation"))
    elif source == "mat":
        pool, test = read_chardata_mat(ensure("omniglot/chardata.mat", root, download=download,
                                              checksums=checksums))
    else:
        raise DataError(f"unknown Omniglot source {source!r}; valid: {', '.join(IMAGE_SOURCES)}")
    if not 0 < n_valid < len(pool):
        raise DataError(f"n_valid={n_valid} must be between 1 and {len(pool) - 1} (training images - 1)")
    perm = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    valid_idx, train_idx = perm[:n_valid].sort().values.numpy(), perm[n_valid:].sort().values.numpy()
    test_idx = np.arange(len(test))
    return ImageData(*(to_28(images, idx[:max_images], invert=invert)
                       for images, idx in ((pool, train_idx), (pool, valid_idx), (test, test_idx))))


def binarize_fixed(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One fixed {0, 1} sample of ``images`` (probabilities), the same for the same ``seed``: pixel = u < p."""
    u = torch.rand(images.shape, generator=torch.Generator().manual_seed(seed))
    return (u.to(images.device) < images).to(torch.float32)


def image_batches(images: torch.Tensor, batch_size: int, *, shuffle: bool = False,
                  generator: torch.Generator | None = None, binarize: str = "dynamic",
                  seed: int = 0) -> Iterator[torch.Tensor]:
    """Batches (B, 1, 28, 28) float32 of ``images`` (N, 1, 28, 28); the last batch may be smaller.

    ``binarize``: 'dynamic' draws a fresh Bernoulli sample for every batch with ``generator`` (training);
    'fixed' uses :func:`binarize_fixed` with ``seed``, the same every epoch (evaluation); 'none' keeps the
    grey values. ``shuffle`` permutes the images with ``generator``.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise DataError(f"image_batches: expected images of shape (N, 1, H, W), got {tuple(images.shape)}")
    if binarize not in ("dynamic", "fixed", "none"):
        raise DataError(f"image_batches: binarize must be 'dynamic', 'fixed' or 'none', got {binarize!r}")
    if batch_size < 1:
        raise DataError(f"image_batches: batch_size must be >= 1, got {batch_size}")
    data = binarize_fixed(images, seed) if binarize == "fixed" else images
    order = torch.randperm(len(data), generator=generator) if shuffle else torch.arange(len(data))

    def batches() -> Iterator[torch.Tensor]:
        for start in range(0, len(data), batch_size):
            batch = data[order[start:start + batch_size].to(data.device)]
            if binarize == "dynamic":
                device = generator.device if generator is not None else batch.device
                u = torch.rand(batch.shape, generator=generator, device=device).to(batch.device)
                batch = (u < batch).to(torch.float32)
            yield batch

    return batches()
