"""Small committed checkpoints for the book: use the checkpoint, else train.

Chapter: *Text VAEs and posterior collapse* (and the chapters after it). :func:`export` keeps a trained model's
weights in half precision with its config, vocabulary and a summary of its run record -- a few MB, loaded with
``weights_only=True``. :func:`load_or_train` gives a chapter its model: the committed file when it exists,
otherwise an ordinary :class:`~savae_lite.train.Trainer` run of the same config (resumable, as every run).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from savae_lite import checkpoint
from savae_lite.build import build_model
from savae_lite.config import RunConfig
from savae_lite.data.vocab import Vocab

RECORD_KEYS = ("run", "seed", "environment", "dataset", "parameters", "best_epoch", "test", "wall_time_s",
               "finished")


@dataclass
class Pretrained:
    """A model ready for the chapter (eval mode, float32), the config it was trained with, its vocabulary
    (text) and ``source``: ``'checkpoint <path>'`` or ``'trained in <out_dir>'``; ``record``: the run's summary."""

    model: torch.nn.Module
    config: RunConfig
    vocab: Vocab | None
    source: str
    record: dict


def export(run_dir: str | Path, out: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Write ``out`` from a finished run folder (its ``best.pt`` and ``results.json``): floating-point weights in
    ``dtype`` (half precision halves the size; the chapters' numbers come from the run's record, not from the
    rounded weights), the config, the vocabulary and the record's summary (``RECORD_KEYS``)."""
    import json

    run_dir = Path(run_dir)
    record = json.loads((run_dir / "results.json").read_text())
    if record.get("status") != "finished":
        raise ValueError(f"{run_dir}: the run has not finished (status {record.get('status')!r})")
    best = checkpoint.load(run_dir / "best.pt")
    weights = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in best["model"].items()}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_save({"model": weights, "config": best["config"], "vocab": best.get("vocab"),
                            "record": {k: record.get(k) for k in RECORD_KEYS}}, out)
    return out


def load(path: str | Path) -> Pretrained:
    """A model from a file written by :func:`export` (or a trainer's ``best.pt``), in float32 and eval mode."""
    ck = checkpoint.load(path)
    cfg = RunConfig.from_dict(ck["config"])
    vocab = Vocab.from_dict(ck["vocab"]) if ck.get("vocab") else None
    model = build_model(cfg, len(vocab) if vocab is not None else None)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()})
    return Pretrained(model.eval(), cfg, vocab, f"checkpoint {path}", ck.get("record", {}))


def load_or_train(cfg: RunConfig, path: str | Path | None = None) -> Pretrained:
    """The committed checkpoint ``path`` when it exists, else train ``cfg`` (into ``cfg.train.out_dir``; a re-run
    resumes) and load its best model."""
    if path is not None and Path(path).exists():
        return load(path)
    from savae_lite.train import Trainer

    trainer = Trainer(cfg)
    record = trainer.fit()
    best = Path(cfg.train.out_dir) / "best.pt"
    model = trainer.model
    if best.exists():
        model.load_state_dict(checkpoint.load(best)["model"])
    return Pretrained(model.eval(), cfg, trainer.splits.vocab, f"trained in {cfg.train.out_dir}",
                      {k: record.get(k) for k in RECORD_KEYS})
