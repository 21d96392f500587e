"""The audit's readings (savae_lite.records.original_findings) on made-up records: the table's rows and the
verdict for each way the paper-size model can come out."""
import pytest

pytest.importorskip("pandas")

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
