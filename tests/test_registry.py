"""The registry of names (registry.py) and the field constraints (fields.py): every name listed once and held by
the module that implements it, every declared constraint enforced with a message naming the flag, the config
importable without a trainer, no import cycle, and a data set added with one registry entry."""
import ast
import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

import savae_lite
from savae_lite import registry
from savae_lite.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from savae_lite.fields import Constraint, base_type, check_fields, flag_of
from savae_lite.presets import preset
from savae_lite.svi import SVIConfig


def test_each_name_list_matches_the_module_that_implements_it():
    from savae_lite import loop, modes, schedule, svi
    from savae_lite.data import images, text

    assert tuple(modes.MODES) == registry.MODE_NAMES
    assert tuple(loop.OPTIMIZERS) == registry.OPTIMIZERS and tuple(loop.ON_NAN) == registry.ON_NAN
    assert tuple(schedule.LR_POLICIES) == registry.LR_SCHEDULES and svi.HVP_BACKENDS == registry.HVP_BACKENDS
    assert images.IMAGE_SOURCES == registry.OMNIGLOT_SOURCES and text.NAMES == registry.data_sets("text")
    for d in registry.DATA_SETS.values():
        assert callable(d.read_function()) and d.kind in registry.MODEL_KINDS, d


def test_presets_live_in_their_own_module():
    from savae_lite import config, presets

    for name in ("preset", "PRESETS", "derive", "original_svi"):
        assert hasattr(presets, name) and not hasattr(config, name)


def test_the_config_imports_no_trainer_and_no_model():
    code = ("import sys, savae_lite.config, savae_lite.validation, savae_lite.registry; "
            "print(sorted(m for m in sys.modules if m.split('.')[1:2] and m.split('.')[1] in "
            "('loop', 'train', 'modes', 'models', 'study', 'build')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def _import_graph() -> dict[str, set[str]]:
    """Module -> the savae_lite modules it imports (every import statement, function-level ones included; those
    under ``if TYPE_CHECKING:`` never run and are left out)."""
    root = Path(savae_lite.__file__).parent
    mods = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in root.rglob("*.py")}

    def resolve(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text())
        for node in list(ast.walk(tree)):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {resolve(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found |= {resolve(f"{node.module}.{a.name}") for a in node.names} | {resolve(node.module)}
        graph[mod] = {m for m in found if m and m != mod}
    return graph


def test_no_import_cycle():
    """No module of the package reaches itself through its imports (function-level imports included): the
    presets live in ``savae_lite.presets``, which imports the config, never the other way round."""
    graph = _import_graph()
    allowed = set()

    def reaches(a, b):
        seen, todo = set(), [a]
        while todo:
            for m in graph.get(todo.pop(), ()):
                if m == b:
                    return True
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return False

    back = sorted((a, b) for a in graph for b in graph[a] if (a, b) not in allowed and reaches(b, a))
    assert back == [], back


_CLASSES = (DataConfig, TrainConfig, SVIConfig, EvalConfig)


def _fields():
    return [(cls, f) for cls in _CLASSES for f in dataclasses.fields(cls) if "constraint" in f.metadata]


def _bad_values(f):
    """Values that the field's declaration forbids."""
    c: Constraint = f.metadata["constraint"]
    base, _ = base_type(f.type)
    bad = []
    if c.choices is not None:
        bad.append("no-such-name")
    elif base in ("int", "float"):
        step = 1 if base == "int" else 1e-3
        if c.low is not None:
            bad.append(type(step)(c.low) - (0 if c.low_open else step))
        if c.high is not None:
            bad.append(type(step)(c.high) + (0 if c.high_open else step))
        bad.append("3")
        if base == "float":
            bad.append(math.nan)
        else:
            bad.append(2.5)
    elif base == "bool":
        bad.append(1)
    return bad


@pytest.mark.parametrize("cls,f", _fields(), ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")))
def test_every_declared_constraint_is_enforced_naming_the_flag(cls, f):
    for value in _bad_values(f):
        obj = cls()
        setattr(obj, f.name, value)
        with pytest.raises(ValueError) as err:
            check_fields(obj)
        message = str(err.value)
        assert message.startswith(flag_of(f) + ":") and "\n" not in message, (value, message)
    check_fields(cls())  # the defaults themselves are valid


def test_training_only_fields_are_skipped_when_evaluating():
    cfg = preset("ptb-quick")
    cfg.train.epochs, cfg.train.lr = 0, math.nan  # training-only: a saved run stays evaluable
    cfg.validate(training=False)
    with pytest.raises(ValueError, match="^--epochs:"):
        cfg.validate()
    cfg.train.svi.momentum = 2.0  # evaluation refines with the run's SVI: still checked
    with pytest.raises(ValueError, match="^--svi-momentum:"):
        cfg.validate(training=False)


def test_cli_flags_help_and_choices_come_from_the_declarations(capsys):
    from savae_lite.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for cls in (DataConfig, TrainConfig, SVIConfig):
        for f in dataclasses.fields(cls):
            if "constraint" not in f.metadata:
                continue
            assert flag_of(f) in text, f.name
            assert " ".join(f.metadata["help"].split())[:30] in text, f.name
    assert "{" + ",".join(registry.MODE_NAMES) + "}" in text and "{" + ",".join(registry.DATA_SETS) + "}" in text
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = capsys.readouterr().out
    assert all(flag_of(f) in text for f in dataclasses.fields(EvalConfig))


@pytest.mark.parametrize("argv,message", [
    (["--split", "train"], "--split: 'train' is not one of valid, test"),
    (["--seed", "-1"], "--seed: must be in [0, 4294967295], got -1"),
    (["--iw-samples", "-2"], "--iw-samples: must be >= 0, got -2"),
    (["--test-svi-steps", "-1"], "--test-svi-steps: must be >= 0 (or None), got -1"),
])
def test_eval_options_are_checked_like_the_config_before_the_checkpoint_is_read(argv, message, capsys, tmp_path):
    from savae_lite.cli import main

    assert main(["eval", str(tmp_path / "missing.pt"), *argv]) == 2
    assert capsys.readouterr().err == f"savae-lite eval: error: {message}\n"


# ---------------------------------------------------------------------------------- adding a data set
def read_tiny(root, *, genre=None, download=False, checksums=True):
    """A test corpus: the reader of a text data set (registry.DataSet)."""
    words = [["a", "b", "c"], ["b", "c"], ["c", "a", "a", "b"]] * 4
    return {"train": words, "valid": words[:3], "test": words[:5]}


def test_a_data_set_is_added_by_its_reader_and_one_registry_entry(monkeypatch, capsys):
    from savae_lite.build import build_data
    from savae_lite.cli import build_parser, config_from_args

    monkeypatch.setitem(registry.DATA_SETS, "tiny", registry.DataSet("tiny", "text", f"{__name__}:read_tiny",
                                                                     "a test corpus"))
    args = build_parser().parse_args(["train", "--quick", "--data", "tiny", "--batch-size", "2"])
    cfg = config_from_args(args)
    cfg.validate()
    splits = build_data(cfg)
    assert splits.kind == "text" and splits.info["dataset"] == "tiny" and len(splits.vocab) == 4 + 3
    assert splits.info["sentences"] == {"train": 12, "valid": 3, "test": 5}
    cfg.data.genre = "answers"
    with pytest.raises(ValueError, match="^--genre: only applies to --data ewt, not --data tiny$"):
        cfg.validate()
    cfg.data.genre, cfg.model_kind, cfg.model = None, "image", {}
    with pytest.raises(ValueError, match="^--data tiny is text but the model is an image model"):
        RunConfig.validate(cfg)
