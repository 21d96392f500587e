"""Typed configuration shared by the CLI, the trainer and the book.

Chapter: *Introduction* (how to run things). A run is a :class:`RunConfig` = data + model + training (+ SVI);
``savae-lite eval`` takes an :class:`EvalConfig`. Every field is declared once, with its help text, its range or
choices and its CLI flag (``option`` of ``savae_lite.fields``): the CLI builds its flags from these dataclasses,
and one walker checks every value against them, so a notebook and a shell command fill and check the same
objects. The names a field chooses from (modes, optimisers, schedules, data sets) come from
``savae_lite.registry``; the named set-ups (``preset``, ``PRESETS``, ``derive``, ``original_svi``) live in
``savae_lite.presets`` (which imports this module, never the other way round).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from savae_lite.fields import check_fields, option
from savae_lite.registry import (
    DATA_SETS,
    LR_SCHEDULES,
    MODE_NAMES,
    MODEL_KINDS,
    MODEL_PRESETS,
    OMNIGLOT_SOURCES,
    ON_NAN,
    OPTIMIZERS,
    data_set_help,
)
from savae_lite.svi import SVIConfig

SEED_RANGE = (0, 2**32 - 1)  # the seeds torch and numpy both accept
VOCAB_SPECIALS = 4  # <pad>, <unk>, <s>, </s>: a vocabulary needs one word more


def _device_name(flag: str, v) -> None:
    if not isinstance(v, str) and type(v).__name__ != "device":
        raise ValueError(f"{flag}: expected a device name such as cpu or cuda, got {v!r}")


def _model_kind(flag: str, v) -> None:
    if v not in MODEL_KINDS:
        raise ValueError(f"model_kind: unknown {v!r}; choose {' or '.join(MODEL_KINDS)} (set by --preset)")


def _model_overrides(flag: str, v) -> None:
    if not isinstance(v, dict):
        raise ValueError(f"{flag}: expected KEY=VALUE overrides (a dict), got {v!r}")  # noqa: TRY004


@dataclass
class DataConfig:
    """Which data set, and how it is cut and batched."""

    name: str = option("ptb", "data set: " + data_set_help(), flag="data", choices=DATA_SETS, what="data set")
    data_dir: str | None = option(None, "data folder (default: $SAVAE_LITE_DATA or ~/.cache/savae-lite)")
    download: bool = option(False, "download missing data files from their public sources (checksums verified)")
    batch_size: int = option(32, "examples per batch", low=1)
    max_len: int | None = option(None, "text: drop sentences with more words than this", low=1)
    vocab_size: int | None = option(None, "text: keep the most frequent words (None: all)", low=VOCAB_SPECIALS + 1)
    max_sentences: int | None = option(None, "text: use only the first N sentences (documents) of each split", low=1)
    doc_words: int | None = option(None, "text: join consecutive sentences into documents of at most N tokens "
                                         "(each sentence ends with the word <eos>)", low=2)
    genre: str | None = option(None, "keep one genre (e.g. answers), for data sets with genres (ewt)")
    by_length: bool = option(True, "text: batch sentences of equal length (no padding), as the original code")
    omniglot_source: str = option("npz", "omniglot: npz (mirror), zip (canonical PNGs) or mat (Burda's chardata.mat)",
                                  choices=OMNIGLOT_SOURCES, what="Omniglot source")
    max_images: int | None = option(None, "images: use only the first N images of each split", low=1)


@dataclass
class TrainConfig:
    """How a model is trained and tested. ``training_only`` fields are not checked when a saved run is evaluated."""

    mode: str = option("savae", "training mode (one Mode record each: savae_lite.modes)", choices=MODE_NAMES,
                       what="training mode")
    epochs: int = option(30, "maximum number of epochs", low=1, training_only=True)
    optimizer: str = option("sgd", "sgd (text, the paper) or adam (images)", choices=OPTIMIZERS, training_only=True)
    lr: float = option(1.0, "learning rate of the model's optimiser", low=0, low_open=True, training_only=True)
    lr_schedule: str = option("original", "original: from decay_start_epoch, once an epoch fails to improve the "
                              "validation bound, decay lr after every epoch (train_text.py); plateau: decay only "
                              "after epochs without improvement", choices=LR_SCHEDULES, training_only=True)
    decay_start_epoch: int = option(15, "first epoch at which lr may decay (0: never decay)", low=0,
                                    training_only=True)
    lr_decay: float = option(0.5, "factor of each learning-rate decay", low=0, low_open=True, high=1,
                             training_only=True)
    min_lr: float = option(0.03, "stop training once lr falls below this", low=0, training_only=True)
    grad_clip: float = option(5.0, "global gradient-norm clip before each optimiser step (0: off)", low=0,
                              training_only=True)
    kl_start: float = option(0.1, "KL weight at step 0 (annealing); 1.0 disables annealing", low=0, high=1,
                             training_only=True)
    kl_warmup_epochs: float = option(9.0, "epochs over which the KL weight rises linearly from kl_start to 1 (9 with "
                                          "kl_start 0.1 is the original's --warmup 10: +1/(10 x batches) per batch)",
                                     low=0, training_only=True)
    aggressive_mi_every: int = option(3125, "aggressive: compare validation MI every N updates and stop the encoder "
                                            "catch-up the first time it falls (3125: He et al.'s Yahoo epoch; 0: at "
                                            "every epoch's end)", low=0, training_only=True)
    svi: SVIConfig = option(SVIConfig, "SVI used while training (and its HVPs)")
    test_svi_steps: int | None = option(None, "SVI steps K of test-time refinement (default: the training K)", low=0)
    iw_samples: int = option(500, "importance samples for the final IW-NLL (0: skip)", low=0, training_only=True)
    iw_max_examples: int | None = option(None, "compute the IW-NLL on N test examples spread evenly over the split",
                                         low=1, training_only=True)
    max_steps_per_epoch: int | None = option(None, "cut each epoch after this many batches (quick runs)", low=1,
                                             training_only=True)
    checkpoint_every: int = option(200, "also write the resumable checkpoint every N steps (0: once per epoch)",
                                   low=0, training_only=True)
    checkpoint_minutes: float = option(5.0, "also write the resumable checkpoint after this many minutes of training "
                                            "since the last one (0: off)", low=0, training_only=True)
    on_nan: str = option("stop", "on a non-finite loss or gradient: stop (clear error) or skip the batch",
                         choices=ON_NAN, training_only=True)
    seed: int = option(3435, "random seed (set_seed)", low=SEED_RANGE[0], high=SEED_RANGE[1])
    device: str = option("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps", check=_device_name)
    threads: int | None = option(None, "CPU intra-op threads (default: torch's, i.e. the physical cores or "
                                       "OMP_NUM_THREADS; idle threads spin briefly: GOMP_SPINCOUNT=1000 unless set)",
                                 low=1, training_only=True)
    out_dir: str = option("runs/default", "folder for checkpoints and results.json", training_only=True)
    progress: bool = option(True, "show a tqdm progress bar", training_only=True)


@dataclass
class RunConfig:
    """Everything that defines a run. ``model_kind`` selects the model family; ``model`` holds its sizes."""

    data: DataConfig = option(DataConfig, "the data set and its batches")
    train: TrainConfig = option(TrainConfig, "training, testing and the SVI")
    model_kind: str = option("text", "model family: text or image (set by the preset)", check=_model_kind)
    model: dict[str, Any] = option({}, "overrides of the model config preset (--model KEY=VALUE)", flag="model",
                                   check=_model_overrides)
    model_preset: str = option("small", "model sizes: paper, small (CPU) or tiny", choices=MODEL_PRESETS,
                               what="model preset")

    def to_dict(self) -> dict:
        """The config as nested plain dicts (what records and checkpoints store)."""
        return dataclasses.asdict(self)

    def validate(self, *, training: bool = True) -> None:
        """Check every field (``savae_lite.validation.validate``); raises ``ValueError`` naming the flag."""
        from savae_lite.validation import validate

        validate(self, training=training)

    def test_svi(self) -> SVIConfig:
        """The SVI of test-time refinement: the training SVI with K = ``train.test_svi_steps`` when set."""
        tc = self.train
        return tc.svi if tc.test_svi_steps is None else tc.svi.with_steps(tc.test_svi_steps)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """The inverse of :meth:`to_dict` (also reads older records). Unknown or misplaced fields raise
        ``ValueError`` naming them (e.g. ``train.bogus``), not a ``TypeError`` from a constructor."""
        d = _section(d, "config")
        train = _section(d.get("train", {}), "train")
        svi = _section(train.get("svi", {}), "train.svi")
        if "hvp" in train:  # records written before the HVP back-end moved into SVIConfig
            svi["hvp"] = train.pop("hvp")
        train.setdefault("aggressive_mi_every", 0)  # records written before it existed checked every epoch
        data = _section(d.get("data", {}), "data")
        unknown = ([f"{k}" for k in d if k not in {f.name for f in dataclasses.fields(cls)}]
                   + _unknown(data, DataConfig, "data.") + _unknown(train, TrainConfig, "train.")
                   + _unknown(svi, SVIConfig, "train.svi."))
        if unknown:
            raise ValueError(f"unknown config field(s) {', '.join(unknown)} (written by another version of "
                             "savae-lite?)")
        if not isinstance(d.get("model", {}), dict):
            got = d["model"]
            raise ValueError(f"config field model: expected a dict of model sizes, got {got!r}")  # noqa: TRY004
        train["svi"] = SVIConfig(**svi)
        return cls(data=DataConfig(**data), train=TrainConfig(**train),
                   model_kind=d.get("model_kind", "text"), model=dict(d.get("model", {})),
                   model_preset=d.get("model_preset", "small"))


@dataclass
class EvalConfig:
    """What ``savae-lite eval`` takes besides the checkpoint (the run's own config comes from the checkpoint)."""

    split: str = option("test", "which split (default test)", choices=("valid", "test"))
    test_svi_steps: int | None = option(None, "SVI steps K of test-time refinement (default: the run's test-time K)",
                                        low=0)
    iw_samples: int = option(0, "importance samples for IW-NLL (default 0: skip)", low=0)
    max_examples: int | None = option(None, "evaluate on N examples spread evenly over the split", low=1)
    seed: int | None = option(None, "random seed of the evaluation (default: the run's seed); same seed, same "
                                    "numbers", low=SEED_RANGE[0], high=SEED_RANGE[1])
    data_dir: str | None = option(None, "data folder (default $SAVAE_LITE_DATA or the cache)")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps", check=_device_name)
    out: str | None = option(None, "also write the metrics to this JSON file")

    def validate(self) -> None:
        """Check every field against its declaration; ``ValueError`` naming the flag."""
        check_fields(self)


def _section(d, where: str) -> dict:
    if not isinstance(d, dict):
        raise ValueError(f"config section {where}: expected a dict, got {type(d).__name__}")  # noqa: TRY004
    return dict(d)


def _unknown(d: dict, cls, prefix: str) -> list[str]:
    names = {f.name for f in dataclasses.fields(cls)}
    return [prefix + str(k) for k in d if k not in names]
