"""What determines a result: the key of a run's configuration, so that a finished unit of work is reused only for
the very set-up that produced it.

Chapter: *Introduction* (running long experiments).

A study (:mod:`savae_lite.study`) and the synthetic experiment keep every finished unit on disk and reuse it when
the same command runs again. A unit is reused only when its key matches: the SHA-256 of everything that decides
its numbers -- the config fields that differ from :class:`~savae_lite.config.RunConfig`'s defaults (so that adding a
field with a default later changes no existing key), the seed among them, plus any extra facts the caller names
(``quick``, an oracle's seed) -- and nothing that does not (device, folders, progress bars, threads, checkpoint
timing, downloading).
"""
from __future__ import annotations

import copy
import hashlib
import json

# dotted config fields that do not change a run's numbers
IGNORED = ("train.device", "train.out_dir", "train.progress", "train.threads", "train.checkpoint_every",
           "train.checkpoint_minutes", "data.data_dir", "data.download")

# fields that only the named modes read: for the other modes they decide nothing
MODE_FIELDS = {"train.aggressive_mi_every": ("aggressive",)}


def flatten(config: dict, prefix: str = "") -> dict:
    """``{"train": {"svi": {"steps": 5}}}`` -> ``{"train.svi.steps": 5}`` (lists and values kept as they are)."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and name != "model":
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def comparable(config: dict) -> dict:
    """A run config (``RunConfig.to_dict()``, or as read back from a record) as the flat dict of the fields that
    decide its result and differ from the defaults. A record written before a field existed compares equal to a
    config that leaves that field at its default."""
    from savae_lite.config import RunConfig

    full = RunConfig.from_dict(copy.deepcopy(config)).to_dict()  # fills fields a record predates
    defaults = flatten(RunConfig().to_dict())
    ignored = IGNORED + (() if full["train"]["mode"] in MODE_FIELDS.get("train.aggressive_mi_every", ())
                         else ("train.aggressive_mi_every",))
    return {k: v for k, v in sorted(flatten(full).items())
            if k not in ignored and (k not in defaults or defaults[k] != v)}


def config_key(config: dict, **extra) -> str:
    """A 12-hex-digit key of a run config and the ``extra`` facts (e.g. ``quick=True``): equal keys, equal
    set-ups."""
    return facts_key(config=comparable(config), **extra)


def facts_key(**facts) -> str:
    """A 12-hex-digit key of JSON-able ``facts`` (for set-ups that are not a RunConfig, e.g. the synthetic
    experiment's config with its oracle's seed)."""
    payload = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def changed_fields(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """``(name, value in a, value in b)`` for every field that decides a result and differs between configs ``a``
    and ``b`` (a field one of them predates counts at its default; the model's fields one by one)."""
    from savae_lite.config import RunConfig

    def fields(config: dict) -> dict:
        flat = comparable(config)
        model = flat.pop("model", None)
        return {**flat, **{f"model.{k}": v for k, v in (model or {}).items()}}

    fa, fb = fields(a), fields(b)
    defaults = flatten(RunConfig().to_dict())
    return [(k, fa.get(k, defaults.get(k)), fb.get(k, defaults.get(k)))
            for k in sorted(set(fa) | set(fb)) if fa.get(k, defaults.get(k)) != fb.get(k, defaults.get(k))]


def differences(a: dict, b: dict) -> list[str]:
    """The fields in which two configs differ, as ``name: a vs b`` (for the error that names both)."""
    return [f"{k}: {va!r} vs {vb!r}" for k, va, vb in changed_fields(a, b)]
