"""`savae-lite bench --tiny` runs and writes the documented keys (medians with consistent quartiles); the loop
benchmark times the public TrainingLoop; the memory tracker measures what it says. No timing assertions:
timings depend on the machine."""
import contextlib
import io
import json
import math

import pytest
import torch

from savae_lite.bench import PARTS, PRESETS, TensorMemoryPeak, format_table, measure_memory
from savae_lite.bench.savae_step import CellTimings, savae_gradients
from savae_lite.bench.sharing import POLICIES, TARGETS, fixed_batches, format_sharing, sharing_record
from savae_lite.bench.timing import Clock, Spread, Timing
from savae_lite.bench.training_loop import bench_loop_vs_bare
from savae_lite.bench.workloads import text_workload
from savae_lite.models.text import TextModelConfig, TextVAE
from tests.conftest import tiny_sentences

ROW_KEYS = {"model", "hvp", "K", "step_s", "grad_eval_s", "ratio_to_floor", "peak_mem_mb"}
SPREAD_NAMES = ("step_s", "grad_eval_s", "ratio_to_floor")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(printed output, record) of one ``savae-lite bench --tiny --out ...``, shared by the tests below."""
    from savae_lite.cli import main

    out = tmp_path_factory.mktemp("bench") / "tmp.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["bench", "--tiny", "--out", str(out)]) == 0
    return printed.getvalue(), json.loads(out.read_text())


def _assert_quartiles(rec: dict, name: str) -> None:
    q25, med, q75, iqr = (rec[name + s] for s in ("_q25", "", "_q75", "_iqr"))
    assert q25 <= med <= q75, (name, rec)
    assert iqr == pytest.approx(q75 - q25, abs=max(2e-4, 1e-4 * med)), (name, rec)  # fields are rounded


def test_bench_tiny_writes_the_documented_keys(tiny_run):
    printed, rec = tiny_run
    assert "ratio" in printed and "wrote" in printed
    assert rec["preset"] == "tiny"
    rows = rec["savae_step"]
    ks = set(PRESETS["tiny"].ks)
    assert {(r["model"], r["hvp"], r["K"]) for r in rows} == {(m, h, k) for m in ("text", "image")
                                                             for h in ("fd", "exact") for k in ks}
    for r in rows:
        assert ROW_KEYS <= set(r)
        assert r["hvp"] in ("fd", "exact")
        for key in ("step_s", "grad_eval_s", "ratio_to_floor", "peak_mem_mb"):
            assert isinstance(r[key], (int, float)) and math.isfinite(r[key]) and r[key] >= 0, (key, r)
    env = rec["environment"]
    assert {"device", "torch", "python", "cpu_threads", "git_commit"} <= set(env) and env["device"] == "cpu"
    assert len(rec["load_avg_start"]) == 3 and len(rec["load_avg_end"]) == 3
    assert rec["config"]["ks"] == sorted(ks) and "text_model_config" in rec["config"]
    assert {"grad_eval_s", "step_s", "ratio_to_floor", "peak_mem_mb"} <= set(rec["definitions"])
    lv = rec["loop_vs_bare"]
    assert {"package_tokens_per_s", "bare_tokens_per_s", "ratio"} <= set(lv) and lv["ratio"] > 0
    iw = rec["iw_nll"]
    assert {"sentences_per_s", "chunk_samples", "samples"} <= set(iw) and iw["chunk_samples"] >= 1
    assert set(rec["summary"]) == {"text", "image"}
    assert rec["config"]["parts"] == list(PARTS) and "sharing" in printed


def test_bench_reports_median_and_consistent_iqr(tiny_run):
    _, rec = tiny_run
    bc = PRESETS["tiny"]
    for r in rec["savae_step"]:
        for name in SPREAD_NAMES:
            _assert_quartiles(r, name)
        assert bc.repeats <= r["repeats"] <= max(bc.repeats, bc.max_repeats) and len(r["ratio_all"]) == r["repeats"]
        assert r["ratio_to_floor"] == pytest.approx(Spread.of(r["ratio_all"]).median, abs=2e-4)
        limit = bc.stable_rel_iqr * r["ratio_to_floor"]
        if abs(r["ratio_to_floor_iqr"] - limit) > 2e-4:  # away from the rounding of the stored fields
            assert r["stable"] == (r["ratio_to_floor_iqr"] <= limit), r
    for name in ("ratio", "package_tokens_per_s", "bare_tokens_per_s"):
        _assert_quartiles(rec["loop_vs_bare"], name)
    _assert_quartiles(rec["iw_nll"], "sentences_per_s")
    for summary in rec["summary"].values():
        assert {"fd_max_ratio_to_floor", "max_ratio_rel_iqr", "unstable_cells"} <= set(summary)


def test_spread_quartiles_match_torch_quantile():
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6]
    s = Spread.of(values)
    t = torch.tensor(values, dtype=torch.float64)
    for q, got in ((0.25, s.q25), (0.5, s.median), (0.75, s.q75)):
        assert got == pytest.approx(torch.quantile(t, q).item())
    assert s.iqr == pytest.approx(s.q75 - s.q25) and Spread.of([2.0]).iqr == 0.0


def test_ratio_to_floor_is_each_step_against_its_neighbouring_grad_evals():
    cell = CellTimings(k=5)  # floor: 11 gradient evaluations
    cell.add(Timing(11.0, 22.0), [Timing(1.0, 2.0), Timing(1.0, 2.0), Timing(3.0, 2.0)])
    cell.add(Timing(24.2, 24.2), [Timing(2.0, 2.0), Timing(2.2, 2.2), Timing(2.4, 2.4)])
    assert cell.ratios() == pytest.approx([1.0, 1.0])
    assert cell.ratios(wall=True) == pytest.approx([1.0, 24.2 / (11 * 2.2)])
    assert cell.is_stable(0.01)
    fields = cell.fields()
    assert fields["ratio_to_floor"] == 1.0 and fields["ratio_to_floor_iqr"] == 0.0 and fields["repeats"] == 2


def test_clock_uses_cpu_time_with_one_cpu_thread():
    assert Clock(CPU).kind == "cpu"
    assert Clock(CPU).measure(lambda: sum(range(1000)), number=3).seconds >= 0


def test_loop_benchmark_times_the_public_training_loop(monkeypatch):
    """The package side of loop_vs_bare is TrainingLoop.run_epoch — one warm-up chunk, then one per round —
    and the Trainer is not involved."""
    from savae_lite import train
    from savae_lite.loop import TrainingLoop

    calls = []
    run_epoch = TrainingLoop.run_epoch

    def spy(self, batches, **kwargs):
        calls.append((self.mode.name, len(batches)))
        return run_epoch(self, batches, **kwargs)

    def no_trainer(*args, **kwargs):
        raise AssertionError("the benchmark must not build a Trainer")

    monkeypatch.setattr(TrainingLoop, "run_epoch", spy)
    monkeypatch.setattr(train.Trainer, "__init__", no_trainer)
    bc = PRESETS["tiny"]
    work = text_workload(bc, CPU)
    rec = bench_loop_vs_bare(work.model_config, work.train_batches, bc, CPU, log=lambda *a: None)
    assert calls == [("vae", bc.train_batches)] * (bc.train_rounds + 1)
    assert rec["rounds"] == bc.train_rounds == len(rec["ratio_all"])
    assert rec["ratio"] > 0
    _assert_quartiles(rec, "ratio")


def test_tensor_memory_peak_counts_live_storage():
    with TensorMemoryPeak() as tracker:
        a = torch.ones(1024, 256)  # 1 MiB
        b = a * 2  # 1 MiB, both alive
        del a
        c = b + 1  # 1 MiB, b and c alive
        c.add_(1)  # in place: nothing new
        view = c[:10]  # a view: nothing new
        del b
    assert tracker.peak == 2 * 2**20
    assert tracker.current == 2**20  # c is still alive
    del c, view


def test_fd_memory_does_not_grow_with_k():
    """The fd back-end keeps no per-step copy of the decoder's gradient: its peak tensor memory at K = 8 is
    within a fraction of one theta-gradient of the peak at K = 2 (the old per-step cache added 6 copies)."""
    torch.manual_seed(0)
    model = TextVAE(TextModelConfig(vocab_size=4000, emb_dim=8, enc_hidden=8, dec_hidden=32, latent_dim=4))
    x = tiny_sentences(4, 6, vocab=4000)
    theta_bytes = sum(p.numel() * p.element_size() for p in model.decoder_parameters())
    peaks = {}
    for k in (2, 8):
        peaks[k] = measure_memory(lambda: savae_gradients(model, x, k, "fd"), CPU)
    growth = (peaks[8]["peak_mem_mb"] - peaks[2]["peak_mem_mb"]) * 2**20
    assert growth < 0.25 * theta_bytes, (peaks, theta_bytes)
    exact = measure_memory(lambda: savae_gradients(model, x, 8, "exact"), CPU)
    assert exact["peak_mem_mb"] > peaks[8]["peak_mem_mb"]


# ---------------------------------------------------------------------------------------------- sharing
SHARING_FIELDS = ("alone_steps_per_s", "loaded_steps_per_s", "loaded_over_alone", "alone_over_best_alone",
                  "loaded_over_best_alone")


def test_bench_tiny_measures_sharing_per_policy(tiny_run):
    """The tiny run's ``sharing`` record: each policy's worker reported the policy it trained with (the default
    passive, the old one OpenMP's own), and every ratio is a median with consistent quartiles."""
    _, rec = tiny_run
    sh = rec["sharing"]
    bc = PRESETS["tiny"]
    assert sh["recipe"] == bc.sharing_recipe and sh["rounds"] == bc.sharing_rounds and sh["clock"] == "wall"
    assert sh["steps_per_measurement"] == bc.sharing_steps == len(sh["batch_shapes"]) and sh["mode"] == "savae"
    assert set(sh["policies"]) == set(bc.sharing_policies) and len(sh["load_avg_start"]) == 3
    assert isinstance(sh["machine_quiet"], bool) and sh["cpu_count"] >= 1
    default, old = sh["policies"]["default"], sh["policies"]["old"]
    assert (default["wait_policy"], default["wait_policy_from"]) == ("GOMP_SPINCOUNT=1000", "savae-lite default")
    assert old["wait_policy_from"] == "torch imported before savae-lite"
    for p in sh["policies"].values():
        assert p["threads"] >= 1 and len(p["alone_all"]) == len(p["loaded_all"]) == bc.sharing_rounds
        assert p["alone_cpu_s_per_step"] > 0 and p["loaded_cpu_s_per_step"] > 0
        for name in SHARING_FIELDS:
            assert p[name] > 0 and math.isfinite(p[name]), (name, p)
            _assert_quartiles(p, name)
    assert max(p["alone_over_best_alone"] for p in sh["policies"].values()) == pytest.approx(1.0)
    summary = sh["summary"]
    assert summary["policy"] == "default" and summary["targets"] == TARGETS and "old" in summary
    assert summary["meets_targets"] == all(summary[k] >= v for k, v in TARGETS.items())


def test_sharing_ratios_are_formed_within_rounds():
    rates = {"default": {"alone": [1.0, 2.0, 1.0], "loaded": [0.5, 0.8, 0.6]},
             "old": {"alone": [2.0, 1.0, 1.0], "loaded": [0.4, 0.3, 0.2]}}
    infos = {n: {"threads": 2, "wait_policy": "x", "wait_policy_from": "y", "mode": "savae", "batch_shapes": [[2, 3]]}
             for n in rates}
    rec = sharing_record(PRESETS["tiny"], infos, rates, [0.1, 0.2, 0.3], None)
    d, o = rec["policies"]["default"], rec["policies"]["old"]
    assert d["loaded_over_alone"] == pytest.approx(0.5)  # per round: 0.5, 0.4, 0.6
    assert d["alone_over_best_alone"] == pytest.approx(1.0)  # per round: 0.5, 1, 1 against best 2, 2, 1
    assert d["loaded_over_best_alone"] == pytest.approx(0.4)  # 0.25, 0.4, 0.6
    assert o["alone_over_best_alone"] == pytest.approx(1.0) and o["loaded_over_best_alone"] == pytest.approx(0.2)
    assert rec["machine_quiet"] is True and rec["summary"]["meets_targets"] is False  # 0.4 < 0.45
    assert rec["summary"]["old"]["loaded_over_alone"] == o["loaded_over_alone"]
    assert "alone_cpu_s_per_step" not in d  # no CPU times given
    assert any("default" in line for line in format_sharing(rec))


def test_sharing_policies_and_fixed_batches():
    assert {"default", "old", "one-thread"} <= set(POLICIES) and POLICIES["old"].import_torch_first
    assert dict(POLICIES["brief-spin"].env) == {"GOMP_SPINCOUNT": "10000"} and not POLICIES["default"].env
    assert all(set(bc.sharing_policies) <= set(POLICIES) for bc in PRESETS.values())
    assert POLICIES["one-thread"].threads == 1 and POLICIES["default"].threads is None
    batches = [torch.zeros(2, 3), torch.zeros(4, 5), torch.zeros(4, 6), torch.zeros(1, 2)]
    assert [tuple(x.shape) for x in fixed_batches(batches, 4, 3)] == [(4, 5), (4, 6), (2, 3)]


def test_bench_parts_can_be_chosen(tiny_run, capsys):
    """``--only`` names the parts; the table prints the parts a record holds."""
    from savae_lite.cli import main

    assert main(["bench", "--tiny", "--only", "bogus"]) == 2
    assert "--only: unknown part(s) 'bogus'; choose from savae_step, loop_vs_bare, iw_nll, sharing" in \
        capsys.readouterr().err
    _, rec = tiny_run
    only_sharing = {k: v for k, v in rec.items() if k not in ("savae_step", "summary", "loop_vs_bare", "iw_nll")}
    table = format_table(only_sharing)
    assert "sharing (" in table and "IW-NLL" not in table and "load average" in table
