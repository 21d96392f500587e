"""The records layer (savae_lite.records): loading and validating study records, the book's number and table
rules, the comparison words, load_or_quick and its provenance line, and each chapter's readings (the verdicts the
prose glues), on small made-up records and on the committed ones."""
import json
import math
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("jinja2")  # pandas' Styler

from savae_lite import records  # noqa: E402
from savae_lite.records import (  # noqa: E402
    collapse_findings,
    latent_use_findings,
    saliency_findings,
    schema,
    synthetic_findings,
)
from savae_lite.records.tables import DASH  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book" / "results"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def study_record(**over):
    """A small valid study record: two settings, three seeds of one."""
    rows = [{"setting": "vae", "mode": "vae", "seed": s, "unit": f"vae-s{s}", "iw_nll": 10.0 + s, "kl": 0.5}
            for s in (1, 2, 3)] + [{"setting": "savae", "mode": "savae", "seed": 1, "unit": "savae-s1",
                                    "iw_nll": 9.0, "kl": 1.0}]
    rec = {"experiment": "toy", "environment": {"device": "cpu", "cpu_threads": 1}, "git_commits": [COMMIT],
           "compute_time_s": 7200.0, "collected": "2026-12-02T14:09:49+0000", "rows": rows,
           "summary": records.summarize(rows)}
    rec.update(over)
    return rec


def write(tmp_path, obj, name="toy.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


# ------------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("value, decimals, signed, text", [
    (1013.456, 2, False, "1013.46"), (1.01e3, 1, False, "1010.0"), (-0.001, 2, False, "0.00"),
    (-0.004, 2, True, "0.00"), (0.25, 2, True, "+0.25"), (-1.5, 1, True, "-1.5"), (3, 0, False, "3"),
    (None, 2, False, DASH), (float("nan"), 2, False, DASH), (float("inf"), 2, False, "∞"),
])
def test_number(value, decimals, signed, text):
    assert records.number(value, decimals, signed) == text


def test_counted_puts_the_noun_in_the_right_number():
    assert records.counted(1, "seed") == "1 seed" and records.counted(1.0, "unit") == "1 unit"
    assert records.counted(3, "seed") == "3 seeds" and records.counted(0, "unit") == "0 units"
    assert records.counted(None, "active unit") == records.counted(DASH, "active unit") == f"{DASH} active units"


def test_use_reads_one_seed_without_a_spread():
    from savae_lite.records.collapsed import use

    one = {"kl": 0.187, "mi": 0.191, "au": 1.0, "seeds": 1}
    assert use(one) == "KL 0.187, MI 0.191, AU 1 over 1 seed"
    three = {"kl": 0.93, "kl_sd": 0.19, "mi": 0.91, "mi_sd": 0.18, "au": 1.33, "au_sd": 0.58, "seeds": 3}
    assert use(three) == "KL 0.930 ± 0.190, MI 0.910 ± 0.180, AU 1.3 ± 0.6 over 3 seeds"


def test_pm():
    assert records.pm(1.2345, 0.0567) == "1.23 ± 0.06"
    assert records.pm(1.2345, None) == "1.23"  # one seed: no "± sd"
    assert records.pm(1.2345, float("nan"), 3) == "1.234"
    assert records.pm(None, 0.1) == DASH
    assert records.pm(-0.001, 0.0) == "0.00 ± 0.00"
    assert records.pm_of({"kl": 0.93, "kl_sd": 0.19}, "kl") == "0.93 ± 0.19"
    assert records.pm_of({"au": 1.333}, "au") == "1.3"  # decimals per quantity
    assert str(records.PM.of({"iw_nll": 66.774, "iw_nll_sd": 0.29}, "iw_nll")) == "66.77 ± 0.29"
    assert float(records.PM(2.5, 0.1)) == 2.5 and math.isnan(float(records.PM(None)))
    assert str(records.Num(0.12345, 3)) == "0.123" and str(records.Num(0.5, 2, signed=True)) == "+0.50"
    assert records.pct(0.9512) == "95.1 %" and records.pct(None) == DASH


