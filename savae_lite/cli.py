"""The ``savae-lite`` command line: ``train``, ``eval``, ``bench`` and ``experiment``.

Flags are generated from the dataclasses in :mod:`savae_lite.config`, so ``--help`` documents every option with
the same text a notebook reader sees in the config's source. Only the flags you give override the preset.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from savae_lite.cli_errors import interrupted, is_memory_error, memory_message, os_error_message
from savae_lite.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from savae_lite.fields import check_int, flag_of
from savae_lite.preflight import RUN_FILES, check_out_file
from savae_lite.presets import PRESETS, preset
from savae_lite.registry import MODEL_PRESETS
from savae_lite.svi import SVIConfig


def _parse_type(annotation: str):
    base = annotation.replace(" | None", "").strip()
    conv = {"int": int, "float": float, "str": str}.get(base)
    if conv is None:
        return None
    if "None" in annotation:
        return lambda s: None if s.lower() == "none" else conv(s)
    return conv


def _add_dataclass_flags(group, cls) -> None:
    """One flag per field of ``cls``: its name, help text and the choices shown come from the field's declaration
    (``savae_lite.fields.option``); the value is checked later by the same walker as in Python, so a bad value gets
    the same one-line message either way. Fields that are dataclasses themselves (``svi``) get their own group."""
    for f in dataclasses.fields(cls):
        if isinstance(f.default_factory, type) and dataclasses.is_dataclass(f.default_factory):
            continue
        dest = f"{cls.__name__}.{f.name}"
        help_ = f.metadata.get("help", "")
        if f.type in ("bool", bool):
            group.add_argument(flag_of(f), dest=dest, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_)
            continue
        choices = f.metadata["constraint"].choices if "constraint" in f.metadata else None
        metavar = "{" + ",".join(choices) + "}" if choices is not None else f.name.upper()
        group.add_argument(flag_of(f), dest=dest, type=_parse_type(str(f.type)), default=argparse.SUPPRESS,
                           metavar=metavar, help=help_)


def _given(args: argparse.Namespace, cls) -> dict:
    """The fields of ``cls`` given on the command line, by name."""
    prefix = cls.__name__ + "."
    return {key[len(prefix):]: value for key, value in vars(args).items() if key.startswith(prefix)}


def _model_override(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--model expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    """The ``savae-lite`` parser with its sub-commands (``train`` and ``eval`` flags come from the configs)."""
    p = argparse.ArgumentParser(prog="savae-lite", description="Semi-Amortized VAEs (Kim et al., ICML 2018): "
                                "train, evaluate and benchmark.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (writes OUT_DIR/results.json, last.pt, best.pt)",
                       description="Train a model. Start from a --preset (its values are the defaults; see "
                                   "savae_lite/presets.py); every other flag overrides one field. A run resumes "
                                   "from OUT_DIR/last.pt when it exists. Several processes or GPUs: start the same "
                                   "command with torchrun --nproc_per_node N (--batch-size stays the global "
                                   "batch; see the README).")
    t.add_argument("--preset", default="ptb-small", choices=sorted(PRESETS),
                   help="starting configuration (default ptb-small: SA-VAE on the embedded PTB, CPU-sized; "
                        "see savae_lite/presets.py)")
    t.add_argument("--quick", action="store_true", help="a tiny run (seconds): the preset's -quick variant")
    t.add_argument("--model", dest="model_overrides", type=_model_override, action="append", default=[],
                   metavar="KEY=VALUE", help="override a model size, e.g. --model dec_hidden=512 (repeatable)")
    t.add_argument("--model-preset", choices=MODEL_PRESETS, default=argparse.SUPPRESS,
                   help=RunConfig.__dataclass_fields__["model_preset"].metadata["help"])
    t.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in OUT_DIR")
    sections = RunConfig.__dataclass_fields__
    _add_dataclass_flags(t.add_argument_group("data", sections["data"].metadata["help"]), DataConfig)
    _add_dataclass_flags(t.add_argument_group("training", sections["train"].metadata["help"]), TrainConfig)
    _add_dataclass_flags(t.add_argument_group("SVI", TrainConfig.__dataclass_fields__["svi"].metadata["help"]),
                         SVIConfig)

    e = sub.add_parser("eval", help="evaluate a checkpoint (best.pt or last.pt) on a split",
                       description="Evaluate a saved model with and without test-time SVI refinement.")
    e.add_argument("checkpoint", help="path to best.pt / last.pt written by `savae-lite train`")
    _add_dataclass_flags(e, EvalConfig)

    b = sub.add_parser("bench", help="performance benchmark (ratios measured side by side)",
                       description="Benchmark SA-VAE steps against the floor of 2K+1 gradient evaluations.")
    b.add_argument("--quick", action="store_true", help="reduced sizes (a few minutes on 2 CPU cores; the book's)")
    b.add_argument("--tiny", action="store_true", help="smallest possible run (seconds; a smoke test for CI)")
    b.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    b.add_argument("--threads", type=int, default=None,
                   help="intra-op threads (default on CPU: 1, timed on the process's CPU time; more: wall time; "
                        "the sharing part sets its own)")
    b.add_argument("--out", default=None, help="write the measurements to this JSON file")
    b.add_argument("--only", action="append", default=None, metavar="PART",
                   help="run only this part (repeatable): savae_step, loop_vs_bare, iw_nll or sharing (training "
                        "steps/s alone and next to a busy process, per CPU thread policy); mode_steps (seconds per "
                        "training step of every mode at a --recipe's size) runs only when named here")
    b.add_argument("--recipe", default=None, metavar="NAME",
                   help="mode_steps: the training preset to time, one of " + ", ".join(sorted(PRESETS))
                        + " (default omniglot-paper, the paper's 12-layer gated PixelCNN; with --tiny "
                          "omniglot-study-quick)")

    x = sub.add_parser("experiment", help="run a book experiment that writes a results file",
                       description="Run one of the book's experiments (e.g. synthetic: the Table-1-style study).")
    x.add_argument("name", help="original-backward (chapter 3), synthetic (4), collapse, collapse-sweeps and "
                        "documents (5: text), latent-use (6: images) or saliency (7)")
    x.add_argument("--quick", action="store_true", help="tiny version (seconds)")
    x.add_argument("--only", default=None, metavar="UNITS",
                   help="studies: train only these units (comma-separated, e.g. savae-s2,savae-s3); the others are "
                        "collected when finished elsewhere")
    x.add_argument("--partial", action="store_true",
                   help="studies: train nothing; write the record of the units finished so far")
    x.add_argument("--status", action="store_true", help="studies: train and write nothing; print each unit's "
                   "state (finished, in the record, training, stopped, not started)")
    x.add_argument("--out", default=None, help="results JSON path (default runs/NAME.json, runs/NAME-quick.json)")
    x.add_argument("--seed", type=int, default=3435, help="random seed")
    x.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    x.add_argument("--threads", type=int, default=1, metavar="N",
                   help="studies on CPU: intra-op threads per unit (default 1: two workers share two cores)")

    o = sub.add_parser("export", help="a finished run as a small checkpoint for the book (half precision)",
                       description="Write a finished run folder's best model in half precision with its config, "
                                   "vocabulary and record summary (pretrained.export): the files the chapters "
                                   "load in full mode (book/checkpoints/).")
    o.add_argument("run_dir", help="a finished run folder (its best.pt and results.json)")
    o.add_argument("out", help="the checkpoint file to write, e.g. book/checkpoints/collapse-savae-s1.pt")
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run of ``savae-lite train``: the preset (its ``-quick`` variant with ``--quick``), then every flag
    given on the command line; checked later, by the trainer (``savae_lite.validation.validate``)."""
    name = args.preset
    if args.quick:
        name = name.split("-")[0] + "-quick"
        if name not in PRESETS:
            raise ValueError(f"--quick: no quick variant for preset {args.preset!r}")
    cfg = preset(name)
    for section, cls in ((cfg.data, DataConfig), (cfg.train, TrainConfig), (cfg.train.svi, SVIConfig)):
        for field, value in _given(args, cls).items():
            setattr(section, field, value)
    given = vars(args)
    if "model_preset" in given:
        cfg.model_preset = given["model_preset"]
    for k, v in args.model_overrides:
        cfg.model[k] = v
    return cfg


