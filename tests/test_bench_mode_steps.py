"""`savae-lite bench --only mode_steps`: one training step of every mode at a recipe's size, timed through the
package's TrainingLoop.step, each mode against vae; a bad --recipe is refused in one line before anything runs.
Tiny recipes, one timed step per mode, on the CPU. No timing assertions beyond "positive": timings depend on the
machine."""
import json
import math

import pytest
import torch

from savae_lite import bench
from savae_lite.bench.mode_steps import MODE_NAMES
from savae_lite.cli import main
from savae_lite.presets import preset

ROW_KEYS = {"mode", "step_s", "step_s_all", "step_wall_s", "ratio_to_vae", "K", "batch_size", "parameters"}


def _check_rows(rec: dict, recipe: str, rounds: int) -> None:
    cfg = preset(recipe)
    assert rec["recipe"] == recipe and rec["K"] == cfg.train.svi.steps and rec["rounds"] == rounds
    assert rec["batch_size"] == cfg.data.batch_size and rec["model_kind"] == cfg.model_kind
    assert rec["model_description"] and rec["step"] == "savae_lite.loop.TrainingLoop.step"
    rows = {r["mode"]: r for r in rec["modes"]}
    assert list(rows) == list(MODE_NAMES)
    for r in rows.values():
        assert ROW_KEYS <= set(r), r
        assert len(r["step_s_all"]) == rounds and all(v > 0 for v in r["step_s_all"]), r
        assert r["step_s"] > 0 and math.isfinite(r["step_s"]) and r["ratio_to_vae"] > 0, r
        assert r["K"] == cfg.train.svi.steps and r["batch_size"] == cfg.data.batch_size and r["parameters"] > 0
        assert r["skipped_steps"] == 0 and "peak_cuda_mb" not in r  # CPU: no CUDA memory
    assert rows["vae"]["ratio_to_vae"] == 1.0
    assert rows["svi"]["ratio_to_vae"] == pytest.approx(rows["svi"]["step_s"] / rows["vae"]["step_s"], rel=1e-3)
    assert rows["autoreg"]["parameters"] < rows["vae"]["parameters"] == rows["savae"]["parameters"]  # no encoder
    assert [r["uses_svi"] for r in rows.values()] == [False, False, True, True, True, True]


def test_mode_steps_image_recipe_through_the_cli(tmp_path, capsys):
    out = tmp_path / "steps.json"
    assert main(["bench", "--tiny", "--only", "mode_steps", "--recipe", "omniglot-study-quick", "--device", "cpu",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mode steps: omniglot-study-quick" in printed and "wrote" in printed
    rec = json.loads(out.read_text())
    assert rec["config"]["parts"] == ["mode_steps"] and rec["config"]["mode_steps_recipe"] == "omniglot-study-quick"
    assert not {"savae_step", "loop_vs_bare", "iw_nll", "sharing"} & set(rec)  # only the part asked for
    assert rec["environment"]["device"] == "cpu" and "mode_steps.ratio_to_vae" in rec["definitions"]
    ms = rec["mode_steps"]
    _check_rows(ms, "omniglot-study-quick", rounds=bench.PRESETS["tiny"].mode_steps_rounds)
    assert ms["batch_shape"] == [50, 1, 28, 28] and "gated PixelCNN decoder of 2 layers" in ms["model_description"]
    assert json.loads(json.dumps(ms)) == ms  # plain JSON values only
    for r in ms["modes"]:
        assert f"\n{r['mode']:11s} " in printed  # one table line per mode


def test_mode_steps_text_recipe_times_the_training_loop_step(monkeypatch):
    """Every timed step is TrainingLoop.step: one warm-up and ``rounds`` timed steps per mode."""
    from savae_lite.loop import TrainingLoop

    calls = []
    step = TrainingLoop.step

    def counting(self, x, pool=None):
        calls.append((self.mode.name, tuple(x.shape)))
        return step(self, x, pool)

    monkeypatch.setattr(TrainingLoop, "step", counting)
    threads = torch.get_num_threads()
    rec = bench.run("tiny", "cpu", parts=["mode_steps"], recipe="ptb-quick", log=lambda *a: None)
    assert torch.get_num_threads() == threads
    ms = rec["mode_steps"]
    _check_rows(ms, "ptb-quick", rounds=1)
    assert sorted(calls) == sorted((m, tuple(ms["batch_shape"])) for m in MODE_NAMES for _ in range(2))
    assert calls[:len(MODE_NAMES)] == [(m, tuple(ms["batch_shape"])) for m in MODE_NAMES]  # warm-up first


def test_mode_steps_runs_only_when_asked_for():
    assert "mode_steps" not in bench.PARTS and "mode_steps" in bench.ALL_PARTS
    assert bench.PRESETS["tiny"].mode_steps_rounds == 1 and bench.PRESETS["full"].mode_steps_recipe == "omniglot-paper"


@pytest.mark.parametrize("argv,flag", [
    (["bench", "--only", "mode_steps", "--recipe", "omniglot-huge"], "--recipe: unknown recipe 'omniglot-huge'"),
    (["bench", "--tiny", "--recipe", "nope"], "--recipe: unknown recipe 'nope'"),
    (["bench", "--tiny", "--only", "mode_step"], "--only: unknown part(s) 'mode_step'"),
])
def test_bad_recipe_or_part_is_refused_in_one_line_before_anything_runs(argv, flag, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"savae-lite bench: error: {flag}"), captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""  # one line; nothing was run or printed
    if "--recipe" in flag:
        assert "omniglot-paper" in captured.err  # the valid names are listed
    else:
        assert "mode_steps" in captured.err
