"""The words chapters 1 and 2 glue (gap_findings.py), on made-up tables that force each reading both ways."""
import pandas as pd
import pytest
import torch

from savae_lite import gap
from savae_lite import gap_findings as F


def gaps(narrow_amortization, approximation=0.2):
    return pd.DataFrame({"approximation gap": [approximation, approximation],
                         "amortization gap": [0.004, narrow_amortization]}, index=["linear", F.NARROW])


def test_inference_gaps_say_which_gap_is_larger():
    a = F.inference_gaps(gaps(0.9))
    assert a == {"ag_linear_gap": "0.004", "ag_narrow_gap": "0.90", "ag_approx_gap": "0.20",
                 "ag_narrow_vs_approx": "larger than"}
    assert F.inference_gaps(gaps(0.1))["ag_narrow_vs_approx"] == "smaller than"


def sweep(test_gap, train_gap, widths=(0, 1, 4, 64), seeds=(0, 1)):
    """A made-up capacity sweep: ``test_gap[n][w]`` and ``train_gap[n][w]`` for n in (50, 1000), every seed
    the same value but seed 1, which is 0.002 nats higher (the mean is what is read)."""
    return pd.DataFrame([{"n_train": n, "enc_hidden": w, "seed": s, "test gap": test_gap[n][w] + 0.002 * s,
                          "train gap": train_gap[n][w] + 0.002 * s}
                         for n in (50, 1000) for w in widths for s in seeds])


@pytest.fixture(scope="module")
def decoder():
    return gap.make_toy_problem(n_train=8, n_test=8, seed=0).model


def test_capacity_reads_the_best_width_overfitting_and_parameters(decoder):
    test = {1000: {0: 0.50, 1: 0.90, 4: 0.05, 64: 0.10}, 50: {0: 0.60, 1: 1.00, 4: 0.40, 64: 0.90}}
    train = {1000: {0: 0.50, 1: 0.90, 4: 0.05, 64: 0.09}, 50: {0: 0.55, 1: 1.10, 4: 0.10, 64: 0.05}}
    a = F.capacity(sweep(test, train), decoder, n_train=1000)
    assert a["ag_best_width"] == "4" and a["ag_best_width_gap"] == "0.051" and a["ag_width1_gap"] == "0.90"
    assert a["ag_best_vs_linear"] == "smaller than" and a["ag_widest"] == "64"
    assert a["ag_linear_vs_wide"] == "larger than" and a["ag_linear_vs_wide_small"] == "smaller than"
    assert a["ag_wide_small_vs_big"] == "larger than"
    assert a["ag_overfit"] == "3 of 4 encoders"  # width 1 generalises (1.00 < 1.10), the others do not
    # a linear encoder for a 10-dimensional x and a 2-dimensional z: (10 + 1) * 4 parameters (mu and log var)
    assert a["ag_linear_params"] == "44" and int(a["ag_wide_params"].replace(",", "")) > 44
    even = {n: {w: 0.3 for w in (0, 1, 4, 64)} for n in (50, 1000)}
    b = F.capacity(sweep(even, even), decoder, n_train=1000)
    assert b["ag_best_vs_linear"] == "about as small as" and b["ag_overfit"] == "no encoder"


def test_joint_training_says_lower_or_higher_and_the_column_cosine():
    frame = pd.DataFrame({"approximation gap": [0.5, 0.05], "log p(x)": [-10.0, -10.2]})
    W = torch.tensor([[1.0, 1.0], [0.0, 1.0]])  # columns at 45 degrees
    a = F.joint_training(frame, W, torch.eye(2))
    assert a["ag_joint_logp"] == "0.200 nats lower" and a["ag_joint_logp_diff"] == "0.200"
    assert a["ag_joint_cos"] == "0.71" and a["ag_true_cos"] == "0.00" and a["ag_joint_approx"] == "0.050"
    frame.loc[1, "log p(x)"] = -9.9
    assert F.joint_training(frame, W, W)["ag_joint_logp"] == "0.100 nats higher"


def test_momentum_and_training_modes_read_both_ways():
    moms = pd.DataFrame({"β = 0.0": [1.0, 0.30], "β = 0.5": [0.8, 0.10], "β = 0.9": [0.5, 0.105]},
                        index=[20, 300])
    a = F.momentum(moms)
    assert a["svi_mom_K"] == "300" and a["svi_mom_09_vs_05"] == "about as small as"
    assert a["svi_mom_0_vs_05"] == "is still behind"
    moms.loc[300, "β = 0.0"] = 0.101
    assert F.momentum(moms)["svi_mom_0_vs_05"] == "has caught up with"
    table = pd.DataFrame({"log p(x)": [-12.0, -12.5, -11.75], "encoder ELBO": [-13.0, None, -12.0],
                          "ELBO, 20 SVI steps from encoder": [-12.4, None, -11.9]},
                         index=["vae", "svi", "vae+svi"])
    b = F.training_modes(table)
    assert b["svi_logp_svi"] == "0.500 nats below the VAE's" and b["svi_logp_vaesvi"] == "0.250 nats above the VAE's"
    assert b["svi_vae_enc_elbo"] == "-13.000" and b["svi_vae_svi_elbo"] == "-12.400"