def _cmd_train(args) -> int:
    from savae_lite import distributed
    from savae_lite.train import Trainer

    cfg = config_from_args(args)  # Trainer validates it before it builds anything
    group = distributed.setup(cfg.train.device)  # under torchrun: join the process group (None: one process)
    try:
        # a worker group restarted by torchrun (--max-restarts) always resumes from the last checkpoint
        resume = not args.no_resume or distributed.restart_count() > 0
        trainer = Trainer(cfg) if group is None else Trainer(cfg, dist=group)
        record = trainer.fit(resume=resume)
    finally:
        distributed.teardown(group)
    if group is None or group.is_main:
        print(json.dumps({"results": str(Path(cfg.train.out_dir) / "results.json"), "test": record["test"]},
                         indent=1))
    return 0


def _cmd_eval(args) -> int:
    from savae_lite import checkpoint
    from savae_lite.build import build_data, build_model
    from savae_lite.evaluate import spread_subset, test_report
    from savae_lite.runtime import pick_device, set_seed

    ev = EvalConfig(**_given(args, EvalConfig))
    ev.validate()  # every field against its declaration, with its flag in the message
    if ev.out is not None:  # before the evaluation, not after it
        check_out_file("--out", ev.out, protect=[args.checkpoint])
    ck = checkpoint.load(args.checkpoint)
    if not isinstance(ck, dict) or "config" not in ck or "model" not in ck:
        missing = "model and config" if not isinstance(ck, dict) else " and ".join(
            k for k in ("model", "config") if k not in ck)
        raise ValueError(f"checkpoint {args.checkpoint} has no {missing}: not a checkpoint written by "
                         "`savae-lite train` (best.pt or last.pt)")
    try:
        cfg = RunConfig.from_dict(ck["config"])
        cfg.validate(training=False)
    except (ValueError, TypeError) as err:
        raise ValueError(f"checkpoint {args.checkpoint}: its config cannot be used: {err}") from None
    if ev.data_dir:
        cfg.data.data_dir = ev.data_dir
    if ev.test_svi_steps is not None:
        cfg.train.test_svi_steps = ev.test_svi_steps
    seed = cfg.train.seed if ev.seed is None else ev.seed
    device = pick_device(ev.device)
    splits = build_data(cfg)
    model = build_model(cfg, len(splits.vocab) if splits.vocab is not None else None)
    try:
        model.load_state_dict(ck["model"])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ValueError(f"{args.checkpoint}: weights do not fit the model its config describes: {err}") from None
    model.to(device)
    batches = splits.valid if ev.split == "valid" else splits.test
    if ev.max_examples is not None:
        batches = spread_subset(batches, ev.max_examples)
    set_seed(seed)  # test-time SVI and the IW-NLL sample z: the same seed gives the same numbers
    out = {"checkpoint": str(args.checkpoint), "split": ev.split, "seed": seed, "max_examples": ev.max_examples,
           **test_report(model, batches, cfg.train.mode, cfg.test_svi(), iw_samples=ev.iw_samples,
                         device=device, part_of_split=ev.max_examples is not None)}
    print(json.dumps(out, indent=1))
    if ev.out:
        from savae_lite.results import environment, write_json

        write_json({**out, "environment": environment(device), "config": cfg.to_dict()}, ev.out)
    return 0


