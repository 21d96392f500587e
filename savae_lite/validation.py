"""Validation of a run's configuration, for the CLI, the notebooks and the Python API alike (the trainer calls it).

Chapter: *Introduction* (how to run things). Each field's type, range, choices and finiteness are declared with the
field itself (``savae_lite.config``, ``savae_lite.svi``) and checked by one walker (``savae_lite.fields``). What
is left here are the rules that tie fields together (the data set against the model family, ``--genre`` and
``--doc-words`` against the data set, kernel sizes against decoder layers), the ``--model KEY=VALUE`` overrides,
the model's size against the machine's memory, and the output folder. Every message starts with the CLI flag of
the offending field, and wrong types raise ``ValueError`` too: the CLI prints a ``ValueError`` as one line.

This module imports no config class, no trainer and no model at import time, so the config can call it.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from savae_lite.fields import Constraint, check_fields, check_value, is_int
from savae_lite.preflight import probe_writable
from savae_lite.registry import DATA_SETS, MODEL_SIZES


def _check_kernel_sizes(flag: str, v) -> None:
    if (not isinstance(v, (list, tuple)) or not v
            or not all(is_int(k) and k >= 1 and k % 2 == 1 for k in v)):
        raise ValueError(f"{flag}: must be a list of odd positive integers (one per decoder layer), got {v!r}")


# Constraints of the model configs' fields (TextModelConfig, ImageModelConfig), which declare only their types;
# a field that declares a "constraint" in its own metadata is checked against that instead.
MODEL_CONSTRAINTS = {
    **{name: Constraint(low=1) for name in MODEL_SIZES},
    "dropout": Constraint(low=0, high=1, high_open=True),
    "word_dropout": Constraint(low=0, high=1, high_open=True),
    "pad_idx": Constraint(low=0, high=0),  # the ids of <pad> and <unk> in every vocabulary
    "unk_idx": Constraint(low=1, high=1),  # (data.vocab.SPECIALS); batches are padded with 0
    "init_range": Constraint(low=0, low_open=True),
    "z_at": Constraint(choices=("input", "output")),
    "kernel_sizes": Constraint(check=_check_kernel_sizes),
}


def _model_config_class(kind: str):
    if kind == "text":
        from savae_lite.models.text import TextModelConfig

        return TextModelConfig
    from savae_lite.models.image import ImageModelConfig

    return ImageModelConfig


def validate_data(cfg) -> None:
    """The data fields that depend on the data set: ``--genre`` and ``--doc-words`` (the fields themselves are
    checked by the walker)."""
    dc = DATA_SETS[cfg.data.name]
    if cfg.data.doc_words is not None and dc.kind != "text":
        raise ValueError(f"--doc-words: joins sentences into documents; --data {dc.name} has none")
    if cfg.data.genre is not None and not dc.genres:
        with_genres = " or ".join(f"--data {d.name}" for d in DATA_SETS.values() if d.genres)
        raise ValueError(f"--genre: only applies to {with_genres}, not --data {dc.name}")


def validate_model(cfg) -> None:
    """Every ``--model KEY=VALUE`` override: a field of the model's config with a value of its type and range
    (sizes >= 1, probabilities in [0, 1), odd kernel sizes, ...), and as many kernel sizes as decoder layers."""
    cls = _model_config_class(cfg.model_kind)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    bad = sorted(str(k) for k in cfg.model if k not in fields)
    if bad:
        raise ValueError(f"--model: unknown field(s) {bad} for {cls.__name__}; valid: {sorted(fields)}")
    for name, value in cfg.model.items():
        f = fields[name]
        constraint = f.metadata.get("constraint") or MODEL_CONSTRAINTS.get(name, Constraint())
        check_value(f"--model {name}", value, f.type, constraint)
    if cfg.model_kind == "image":
        base = getattr(cls, cfg.model_preset)()
        layers = cfg.model.get("dec_layers", base.dec_layers)
        kernels = cfg.model.get("kernel_sizes", base.kernel_sizes)
        if len(kernels) != layers:
            which = "kernel_sizes" if "kernel_sizes" in cfg.model else "dec_layers"
            raise ValueError(f"--model {which}: {layers} decoder layers need {layers} kernel sizes, got "
                             f"{len(kernels)} ({list(kernels)}); set --model dec_layers=N and "
                             "--model kernel_sizes=[...] together")


def validate(cfg, *, training: bool = True) -> None:
    """Check every field of a run's config (a :class:`~savae_lite.config.RunConfig`) once, before anything is
    built or trained.

    Raises ``ValueError`` whose message starts with the CLI flag of the offending field (``--kl-start: must be
    finite and in [0, 1], got nan``): every field against its declaration (``fields.check_fields``), the rules
    between fields, the model's overrides against the model config's fields, the data set against the model
    family, and the model's size against the machine's memory (:func:`savae_lite.preflight.check_model_fits`).
    ``training=False``: only what evaluating a saved model uses (fields declared ``training_only`` are skipped).
    Filesystem checks are separate: :func:`check_out_dir`.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise ValueError(f"config: expected a RunConfig, got {type(cfg).__name__}")  # noqa: TRY004
    check_fields(cfg, training=training)
    validate_data(cfg)
    validate_model(cfg)
    from savae_lite.preflight import check_model_fits  # noqa: PLC0415 (it imports the models)
    check_model_fits(cfg, training=training)  # e.g. --model dec_hidden=1000000, refused before any allocation
    kind = DATA_SETS[cfg.data.name].kind
    if kind == "image" and cfg.model_kind != "image":
        raise ValueError(f"--data {cfg.data.name} needs an image model (e.g. --preset omniglot-small)")
    if kind != "image" and cfg.model_kind == "image":
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
    probe_writable(out, f"--out-dir: the folder {out} is not writable")
    return out
