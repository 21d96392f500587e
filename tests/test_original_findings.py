"""The audit's readings (savae_lite.records.original_findings) on made-up records: the table's rows and the
verdict for each way the paper-size model can come out."""
import pytest

pytest.importorskip("pandas")

import pandas as pd  # noqa: E402

from savae_lite.records import original_findings as O  # noqa: E402


def row(model, hidden, fired, cos_total, cos_vae, cos_tv=0.3, params=1_000_000):
    return {"setting": model, "mode": "savae", "hidden": hidden, "parameters": params, "batches": 4, "K": 10,
            "clip": 5.0,
            "fired": fired, "fired_batches": [fired] * 4, "cos_original_total": cos_total,
            "cos_original_vae": cos_vae, "cos_total_vae": cos_tv, "joint_norm": 3.0 + hidden / 100,
            "norm_original_over_total": 1.0, "norm_total_over_vae": 0.1, "cos_theta_original_total": 0.9}


def record(large_total, large_vae, large_fired=1.0, trained=True):
    rows = [row("initialisation, LSTM 128", 128, 0.0, 0.9995, 0.31),
            row("initialisation, LSTM 1024", 1024, large_fired, large_total, large_vae, params=20_000_000)]
    if trained:
        rows.append({**row("trained SA-VAE (collapse-savae-s1.pt)", 128, 0.15, 0.8, 0.6), "data": "sentences"})
    return {"rows": rows}


def test_table_has_one_row_per_model_in_percent_and_millions():
    frame = O.table_frame(record(0.2, 0.9999))
    assert list(frame.index) == ["LSTM 128, initial", "LSTM 1024, initial", "LSTM 128, trained (sentences)"]
    assert frame.loc["LSTM 1024, initial", "clip fired (%)"] == 100
    assert frame.loc["LSTM 1024, initial", "parameters (M)"] == 20


@pytest.mark.parametrize("total, vae, words", [
    (0.2, 0.9999, "receives the VAE gradient's direction"),
    (0.995, 0.3, "still follows the total derivative"),
    (0.5, 0.6, "follows neither"),
])
def test_the_verdict_at_the_paper_size(total, vae, words):
    a = O.answers(record(total, vae))
    assert words in a["ob_verdict"]
    assert a["ob_small_fired"] == "0%" and a["ob_large_fired"] == "100%" and a["ob_trained_fired"] == "15%"
    assert a["ob_large_hidden"] == "1,024" and a["ob_k"] == 10


def test_without_a_trained_model_its_share_is_a_dash():
    a = O.answers(record(0.2, 0.9999, trained=False))
    assert a["ob_trained_fired"] == "–" and a["ob_trained_cos_total"] == "–"
    assert str(O.answers(record(0.2, 0.9999))["ob_trained_cos_total"]) == "0.800"


@pytest.mark.parametrize("ratios, words, span", [
    ({1: 2.8, 4: 1.05, 8: 1.04}, "stays close to", "1.04 to 1.05"),  # K = 1 is left out
    ({1: 2.8, 4: 1.6, 8: 1.17}, "stays within twice", "1.17 to 1.60"),
    ({1: 2.84, 4: 2.78, 8: 1.17}, "runs well above", "1.17 to 2.78"),
    ({1: 1.5}, "stays within twice", "1.50"),
    ({1: 0.56, 2: 0.56, 5: 1.62, 10: 0.72, 20: 1.56}, "scatters around", "0.56 to 1.62"),  # a noisy machine
    ({1: 0.5, 4: 0.7, 8: 2.9}, "scatters widely around", "0.70 to 2.90"),
])
def test_the_floor_words_follow_the_measured_ratio(ratios, words, span):
    out = O.floor_reading(ratios)
    assert out == {"fd_floor_words": words, "fd_ratio_range": span}


def test_the_backends_are_compared_by_their_time_ratio():
    assert O.backend_words(1.8).startswith("takes longer")
    assert O.backend_words(1.02).startswith("takes about as long")
    assert O.backend_words(0.7).startswith("is faster")


def _cost(times_fd, times_exact, ratios):
    rows = [{"hvp": "fd", "K": k, "time (s)": t, "ratio to 2K+1 gradients": r}
            for (k, t), r in zip(times_fd.items(), ratios)]
    rows += [{"hvp": "exact", "K": k, "time (s)": t, "ratio to 2K+1 gradients": float("nan")}
             for k, t in times_exact.items()]
    return pd.DataFrame(rows)


def test_the_cost_table_is_read_without_k_equal_one():
    """K = 1's exact/fd ratio (10) is left out of the median of 1.5, 2 and 3; its fd ratio out of the range."""
    cost = _cost({1: 0.1, 2: 1.0, 5: 2.0, 10: 1.0}, {1: 1.0, 2: 1.5, 5: 4.0, 10: 3.0}, [9.0, 1.1, 1.2, 1.15])
    out = O.cost_reading(cost)
    assert out == {"fd_ratio_range": "1.10 to 1.20", "fd_floor_words": "stays close to",
                   "exact_over_fd": "2.0", "exact_vs_fd": "takes longer per step than finite differences"}
    only_one = O.cost_reading(_cost({1: 2.0}, {1: 1.0}, [1.5]))  # nothing but K = 1: it is used
    assert only_one["exact_over_fd"] == "0.5" and only_one["exact_vs_fd"].startswith("is faster")