def _cmd_bench(args) -> int:
    from savae_lite import bench

    check_int("--threads", args.threads, 1, optional=True)
    if args.out is not None:
        check_out_file("--out", args.out)
    return bench.main(quick=args.quick, tiny=args.tiny, device=args.device, out=args.out, threads=args.threads,
                      only=args.only, recipe=args.recipe)


def _cmd_experiment(args) -> int:
    from savae_lite import experiments

    if args.out is not None:
        check_out_file("--out", args.out)
    only = tuple(u.strip() for u in args.only.split(",") if u.strip()) if args.only else None
    return experiments.run(args.name, quick=args.quick, out=args.out, seed=args.seed, device=args.device,
                           partial=args.partial, only=only, status=args.status, threads=args.threads)


def _cmd_export(args) -> int:
    from savae_lite import pretrained

    run_dir = Path(args.run_dir)
    for name in ("best.pt", "results.json"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"run_dir: {run_dir / name} not found (not a finished run folder)")
    check_out_file("out", args.out, suffix=".pt", protect=[run_dir / n for n in RUN_FILES])
    out = pretrained.export(run_dir, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


_HANDLERS = dict(train=_cmd_train, eval=_cmd_eval, bench=_cmd_bench, experiment=_cmd_experiment, export=_cmd_export)


def main(argv: list[str] | None = None) -> int:
    """Run one ``savae-lite`` command; return its exit code: 0, 2 after a one-line error naming the flag or path
    involved, 130 when interrupted (Ctrl-C, SIGTERM during training)."""
    prefix, args = "savae-lite", None
    try:
        args = build_parser().parse_args(argv)
        prefix = f"savae-lite {args.command}"
        return _HANDLERS[args.command](args)
    except KeyboardInterrupt as err:
        return interrupted(prefix, err, for_good=argv is None)
    except (ValueError, FloatingPointError) as err:
        message = str(err)
    except OSError as err:
        message = os_error_message(err, args.command if args else "")
    except Exception as err:  # noqa: BLE001 -- memory errors; a train stopped by SIGINT/SIGTERM (exit code 130)
        if is_memory_error(err):
            message = memory_message(err, args)
        else:
            from savae_lite.train import TrainingInterrupted

            if not isinstance(err, TrainingInterrupted):
                raise
            return interrupted(prefix, err, for_good=argv is None)
    try:
        print(f"{prefix}: error: {message}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