# -------------------------------------------------------------------------------------------- tables
def test_frame_merges_sd_formats_per_quantity_and_names_columns():
    s = pd.DataFrame({"setting": ["vae", "savae"], "iw_nll": [67.554, 67.39], "iw_nll_sd": [0.41, None],
                      "kl": [-0.0001, 0.931], "kl_sd": [0.0, 0.188], "au": [0.0, 1.33], "seeds": [3, 1],
                      "epochs_run": [14.3333, float("nan")], "note": ["a", None]}).set_index("setting")
    out = records.frame(s)
    assert list(out.columns) == ["IW-NLL", "KL", "AU", "seeds", "epochs", "note"]
    assert out.index.name == "setting"
    assert out.loc["vae", "IW-NLL"] == "67.55 ± 0.41" and out.loc["savae", "IW-NLL"] == "67.39"
    assert out.loc["vae", "KL"] == "0.00 ± 0.00"  # never -0.00
    assert out.loc["savae", "AU"] == "1.3" and out.loc["vae", "seeds"] == "3"
    assert out.loc["vae", "epochs"] == "14.3" and out.loc["savae", "epochs"] == DASH  # a count: no sd
    whole = records.frame(pd.DataFrame({"epochs_run": [12.0, 30.0], "epochs_run_sd": [0.0, None]}))
    assert list(whole["epochs"]) == ["12", "30"]
    assert out.loc["savae", "note"] == DASH and out.loc["vae", "note"] == "a"
    chosen = records.frame(s, {"kl": "KL of q"}, decimals={"kl": 3})
    assert list(chosen.columns) == ["KL of q"] and chosen.loc["savae", "KL of q"] == "0.931 ± 0.188"
    assert records.frame(s[["iw_nll"]], signed=("iw_nll",)).loc["savae", "IW-NLL"] == "+67.39"
    with pytest.raises(KeyError, match="no column 'ppl'"):
        records.frame(s, ["ppl"])


def test_table_pads_cells_and_never_uses_scientific_notation():
    s = pd.DataFrame({"x": [1013.456, 1e-7]}, index=pd.Index(["a", "b"], name="row"))
    html = records.html(s)
    assert "padding" in html and "nowrap" in html and "1013.46" in html
    assert list(records.frame(s)["x"]) == ["1013.46", "0.00"]  # no 1.01e+03, no 1e-07
    styled = records.table(s.style)  # a Styler gets the same padding
    assert "padding" in styled.to_html()
    wide = records.frame(s).T
    assert list(records.table(s, transpose=True).data.columns) == list(wide.columns)


# ------------------------------------------------------------------------------------------ compare
def test_difference():
    assert records.difference(3.0, 1.0) == 2.0
    assert records.difference(records.PM(3.0, 0.1), records.Num(1.5)) == 1.5
    assert math.isnan(records.difference(None, 1.0))
    assert math.isnan(records.difference(records.PM(None), 1.0))


@pytest.mark.parametrize("a, sa, b, sb, k, lower, words", [
    (10.0, 0.1, 11.0, 0.2, 2, True, "better by more than 2 sd"),
    (11.0, 0.1, 10.0, 0.2, 2, True, "worse by more than 2 sd"),
    (10.0, 0.3, 10.5, 0.2, 2, True, "within the seeds' spread"),
    (10.0, 0.3, 10.5, 0.2, 1, True, "better by more than 1 sd"),
    (10.0, 0.25, 10.5, 0.2, 2, True, "within the seeds' spread"),
    (3.0, 0.1, 1.0, 0.1, 2, False, "better by more than 2 sd"),  # higher is better
    (10.0, None, 11.0, 0.2, 2, True, "not judged (one seed)"),
    (10.0, 0.1, float("nan"), 0.2, 2, True, DASH),
])
def test_separated(a, sa, b, sb, k, lower, words):
    assert records.separated(a, sa, b, sb, k=k, lower_is_better=lower) == words


def test_separated_senses():
    assert records.separated(3.0, 0.1, 1.0, 0.1, lower_is_better=False, senses=("higher", "lower")) == \
        "higher by more than 2 sd"
    assert records.separated(1.0, 0.1, 3.0, 0.1, lower_is_better=False, senses=("higher", "lower")) == \
        "lower by more than 2 sd"


def test_compare_trend_rank():
    c = records.compare({"iw_nll": 67.39, "iw_nll_sd": 0.15}, {"iw_nll": 66.77, "iw_nll_sd": 0.29}, "iw_nll")
    assert c.words == "worse by more than 2 sd" and c.resolved is True and str(c.diff) == "+0.62"
    c1 = records.compare({"kl": 1.0}, {"kl": 0.5, "kl_sd": 0.1}, "kl", lower_is_better=False)
    assert c1.resolved is None and c1.words == "not judged (one seed)"
    assert records.trend([3, 2, 1]) == "falls" and records.trend([1, 2, 3]) == "rises"
    assert records.trend([1, 3, 2]) == records.trend([1, 1]) == records.trend([1]) == "does not move in one direction"
    assert records.rank({"a": 3.0, "b": 1.0, "c": 2.0}, "c") == 2
    assert records.yes_no(True) == "Yes" and records.yes_no(False) == "No"


# ------------------------------------------------------------------------------------------- schema
def test_load_a_valid_record(tmp_path):
    rec = records.load(write(tmp_path, study_record()))
    assert rec.experiment == "toy" and rec["experiment"] == "toy" and len(rec.rows) == 4
    s = rec.summary_frame()
    assert list(s.index) == ["vae", "savae"] and s.loc["vae", "iw_nll"] == 12.0 and s.loc["vae", "iw_nll_sd"] == 1.0
    assert rec.seed1()["vae"]["unit"] == "vae-s1"
    p = rec.provenance
    assert p.commits == (COMMIT,) and p.device == "cpu" and p.cpu_hours == 2.0 and p.date == "2026-12-02"
    line = p.line()
    assert "0123456789" in line and "cpu" in line and "2.0 CPU-thread hours" in line and "2026-12-02" in line
    assert all(len(part) <= schema.LINE_WIDTH for part in line.splitlines())  # wrapped for the page


