"""Config fields that carry their own help text and constraints, and the one walker that checks them.

Chapter: *Introduction* (how to run things). A field is declared once, with everything known about it::

    kl_start: float = option(0.1, "KL weight at step 0 (annealing)", low=0, high=1)

The type comes from the annotation (``int``, ``float``, ``bool``, ``str``; ``| None`` makes ``None`` valid), the
range (``low``, ``high``, each end closed unless ``low_open`` / ``high_open``), the ``choices`` and ``finite``
(floats: on unless ``finite=False``) from the metadata. :func:`check_fields` walks a dataclass (and the
dataclasses inside it) and raises ``ValueError`` on the first bad value, with a one-line message that starts
with the field's CLI flag: ``--kl-start: must be finite and in [0, 1], got nan``. Wrong types raise
``ValueError`` too (not ``TypeError``): the command line prints a ``ValueError`` as one line.
The command line builds its flags, their help and their choices from the same metadata.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Constraint:
    """What a field's value must be besides its annotated type (see the module docstring)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    finite: bool = True
    choices: Sequence[str] | None = None
    what: str = ""  # names a choice in the message: "unknown data set 'x'; choose one of ..."
    check: Callable[[str, Any], None] | None = None  # a rule of its own: check(flag, value) raises ValueError


def option(default, help: str, *, flag: str | None = None, training_only: bool = False, **constraint):
    """A dataclass field with a ``help`` text (the CLI's ``--help`` shows it) and its :class:`Constraint`.

    ``flag``: the CLI flag without ``--`` when it is not the field's name with dashes. ``training_only``: only
    training reads it, so a saved run is evaluated whatever its value (``check_fields(..., training=False)``).
    Other keywords (``low``, ``high``, ``choices``, ...) are the fields of :class:`Constraint`.
    """
    meta = {"help": help, "constraint": Constraint(**constraint), "flag": flag, "training_only": training_only}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    if dataclasses.is_dataclass(default) and isinstance(default, type):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


def flag_of(f: dataclasses.Field) -> str:
    """The CLI flag of a field: its ``flag`` metadata, else its name with dashes (``kl_start``: ``--kl-start``)."""
    return "--" + (f.metadata.get("flag") or f.name.replace("_", "-"))


def is_int(v) -> bool:
    """``v`` is an integer and not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def check_int(flag: str, v, lo: float | None = None, hi: float | None = None, *, optional: bool = False) -> None:
    """``v`` is an integer (``None`` too when ``optional``) in [lo, hi]; else ``ValueError`` naming ``flag``."""
    if v is None and optional:
        return
    if not is_int(v):
        raise ValueError(f"{flag}: must be an integer{' or None' if optional else ''}, got {v!r}")
    if hi is not None and lo is not None and not lo <= v <= hi:
        raise ValueError(f"{flag}: must be {lo if lo == hi else f'in [{lo}, {hi}]'}, got {v}")
    if lo is not None and v < lo:
        raise ValueError(f"{flag}: must be >= {lo}{' (or None)' if optional else ''}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{flag}: must be <= {hi}{' (or None)' if optional else ''}, got {v}")


def check_real(flag: str, v, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
               hi_open: bool = False, optional: bool = False, finite: bool = True) -> None:
    """``v`` is a number (finite unless ``finite=False``; ``None`` too when ``optional``) in the interval given
    by lo, hi and whether each end is open; else ``ValueError`` naming ``flag``, e.g.
    ``--kl-start: must be finite and in [0, 1], got nan``."""
    if v is None and optional:
        return
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ValueError(f"{flag}: must be a number{' or None' if optional else ''}, got {v!r}")
    x = float(v)
    inside = ((math.isfinite(x) or (not finite and not math.isnan(x)))
              and (lo is None or (x > lo if lo_open else x >= lo))
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
    raise ValueError(f"{flag}: must be {'finite and ' if finite else ''}{where}, got {v!r}")


def check_choice(flag: str, v, choices: Sequence[str], what: str = "") -> None:
    """``v`` is one of ``choices``; the message names ``flag`` (and says what ``v`` is, when ``what``)."""
    if isinstance(v, str) and v in choices:
        return
    if what:
        raise ValueError(f"{flag}: unknown {what} {v!r}; choose one of {', '.join(choices)}")
    raise ValueError(f"{flag}: {v!r} is not one of {', '.join(choices)}")


def check_bool(flag: str, v) -> None:
    """``v`` is ``True`` or ``False`` (not 1, not ``"yes"``)."""
    if not isinstance(v, bool):
        hint = f" ({flag} / --no-{flag[2:]})" if " " not in flag else ""
        raise ValueError(f"{flag}: must be true or false{hint}, got {v!r}")  # noqa: TRY004


def check_text(flag: str, v, *, optional: bool = False) -> None:
    """``v`` is a non-empty string or path (``None`` too when ``optional``)."""
    if v is None and optional:
        return
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        raise ValueError(f"{flag}: must be a non-empty string{' or None' if optional else ''}, got {v!r}")


def base_type(annotation) -> tuple[str, bool]:
    """``'int | None'`` -> ``('int', True)``: the annotated type's name and whether ``None`` is allowed."""
    text = str(annotation)
    return text.replace("| None", "").strip(), "None" in text


def check_value(flag: str, v, annotation, c: Constraint) -> None:
    """One value against its annotated type and its :class:`Constraint`; ``ValueError`` naming ``flag``."""
    base, optional = base_type(annotation)
    if v is None and optional:
        return
    if c.check is not None:
        c.check(flag, v)
    elif c.choices is not None:
        check_choice(flag, v, c.choices, c.what)
    elif base == "int":
        check_int(flag, v, c.low, c.high, optional=optional)
    elif base == "float":
        check_real(flag, v, c.low, c.high, lo_open=c.low_open, hi_open=c.high_open, optional=optional,
                   finite=c.finite)
    elif base == "bool":
        check_bool(flag, v)
    elif base == "str":
        check_text(flag, v, optional=optional)


def check_fields(obj, *, training: bool = True, where: str = "") -> None:
    """Check every field of the dataclass ``obj`` against its declaration, in declaration order; a field whose
    type is a dataclass is checked field by field in turn. ``training=False`` skips ``training_only`` fields.
    Raises ``ValueError`` on the first bad value (its message starts with the field's flag)."""
    for f in dataclasses.fields(obj):
        if f.metadata.get("training_only") and not training:
            continue
        value = getattr(obj, f.name)
        nested = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if isinstance(nested, type) and dataclasses.is_dataclass(nested):
            if not isinstance(value, nested):
                raise ValueError(f"{where}{f.name}: expected {nested.__name__}, got {type(value).__name__}")
            check_fields(value, training=training, where=f"{where}{f.name}.")
            continue
        check_value(flag_of(f), value, f.type, f.metadata.get("constraint", Constraint()))
