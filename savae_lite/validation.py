"""Validation of a run's configuration: every field checked once (type, range, finiteness), with messages that
start with the CLI flag of the field, for the CLI, the notebooks and the Python API alike (the trainer calls it).

Chapter: *Introduction* (how to run things). Wrong types raise ``ValueError`` too (not ``TypeError``, hence the
TRY004 exemptions): the CLI turns a ``ValueError`` into a one-line error.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import tempfile
from pathlib import Path

from savae_lite.config import DataConfig, RunConfig, TrainConfig
from savae_lite.loop import ON_NAN, OPTIMIZERS
from savae_lite.modes import MODES
from savae_lite.schedule import LR_POLICIES
from savae_lite.svi import HVP_BACKENDS, SVIConfig

# Every field is checked here, once, for the CLI, the notebooks and the Python API alike (Trainer calls it).
# Messages start with the CLI flag of the field, which the CLI generates from these names. Wrong types raise
# ValueError too (not TypeError, hence the TRY004 exemptions): the CLI turns ValueError into a one-line error.
DATA_FLAGS = {"name": "data"}  # DataConfig fields whose flag is not --field-name
SVI_FLAGS = {"steps": "train-svi-steps", "hvp": "hvp"}  # SVIConfig flags: --svi-field-name unless listed
DATA_SETS = ("ptb", "yahoo", "ewt", "omniglot")
OMNIGLOT_SOURCES = ("npz", "zip", "mat")
MODEL_KINDS = ("text", "image")
MODEL_PRESETS = ("paper", "small", "tiny")
SEED_RANGE = (0, 2**32 - 1)
_VOCAB_SPECIALS = 4  # <pad>, <unk>, <s>, </s>


def flag_of(section: str, name: str) -> str:
    """The CLI flag of a config field: ``flag_of('train', 'kl_start')`` is ``--kl-start``."""
    if section == "data" and name in DATA_FLAGS:
        return "--" + DATA_FLAGS[name]
    if section == "svi":
        return "--" + SVI_FLAGS.get(name, "svi-" + name.replace("_", "-"))
    return "--" + name.replace("_", "-")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_int(flag: str, v, lo: int | None = None, hi: int | None = None, *, optional: bool = False) -> None:
    """``v`` is an integer (``None`` too when ``optional``) in [lo, hi]; else ``ValueError`` naming ``flag``."""
    if v is None and optional:
        return
    if not _is_int(v):
        raise ValueError(f"{flag}: must be an integer{' or None' if optional else ''}, got {v!r}")
    if hi is not None and lo is not None and not lo <= v <= hi:
        raise ValueError(f"{flag}: must be {lo if lo == hi else f'in [{lo}, {hi}]'}, got {v}")
    if lo is not None and v < lo:
        raise ValueError(f"{flag}: must be >= {lo}{' (or None)' if optional else ''}, got {v}")


def check_real(flag: str, v, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
               hi_open: bool = False, optional: bool = False) -> None:
    """``v`` is a finite number (``None`` too when ``optional``) in the interval given by lo, hi and whether
    each end is open; else ``ValueError`` naming ``flag``, e.g. ``--kl-start: must be finite and in [0, 1]``."""
    if v is None and optional:
        return
    if not _is_real(v):
        raise ValueError(f"{flag}: must be a number{' or None' if optional else ''}, got {v!r}")
    x = float(v)
    inside = (math.isfinite(x) and (lo is None or (x > lo if lo_open else x >= lo))
              and (hi is None or (x < hi if hi_open else x <= hi)))
    if inside:
        return
    if lo is not None and hi is not None:
        where = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        where = f"{'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        where = f"{'<' if hi_open else '<='} {hi:g}"
    else:
        where = "a real number"
    raise ValueError(f"{flag}: must be finite and {where}, got {v!r}")


def check_choice(flag: str, v, choices, what: str = "") -> None:
    """``v`` is one of ``choices``; the message names ``flag`` (and says what ``v`` is, when ``what``)."""
    if isinstance(v, str) and v in choices:
        return
    if what:
        raise ValueError(f"{flag}: unknown {what} {v!r}; choose one of {', '.join(choices)}")
    raise ValueError(f"{flag}: {v!r} is not one of {', '.join(choices)}")


def _check_bool(flag: str, v) -> None:
    if not isinstance(v, bool):
        raise ValueError(f"{flag}: must be true or false ({flag} / --no-{flag[2:]}), got {v!r}")  # noqa: TRY004


def _check_text(flag: str, v, *, optional: bool = False) -> None:
    if v is None and optional:
        return
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        raise ValueError(f"{flag}: must be a non-empty string{' or None' if optional else ''}, got {v!r}")


def validate_data(dc: DataConfig) -> None:
    f = functools.partial(flag_of, "data")
    check_choice(f("name"), dc.name, DATA_SETS, "data set")
    _check_text(f("data_dir"), dc.data_dir, optional=True)
    _check_bool(f("download"), dc.download)
    check_int(f("batch_size"), dc.batch_size, 1)
    check_int(f("max_len"), dc.max_len, 1, optional=True)
    check_int(f("vocab_size"), dc.vocab_size, _VOCAB_SPECIALS + 1, optional=True)
    check_int(f("max_sentences"), dc.max_sentences, 1, optional=True)
    check_int(f("doc_words"), dc.doc_words, 2, optional=True)
    if dc.doc_words is not None and dc.name == "omniglot":
        raise ValueError(f"{f('doc_words')}: joins sentences into documents; --data omniglot has none")
    _check_text(f("genre"), dc.genre, optional=True)
    if dc.genre is not None and dc.name != "ewt":
        raise ValueError(f"{f('genre')}: only applies to --data ewt, not --data {dc.name}")
    _check_bool(f("by_length"), dc.by_length)
    check_choice(f("omniglot_source"), dc.omniglot_source, OMNIGLOT_SOURCES, "Omniglot source")
    check_int(f("max_images"), dc.max_images, 1, optional=True)


def validate_svi(svi: SVIConfig) -> None:

    f = functools.partial(flag_of, "svi")
    if svi.hvp not in HVP_BACKENDS:  # the message the trainer always gave
        raise ValueError(f"--hvp: unknown back-end {svi.hvp!r}; choose one of {', '.join(HVP_BACKENDS)}")
    check_int(f("steps"), svi.steps, 0)
    check_real(f("lr_mu"), svi.lr_mu, 0)  # 0 is allowed: that half of lambda stays at lambda_0
    check_real(f("lr_logvar"), svi.lr_logvar, 0)
    check_real(f("momentum"), svi.momentum, 0, 1, hi_open=True)
    check_real(f("clip"), svi.clip, 0, lo_open=True, optional=True)


def validate_train(tc: TrainConfig, *, training: bool = True) -> None:
    """TrainConfig and its SVIConfig. ``training=False`` checks only what evaluating a checkpoint uses (mode,
    SVI, test-time K, seed, device): a saved run stays evaluable whatever its training-only settings were."""

    if tc.mode not in MODES:
        raise ValueError(f"--mode: unknown training mode {tc.mode!r}; choose one of {', '.join(MODES)}")
    if not isinstance(tc.svi, SVIConfig):
        raise ValueError(f"train.svi: expected an SVIConfig, got {type(tc.svi).__name__}")  # noqa: TRY004
    validate_svi(tc.svi)
    check_int("--test-svi-steps", tc.test_svi_steps, 0, optional=True)
    check_int("--seed", tc.seed, *SEED_RANGE)
    if not isinstance(tc.device, str) and type(tc.device).__name__ != "device":
        raise ValueError(f"--device: expected a device name such as cpu or cuda, got {tc.device!r}")
    if not training:
        return
    f = functools.partial(flag_of, "train")
    # the choices with the messages they always had
    check_choice(f("optimizer"), tc.optimizer, tuple(OPTIMIZERS))
    check_choice(f("on_nan"), tc.on_nan, ON_NAN)
    check_choice(f("lr_schedule"), tc.lr_schedule, LR_POLICIES)
    check_int(f("epochs"), tc.epochs, 1)
    check_int(f("aggressive_mi_every"), tc.aggressive_mi_every, 0)
    check_real(f("lr"), tc.lr, 0, lo_open=True)
    check_int(f("decay_start_epoch"), tc.decay_start_epoch, 0)
    check_real(f("lr_decay"), tc.lr_decay, 0, 1, lo_open=True)
    check_real(f("min_lr"), tc.min_lr, 0)
    check_real(f("grad_clip"), tc.grad_clip, 0)
    check_real(f("kl_start"), tc.kl_start, 0, 1)
    check_real(f("kl_warmup_epochs"), tc.kl_warmup_epochs, 0)
    check_int(f("iw_samples"), tc.iw_samples, 0)
    check_int(f("iw_max_examples"), tc.iw_max_examples, 1, optional=True)
    check_int(f("max_steps_per_epoch"), tc.max_steps_per_epoch, 1, optional=True)
    check_int(f("checkpoint_every"), tc.checkpoint_every, 0)
    check_real(f("checkpoint_minutes"), tc.checkpoint_minutes, 0)
    _check_text(f("out_dir"), tc.out_dir)
    _check_bool(f("progress"), tc.progress)
    check_int(f("threads"), tc.threads, 1, optional=True)


def _model_config_class(kind: str):
    if kind == "text":
        from savae_lite.models.text import TextModelConfig

        return TextModelConfig
    from savae_lite.models.image import ImageModelConfig

    return ImageModelConfig


def _check_kernel_sizes(flag: str, v) -> None:
    if (not isinstance(v, (list, tuple)) or not v
            or not all(_is_int(k) and k >= 1 and k % 2 == 1 for k in v)):
        raise ValueError(f"{flag}: must be a list of odd positive integers (one per decoder layer), got {v!r}")


_POSITIVE = ("vocab_size", "emb_dim", "enc_hidden", "dec_hidden", "latent_dim", "enc_channels", "dec_layers",
             "dec_channels", "cond_maps", "image_size")
_MODEL_RULES = {
    **{name: (lambda flag, v: check_int(flag, v, 1)) for name in _POSITIVE},
    "dropout": lambda flag, v: check_real(flag, v, 0, 1, hi_open=True),
    "word_dropout": lambda flag, v: check_real(flag, v, 0, 1, hi_open=True),
    "pad_idx": lambda flag, v: check_int(flag, v, 0, 0),  # the ids of <pad> and <unk> in every vocabulary
    "unk_idx": lambda flag, v: check_int(flag, v, 1, 1),  # (data.vocab.SPECIALS); batches are padded with 0
    "init_range": lambda flag, v: check_real(flag, v, 0, lo_open=True, optional=True),
    "z_at": lambda flag, v: check_choice(flag, v, ("input", "output")),
    "kernel_sizes": _check_kernel_sizes,
}


def _check_by_annotation(flag: str, v, annotation) -> None:
    """Fields without a rule in ``_MODEL_RULES``: at least the type their annotation names."""
    text = str(annotation)
    optional = "None" in text
    base = text.replace("| None", "").strip()
    if base == "int":
        check_int(flag, v, optional=optional)
    elif base == "float":
        check_real(flag, v, optional=optional)
    elif base == "bool" and not isinstance(v, bool):
        raise ValueError(f"{flag}: must be true or false, got {v!r}")
    elif base == "str" and not (isinstance(v, str) or (optional and v is None)):
        raise ValueError(f"{flag}: must be a string, got {v!r}")


def validate_model(cfg: RunConfig) -> None:
    """``model_kind``, ``model_preset`` and every ``--model KEY=VALUE`` override: a field of the model's config
    with a value of its type and range (sizes >= 1, probabilities in [0, 1), odd kernel sizes, ...)."""
    if cfg.model_kind not in MODEL_KINDS:
        raise ValueError(f"model_kind: unknown {cfg.model_kind!r}; choose text or image (set by --preset)")
    check_choice("--model-preset", cfg.model_preset, MODEL_PRESETS, "model preset")
    if not isinstance(cfg.model, dict):
        raise ValueError(f"--model: expected KEY=VALUE overrides (a dict), got {cfg.model!r}")  # noqa: TRY004
    cls = _model_config_class(cfg.model_kind)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    bad = sorted(str(k) for k in cfg.model if k not in fields)
    if bad:
        raise ValueError(f"--model: unknown field(s) {bad} for {cls.__name__}; valid: {sorted(fields)}")
    for name, value in cfg.model.items():
        flag = f"--model {name}"
        rule = _MODEL_RULES.get(name)
        if rule is not None:
            rule(flag, value)
        else:
            _check_by_annotation(flag, value, fields[name].type)
    if cfg.model_kind == "image":
        base = getattr(cls, cfg.model_preset)()
        layers = cfg.model.get("dec_layers", base.dec_layers)
        kernels = cfg.model.get("kernel_sizes", base.kernel_sizes)
        if len(kernels) != layers:
            which = "kernel_sizes" if "kernel_sizes" in cfg.model else "dec_layers"
            raise ValueError(f"--model {which}: {layers} decoder layers need {layers} kernel sizes, got "
                             f"{len(kernels)} ({list(kernels)}); set --model dec_layers=N and "
                             "--model kernel_sizes=[...] together")


def validate(cfg: RunConfig, *, training: bool = True) -> None:
    """Check every field of a run's config once, before anything is built or trained.

    Raises ``ValueError`` whose message starts with the CLI flag of the offending field (``--kl-start: must be
    finite and in [0, 1], got nan``). Types, ranges and finiteness of DataConfig, TrainConfig and SVIConfig, the
    model's overrides against the model config's fields, the data set against the model family, and the model's
    size against the machine's memory (:func:`savae_lite.preflight.check_model_fits`).
    ``training=False``: only what evaluating a saved model uses (see :func:`validate_train`).
    Filesystem checks are separate: :func:`check_out_dir`.
    """
    if not isinstance(cfg.data, DataConfig) or not isinstance(cfg.train, TrainConfig):
        raise ValueError("config: data and train must be a DataConfig and a TrainConfig")  # noqa: TRY004
    validate_train(cfg.train, training=training)
    validate_data(cfg.data)
    validate_model(cfg)
    from savae_lite.preflight import check_model_fits  # noqa: PLC0415 (it imports the models)
    check_model_fits(cfg, training=training)  # e.g. --model dec_hidden=1000000, refused before any allocation
    if cfg.data.name == "omniglot" and cfg.model_kind != "image":
        raise ValueError("--data omniglot needs an image model (e.g. --preset omniglot-small)")
    if cfg.data.name != "omniglot" and cfg.model_kind == "image":
        raise ValueError(f"--data {cfg.data.name} is text but the model is an image model (model_kind 'image'); "
                         "use a text preset such as --preset ptb-small")


def check_out_dir(path: str | os.PathLike) -> Path:
    """Make sure a run can write into ``path`` before any data is loaded or any step is trained: the folder is
    created when missing, and a probe file is created in it and deleted. ``ValueError`` naming ``--out-dir``
    when it is an existing file, cannot be created or is not writable. Returns the folder."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out-dir: {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out-dir: cannot create the folder {out} ({err.strerror or err})") from None
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".savae-lite-write-probe-")
    except OSError as err:
        raise ValueError(f"--out-dir: the folder {out} is not writable ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)
    return out