@pytest.mark.parametrize("obj, message", [
    ("{not json", "not valid JSON (line 1"),
    ([1, 2], "a record is a JSON object"),
    (study_record(experiment=None), "no 'experiment' name"),
    (study_record(environment={"cpu_threads": 1}), "'environment' must be an object naming the 'device'"),
    (study_record(git_commits=[]), "no git commit recorded"),
    (study_record(quick="yes"), "'quick' must be true or false"),
    (study_record(rows=[{"mode": "vae"}], summary=[]), "rows[0] has no 'setting' name"),
    (study_record(rows={"a": 1}), "'rows' must be a list"),
    (study_record(rows=[{"setting": "a", "mode": "vae", "kl": "0.5"}], summary=[]), "rows[0] 'kl' is '0.5'"),
    (study_record(summary=[{"setting": "vae", "kl": 1.0, "kl_sd": -0.1}]), "summary[0] 'kl_sd' is -0.1"),
    (study_record(summary=[{"setting": "other"}]), "the summary names setting 'other', which no row has"),
])
def test_malformed_records_raise_one_line(tmp_path, obj, message):
    path = write(tmp_path, obj if isinstance(obj, str) else json.dumps(obj))
    with pytest.raises(ValueError) as err:
        records.load(path)
    text = str(err.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_a_missing_record_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        records.load(tmp_path / "absent.json")


@pytest.mark.parametrize("name", ["synthetic", "collapse", "collapse-sweeps", "latent_use", "saliency"])
def test_committed_records_load(name):
    rec = records.load(BOOK / f"{name}.json")
    assert rec.provenance.commits and rec.provenance.cpu_hours > 0
    assert all(len(part) <= schema.LINE_WIDTH for part in rec.provenance.line().splitlines())


# ---------------------------------------------------------------------------------- load_or_quick
def test_load_or_quick_loads_the_record_when_there_is_one(tmp_path):
    write(tmp_path, study_record())
    rec, line = records.load_or_quick("toy", lambda: pytest.fail("ran the quick study"), quick=False,
                                      results_dir=tmp_path)
    assert rec.experiment == "toy" and line.startswith(str(tmp_path / "toy.json"))
    rec, _ = records.load_or_quick("toy", lambda: pytest.fail("ran"), quick=True, results_dir=tmp_path)
    assert rec.provenance.path is not None  # quick mode still reads the record by default


def test_load_or_quick_runs_the_quick_study_without_a_record(tmp_path):
    quick = {"rows": study_record()["rows"], "summary": study_record()["summary"]}
    rec, line = records.load_or_quick("toy", lambda: quick, quick=False, results_dir=tmp_path)
    assert rec.provenance.path is None and rec.provenance.quick and rec.experiment == "toy"
    assert line.startswith("computed here") and "quick run" in line and rec.provenance.wall_s >= 0
    assert rec.provenance.commits  # the current commit (or 'unknown')
    write(tmp_path, study_record())  # a chapter whose quick mode shows its own small study
    rec, _ = records.load_or_quick("toy", lambda: quick, quick=True, record_in_quick=False, results_dir=tmp_path)
    assert rec.provenance.path is None


def test_timed_and_unit_folder(tmp_path):
    out, timing = records.timed(lambda: 41 + 1)
    assert out == 42 and timing.wall >= 0 and timing.seconds >= 0
    assert records.unit_folder({"unit": "vae-s1"}, tmp_path) == tmp_path / "vae-s1"
    assert records.unit_folder({"unit": "vae-s1", "key": "ab12"}, "w") == Path("w") / "vae-s1-ab12"


def test_glue_puts_text(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")
    got = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: got.setdefault(name, value.data))
    records.glue({"x": records.Num(1.234), "w": "Yes"}, prefix="p_")
    assert got == {"p_x": "1.23", "p_w": "Yes"}


# ------------------------------------------------------------------------------- chapter readings
def collapse_record(savae_nll=67.39):
    names = ["autoreg", "vae", "vae+anneal", "savae", "aggressive"]
    nll = {"autoreg": 66.77, "vae": 67.55, "vae+anneal": 67.59, "savae": savae_nll, "aggressive": 67.68}
    kl = {"autoreg": 0.0, "vae": 0.001, "vae+anneal": 0.001, "savae": 0.93, "aggressive": 0.003}
    rows = [{"setting": n, "mode": n if n != "vae+anneal" else "vae", "seed": s, "iw_nll": nll[n] + 0.1 * (s - 2),
             "kl": kl[n], "mi": kl[n], "au": 1.0 if n == "savae" else 0.0,
             "history": [{"epoch": 1, "aggressive": True}, {"epoch": s + 1, "aggressive": False}]}
            for n in names for s in (1, 2, 3)]
    return {"rows": rows, "summary": records.summarize(rows)}


def test_collapse_answers():
    a = collapse_findings.answers(collapse_record())
    assert a["vae_collapses"] == a["anneal_collapses"] == "Yes" and a["savae_keeps"] == "Yes"
    assert a["savae_best"] == "No" and a["best"] == a["rival"] == "autoreg"
    assert a["savae_rank"] == 2 and a["settings"] == 5 and a["savae_vs_rival"] == "worse by more than 2 sd"
    assert a["ag_phase_end"] == "2, 3, 4" and a["ag_rank"] == 5
    assert a["lm_diffs"].startswith("savae +0.62, vae +0.78")
    assert str(a["savae_nll"]) == "67.39 ± 0.10" and a["vae_use"].startswith("KL 0.001 ± 0.000")
    b = collapse_findings.answers(collapse_record(savae_nll=66.0))  # SA-VAE best: judged against the runner-up
    assert b["savae_best"] == "Yes" and b["rival"] == "autoreg" and b["savae_vs_rival"] == "better by more than 2 sd"
    assert "sweep_diffs" not in b
    assert collapse_findings.collapsed({"kl": 0.05}) and not collapse_findings.collapsed({"kl": 0.2})


def test_collapse_answers_on_the_committed_records():
    rec, sweeps = records.load(BOOK / "collapse.json"), records.load(BOOK / "collapse-sweeps.json")
    a = collapse_findings.answers(rec, sweeps)
    assert a["vae_collapses"] == "Yes" and a["savae_keeps"] == "Yes" and a["savae_best"] == "No"
    assert a["best"] == "autoreg" and a["savae_vs_rival"] == "worse by more than 2 sd"
    frame = collapse_findings.sweep_frame(rec, sweeps)
    assert len(frame) == len(sweeps.summary) and set(frame["against"]) <= set(collapse_findings.REFERENCE.values())
    assert a["sweep_vs_lm"].count("against") == 3 and str(a["sweep_yardstick"]) == "0.50"  # savae-K10's three seeds


def test_latent_use_readings_on_the_committed_record():
    rec = records.load(BOOK / "latent_use.json")
    settings = {s["name"]: s for s in rec["settings"]}
    main = [n for n in settings if not settings[n]["model"] and not settings[n]["train"]]
    depths = latent_use_findings.depth_frame(rec, [7, 5, 5, 3])
    conv = latent_use_findings.convergence(rec)
    iw = latent_use_findings.iw_check(BOOK / "latent_use_iw")
    a = latent_use_findings.answers(rec, main, depths, conv, iw, 32)
    assert a["more_latent"] == "Yes" and a["kl_words"] == "higher by more than 2 sd"
    assert a["nll_word"] == "equal" and a["nll_words"] == "within the seeds' spread"
    assert a["au_saturated"] == "Yes" and a["converged"] == "No" and a["runs"] == 16 and a["improving_runs"] >= 15
    assert float(a["iw_min"]) < 0 < float(a["iw_max"])
    d = latent_use_findings.depth_reading(rec.summary_frame(), depths)
    assert d["vae_kl_trend"] == d["savae_kl_trend"] == "falls" and d["kl_above"] == "above"
    assert d["kl_trends"] == "`vae`'s KL falls as the decoder deepens, as does `savae`'s"
    assert d["depths"] == "2, 4, 8"
    seed1 = rec.seed1()
    r = latent_use_findings.retrace(seed1["vae"], seed1["vae-long"])
    assert float(r["retrace_gap"]) == 0 and r["retrace_words"] == "identical in every recorded digit"
    assert "savae_long_hours" not in a and list(depths.columns[3:5]) == ["bound, same images", "bound, whole split"]
    # the two-sided long run: savae-long trained on the GPU, so it is a second run, not a retrace
    long = latent_use_findings.long_reading(rec)
    assert long["savae_long_device"] == "an NVIDIA H200 GPU" and long["vae_long_device"] == "one CPU thread"
    assert long["vae_retrace"].startswith("It retraces") and long["savae_retrace"].startswith("It does not retrace")
    assert long["savae_long_where"] == ("trained on an NVIDIA H200 GPU, while `savae`'s seed-1 run trained on one "
                                        "CPU thread")
    assert str(long["savae_long_nll"]) == "106.59" and str(long["vae_long_nll"]) == "106.44"
    assert str(long["savae_long_kl"]) == "3.661" and str(long["vae_long_kl"]) == "2.239"
    assert long["long_rank_changes"] == "The order of the two flips, but one seed per run cannot settle it"
    assert long["long_lower_long"] == "`vae`"
    assert long["long_more_latent"] == "Yes" and long["long_collapse"] == "No"
    assert long["long_scale_words"] == "larger than either difference"
    table = latent_use_findings.long_runs(rec)
    assert list(table.index) == ["vae", "vae-long", "savae", "savae-long"]
    assert "time_vs_vae" not in table and table.loc["savae-long", "device"] == "NVIDIA H200 GPU"
    # the same images: every IW-NLL beside the bound on its own images, which lie above the whole split's bound
    same = latent_use_findings.same_examples(rec)
    assert (same["iw_examples"] == 500).all() and math.isnan(same.loc["autoreg", "bound_iw"])
    summary = rec.summary_frame()
    latent = same["bound_iw"].notna()
    assert (same.loc[latent, "bound_iw"] > summary.loc[latent[latent].index, "iw_nll"]).all()
    assert (same.loc[latent, "bound_iw"] > summary.loc[latent[latent].index, "nll_bound"] + 4).all()
    sub = latent_use_findings.iw_subset(rec)
    assert sub["iw_every"] == 10 and sub["iw_drawers"] == "0 and 10" and sub["test_characters"] == "250"
    levels = latent_use_findings.nll_levels(rec, check=iw)
    assert levels["level_runs"] == 6 and levels["level_check_images"] == "100" and levels["level_check_every"] == 50
    lo, hi = (float(v) for v in levels["level_valid"].split("–"))
    assert 95 < lo < hi < 99 and levels["level_test"].startswith("102.")
    assert list(iw.columns) == [100, 500, "500 − 100", "bound, same images", "images"]
    assert (iw["bound, same images"] > iw[500]).all()
    assert "not comparable" in latent_use_findings.split_note("npz")
    assert latent_use_findings.split_note("other") == "Loader source `other`."
    table = latent_use_findings.convergence_table(conv, list(settings))
    assert list(table.index) == [n for n in settings if n in set(conv["setting"])]


def test_latent_use_verdict_words_follow_the_numbers():
    rows = [{"setting": n, "mode": n, "seed": s, "iw_nll": nll + 0.01 * s, "kl": kl, "mi": kl, "au": 5.0,
             "history": [{"epoch": 1, "nll_bound": 100.0}, {"epoch": 2, "nll_bound": 101.0}],
             "epochs_run": 2, "best_epoch": 1}
            for n, nll, kl in (("autoreg", 110.0, 0.0), ("vae", 107.0, 0.05), ("savae", 106.0, 0.04))
            for s in (1, 2, 3)]
    rec = {"rows": rows, "summary": records.summarize(rows)}
    depths = pd.DataFrame({"mode": ["vae", "vae", "savae", "savae"], "layers": [2, 4, 2, 4],
                           "KL": [1.0, 2.0, 3.0, 1.0], "AU": [3, 4, 5, 6],
                           "IW-NLL": [10.0, 9.0, 9.5, 9.2]}).set_index(["mode", "layers"])
    conv = latent_use_findings.convergence(rec)
    a = latent_use_findings.answers(rec, ["autoreg", "vae", "savae"], depths, conv, pd.DataFrame(), 32)
    assert a["vae_uses"] == "No, it collapses" and a["more_latent"] == "No"
    assert a["nll_word"] == "better" and a["nll_words"] == "better by more than 2 sd"
    assert a["converged"] == "Yes" and a["au_saturated"] == "No" and "iw_min" not in a
    assert a["depth_pairs"] == "2 layers KL ×3.0, IW-NLL -0.50, 4 layers KL ×0.5, IW-NLL +0.20"
    d = latent_use_findings.depth_reading(pd.DataFrame(rec["summary"]).set_index("setting"), depths)
    assert d["vae_kl_trend"] == "rises" and d["savae_kl_trend"] == "falls" and d["kl_above"] == "not above"
    assert d["kl_trends"] == "`vae`'s KL rises as the decoder deepens, while `savae`'s falls"


def _run(setting, mode, nll, kl, device="cpu", epochs=2, bounds=(100.0, 99.0)):
    history = [{"epoch": e + 1, "nll_bound": b} for e, b in enumerate(bounds)]
    history += [{"epoch": e, "nll_bound": bounds[-1] - 0.1 * (e - len(bounds))}
                for e in range(len(bounds) + 1, epochs + 1)]
    env = {"device": device, "cpu_threads": 1, **({"gpu": "NVIDIA T4"} if device == "cuda" else {})}
    return {"setting": setting, "mode": mode, "seed": 1, "iw_nll": nll, "kl": kl, "mi": kl, "au": 4,
            "device": device, "environment": env, "history": history, "epochs_run": epochs, "best_epoch": epochs,
            "nll_bound": nll - 4, "train_time_per_epoch_s": 1.0,
            "test": {"iw": {"examples": 5, "nll_bound_same_examples": nll + 1}}}


def test_long_reading_words_follow_the_numbers():
    def reading(rows):
        rows = rows + [dict(r, seed=2, iw_nll=r["iw_nll"] + 0.5) for r in rows if r["setting"] in ("vae", "savae")]
        return latent_use_findings.long_reading({"rows": rows, "summary": records.summarize(rows)})

    short = [_run("vae", "vae", 107.0, 1.0), _run("savae", "savae", 106.0, 2.0)]
    # the order holds, savae-long on another device (no retrace), the VAE collapses when trained longer
    a = reading(short + [_run("vae-long", "vae", 106.5, 0.05, epochs=4),
                         _run("savae-long", "savae", 105.0, 2.5, device="cuda", epochs=4, bounds=(101.0, 99.5))])
    assert a["long_rank_changes"] == "The order of the two holds, on one seed per run"
    assert a["long_lower_long"] == "`savae`"
    assert a["long_collapse"] == "Yes: `vae`" and a["long_more_latent"] == "Partly"
    assert a["long_which_higher"] == "KL higher, MI higher, AU not higher"
    assert a["vae_retrace"].startswith("It retraces") and "identical" in a["vae_retrace"]
    assert a["savae_retrace"].startswith("It does not retrace") and a["savae_short_device"] == "one CPU thread"
    assert a["vae_retrace"].count(":") == 1 and a["vae_retrace"].endswith(".")
    assert a["vae_long_where"] == "trained on one CPU thread, as `vae`'s seed-1 run did"
    assert a["savae_long_device"] == "an NVIDIA T4 GPU" and a["vae_long_device"] == "one CPU thread"
    assert str(a["savae_retrace_gap"]) == "1.00" and str(a["savae_gap_last"]) == "0.50"
    assert str(a["long_diff_long"]) == "-1.50" and a["long_scale_words"] == "not larger than both differences"
    assert a["long_still_falling"] == "still falling for both"
    # the order flips, within the seeds' spread; SA-VAE uses z less; nobody collapses
    b = reading(short + [_run("vae-long", "vae", 105.9, 3.0, epochs=4),
                         _run("savae-long", "savae", 106.1, 2.5, epochs=4)])
    assert b["long_rank_changes"] == "The order of the two flips, but one seed per run cannot settle it"
    assert b["long_lower_long"] == "`vae`"
    assert b["long_more_latent"] == "No" and b["long_collapse"] == "No"
    assert b["long_scale_words"] == "not larger than both differences"  # |diff| 1.0 at 2 epochs > sd 0.35
    assert latent_use_findings.long_reading({"rows": short, "summary": records.summarize(short)}) == {}


def test_subset_ink_and_iw_subset():
    torch = pytest.importorskip("torch")
    images = torch.zeros(10, 1, 2, 2)
    images[::5] = 1  # images 0 and 5 all ink: the 2 images spread over 10 are exactly those
    assert latent_use_findings.subset_ink([images[:4], images[4:]], 2) == pytest.approx(4 / 0.8 - 1)
    assert latent_use_findings.mean_ink(images) == pytest.approx(0.8) and latent_use_findings.mean_ink(images, 2) == 4
    rows = [_run("vae", "vae", 107.0, 1.0), _run("savae", "savae", 106.0, 2.0)]
    sub = latent_use_findings.iw_subset({"rows": rows, "dataset": {"images": {"test": 40}}})
    assert sub["iw_every"] == 8 and sub["iw_drawers"] == "0 and 4 and 8 and 12 and 16"  # images 0, 8, .., 32
    rows[1]["test"]["iw"]["examples"] = 6
    with pytest.raises(ValueError, match="different test images"):
        latent_use_findings.iw_subset({"rows": rows, "dataset": {"images": {"test": 40}}})


def test_saliency_readings_on_the_committed_record():
    rec = records.load(BOOK / "saliency.json")
    a = saliency_findings.answers(rec)
    assert a["content_verdict"] in ("agrees", "agrees in part", "disagrees") and a["pairs"] == 20
    assert a["end_side"] in ("above", "below") and a["vanish"] in ("it nearly vanishes",
                                                                   "smaller, but it does not vanish")
    n = saliency_findings.noise_floor(rec)
    assert str(n["pure_fall"]) == "10.0" and n["noise_sentences"] == 200
    assert n["s_list"] == "1, 10 and 100" and str(n["s_ratio"]) == "100" and (n["s_low"], n["s_high"]) == (1, 100)
    assert saliency_findings.tagger(rec)["acc_written"].startswith("**")
    t = saliency_findings.panel(rec, "savae", "coarse tag")
    order = saliency_findings.pos_order(t)
    assert order[:len(saliency_findings.PAPER_POS)] == [g for g in saliency_findings.PAPER_POS if g in t.index]


def test_saliency_verdict_words():
    assert saliency_findings.agreement(20, 20) == "agrees"
    assert saliency_findings.agreement(11, 20) == "agrees in part"
    assert saliency_findings.agreement(10, 20) == "disagrees"
    assert saliency_findings.position_trend(-0.2, 1e-5) == "earlier tokens higher, as in the paper"
    assert saliency_findings.position_trend(0.2, 1e-5) == "later tokens higher, unlike the paper"
    assert saliency_findings.position_trend(-0.2, 0.5) == "no clear trend with position"
    assert saliency_findings.vanishes(0.05) == "it nearly vanishes"
    assert saliency_findings.noise_kind(9.0, 10.0) == "mostly noise"
    assert saliency_findings.noise_kind(1.1, 10.0) == "a real dependence on z, not noise"
    assert saliency_findings.noise_kind(1.5, 10.0) == "part noise, part a real dependence on z"
    assert saliency_findings.noise_kind(5.0, 10.0) == "mostly noise"  # 97 % of the S = 1 saliency is noise
    t = pd.DataFrame({"mean": [1.0, 3.0], "count": [3, 1]}, index=["a", "b"])
    assert saliency_findings.group_mean(t, ["a", "b", "c"]) == pytest.approx(1.5)


def test_saliency_noise_words_follow_the_fall():
    # a mean saliency that does not fall has no noise in it, whatever the sample counts (quick mode: S = 1 and 4)
    assert saliency_findings.noise_share(1.0, 2.0) == 0 and saliency_findings.noise_share(2.0, 2.0) == 1
    assert saliency_findings.noise_kind(1.0, 2.0) == "a real dependence on z, not noise"
    assert saliency_findings.noise_kind(2.0, 2.0) == "mostly noise"
    assert saliency_findings.noise_kind(1.0, 1.0) == "not measured"

    def model(kl, au, checkpoint, falls):
        floor = [{"samples": s, "sentences": 16, "output_saliency_mean": 0.1 * f, "input_saliency_mean": 0.2 * f}
                 for s, f in zip((1, 4), falls)]
        table = [{"rel_bucket": b, "mean": 0.1, "count": 5} for b in (0, 1)]
        return {"checkpoint": checkpoint, "record": {"test": {"refine": {"kl": kl, "au": au}}},
                "noise_floor": floor, "tables": {"input_saliency": {"relative position": table}}}

    quick = {"config": {"panels": {"relative position": "rel_bucket"}},
             "models": {"savae": model(0.004, 0, None, (1.0, 1.0)), "vae+anneal": model(0.003, 0, None, (2.0, 1.0))}}
    n = saliency_findings.noise_floor(quick)
    assert n["s_list"] == "1 and 4" and str(n["s_ratio"]) == "4" and str(n["pure_fall"]) == "2.0"
    assert str(n["savae_out_fall"]) == "1.0" and n["savae_noise"] == "a real dependence on z, not noise"
    assert n["vae_noise"] == "mostly noise"
    note = saliency_findings.models_note(quick)
    assert "tiny" in note and "committed models" in note and "next to no information" in note
    assert "0 active units" in note and "We analyse the two committed" not in note
    full = {"models": {"savae": model(0.844, 1, "a.pt", (1, 1)), "vae+anneal": model(0.003, 0, "b.pt", (1, 1))}}
    note = saliency_findings.models_note(full)
    assert note.startswith("We analyse the two committed")
    assert "some information (KL 0.844 nats in 1 active unit)" in note
    assert saliency_findings.channel(0.004, 0).startswith("carries next to nothing")
    assert saliency_findings.channel(0.5, 0).startswith("carries next to nothing")  # no active unit
    assert "one coarse property" in saliency_findings.channel(0.844, 1)
    assert "a few coarse properties" in saliency_findings.channel(3.0, 4)
    assert saliency_findings.channel(None, "–").startswith("carries next to nothing")


def test_latent_use_sentences_read_as_sentences():
    t = latent_use_findings.trends
    assert t("vae", "falls", "savae", "falls") == "`vae`'s KL falls as the decoder deepens, as does `savae`'s"
    assert t("vae", "rises", "savae", "falls") == "`vae`'s KL rises as the decoder deepens, while `savae`'s falls"
    assert t("vae", "does not move in one direction", "savae", "does not move in one direction").endswith(
        "as the decoder deepens, nor does `savae`'s")
    assert latent_use_findings.rank_change("`vae`", "`savae`").endswith("cannot settle it")
    # the cost table: a run timed on another device has no ratio, and the sentence names it without a dash
    rows = [_run("vae", "vae", 107.0, 1.0), _run("savae-long", "savae", 105.0, 2.5, device="cuda")]
    summary = records.summarize(rows)
    for r in summary:
        r["time_vs_vae"] = 1.0 if r["setting"] == "vae" else float("nan")
    note = latent_use_findings.cost_note({"rows": rows, "summary": summary})
    assert note == ("The exception is `savae-long`, timed on an NVIDIA T4 GPU: its time is not divided by a time "
                    "of another device, so the table gives it no ratio.")
    summary[1]["time_vs_vae"] = 5.0
    assert latent_use_findings.cost_note({"rows": rows, "summary": summary}) == "Every run in the table has its ratio."
    committed = latent_use_findings.cost_note(records.load(BOOK / "latent_use.json"))
    assert committed.startswith("The exception is `savae-long`, timed on an NVIDIA H200 GPU") and "–" not in committed
    # what the page says of the models it draws: quick models are labelled and not read as the record's
    full, quick, mixed = (latent_use_findings.drawings(q, 6) for q in (0, 6, 2))
    assert "ink and extent" in full["draw_compare"] and "committed" in full["draw_source"]
    assert "(quick model)" in quick["draw_source"] and "ink" not in quick["draw_compare"]
    assert "noise" in quick["draw_lead"] and "committed checkpoints" not in quick["draw_source"]
    assert "(quick model)" in mixed["draw_source"] and "committed models' rows" in mixed["draw_compare"]


def test_synthetic_readings():
    rec = records.load(BOOK / "synthetic.json")
    f = synthetic_findings.findings(rec)
    for setting in ("oracle", "learned"):
        assert f[f"{setting}_best"] != f[f"{setting}_second"]
        assert float(f[f"{setting}_best_bound"]) <= float(f[f"{setting}_second_bound"])
        assert f[f"{setting}_words"] in ("better by more than 2 sd", "within the seeds' spread")
    s = synthetic_findings.summary_frame(rec)
    assert s["gap"].min() > 0 and s.loc[("Oracle Gen", "svi"), ["epochs_run", "train_s"]].isna().all()
    assert "True NLL of the oracle" in synthetic_findings.set_up(rec)
    assert set(synthetic_findings.table_columns(s)) <= set(synthetic_findings.COLUMNS)


def test_numbers_never_break_while_headers_wrap_to_fit_the_column():
    out = records.html(pd.DataFrame({"a long human header of a quantity": [1.0]}, index=["vae"]))
    assert "white-space: nowrap" in out and "white-space: normal" in out  # td keeps "67.39 ± 0.15" whole


def test_a_column_of_prose_wraps_and_reads_from_the_left_while_numbers_stay_whole():
    from savae_lite.records.tables import PROSE_STYLE, is_prose

    assert is_prose("K = 10 SVI steps in training and at test time")
    assert is_prose("trained in runs/saliency-quick.units/savae-s1-411aa1f62ab4")
    for cell in ("67.39 ± 0.15", "0.0123 [0.0100, 0.0150]", "1,172,705 / 628,513", "cuda", "PPL 101.40",
                 "≤ 327.5 (bound)", 1.5, None):
        assert not is_prose(cell), cell
    frame = pd.DataFrame({"change": ["decoder LSTM of 64 units", "fewer"], "KL": [0.5, 0.25]},
                         index=pd.Index(["savae-dec64", "vae"], name="sweep"))
    styler = records.table(frame)
    out = styler.to_html()
    css = out[:out.index("</style>")]
    rule = css[css.rindex("}", 0, css.index("overflow-wrap: anywhere")) + 1:css.index("overflow-wrap: anywhere")]
    selector = rule[:rule.index("{")]
    assert "row0_col0" in selector and "row1_col0" in selector  # both cells of "change", even the short one
    assert "col1" not in selector  # the numbers do not wrap
    assert "white-space: normal !important" in rule and PROSE_STYLE.split(";")[0] in rule
    numbers = records.table(pd.DataFrame({"IW-NLL": [67.39]}, index=["vae"])).to_html()
    assert "overflow-wrap" not in numbers  # a table without prose keeps every cell on one line


def test_table_text_is_escaped_and_long_names_may_wrap_after_a_plus():
    frame = pd.DataFrame({"text": ["5,000 words (with <unk>, <s>)"]},
                         index=["aggressive+anneal"])
    out = records.html(frame)
    assert "&lt;unk&gt;" in out and "<unk>" not in out  # the page shows "<unk>", not an unknown tag
    assert "aggressive+<wbr>anneal" in out
    short = records.html(pd.DataFrame({"KL": [1.0]}, index=["vae+svi+kl"]))
    assert "vae+svi+kl" in short and "<wbr>" not in short  # a short mode name stays whole


def test_config_differences_show_values_as_a_reader_reads_them():
    """The paper's Omniglot set-up against the study's: an unset limit reads "no limit", 9.0 epochs read 9."""
    from savae_lite.presets import preset

    d = latent_use_findings.config_differences(preset("omniglot-paper"), preset("omniglot-study"))
    assert d.loc["data.max_images", "omniglot-paper"] == "no limit" and d.loc["data.max_images", "ours"] == "5000"
    assert d.loc["train.kl_warmup_epochs", "omniglot-paper"] == "9"
    assert "None" not in d.to_string() and ".0 " not in d.to_string() + " "
