"""Output / input saliency (against finite differences and a per-token loop), token tables, aggregations and the
Figure 3 HTML. Tiny float64 models on the CPU."""
import math

import numpy as np
import pytest
import torch

from savae_lite import saliency as sal
from savae_lite.models.text import TextModelConfig, TextVAE
from savae_lite.svi import SVIConfig, svi
from tests.conftest import tiny_sentences

REFINE = SVIConfig(steps=3, lr_mu=0.5, lr_logvar=0.5, clip=None)


def tiny_model(z_at="input", seed=0):
    torch.manual_seed(seed)
    cfg = TextModelConfig.tiny(20)
    cfg.z_at = z_at
    cfg.init_range = 0.5  # larger weights than the default 0.1: gradients well above rounding
    return TextVAE(cfg).double().eval()


def padded_batch():
    x = tiny_sentences(3, 7, seed=1)
    x[1, 4], x[1, 5:] = 3, 0  # a shorter sentence: <s> w w w </s> <pad> <pad>
    return x


def fixed_lam(x, seed=2):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(x.shape[0], 3, generator=g, dtype=torch.float64), \
        0.3 * torch.randn(x.shape[0], 3, generator=g, dtype=torch.float64)


def fixed_eps(x, samples=2, seed=3):
    return torch.randn(samples, x.shape[0], 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------------------------- output


@pytest.mark.parametrize("method", ["head", "direct"])
@pytest.mark.parametrize("z_at", ["input", "output"])
def test_batched_jacobian_equals_per_token_loop(method, z_at):
    model, x = tiny_model(z_at), padded_batch()
    z = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    jac, ll = sal.token_log_lik_jacobian(model, x, z, method)
    zz = z.clone().requires_grad_(True)
    ll_ref = -model.token_nll(x, zz)
    loop = torch.stack([torch.autograd.grad(ll_ref[:, t].sum(), zz, retain_graph=True)[0]
                        for t in range(ll_ref.shape[1])], 1)  # (B, T-1, Z)
    assert jac.shape == (3, 6, 3)
    assert loop.abs().max() > 1e-3
    torch.testing.assert_close(jac, loop, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ll, ll_ref.detach())


@pytest.mark.parametrize("z_at", ["input", "output"])
def test_output_saliency_matches_finite_differences(z_at):
    model, x = tiny_model(z_at), padded_batch()
    mu, logvar = fixed_lam(x)
    eps = fixed_eps(x)
    s = sal.output_saliency(model, x, lam=(mu, logvar), eps=eps)
    z = mu + torch.exp(0.5 * logvar) * eps  # (S, B, Z)
    h, fd = 1e-6, torch.zeros(2, 3, 6, 3, dtype=torch.float64)
    with torch.no_grad():
        for j in range(3):
            e = torch.zeros(3, dtype=torch.float64)
            e[j] = h
            for k in range(2):
                fd[k, :, :, j] = (model.token_nll(x, z[k] - e) - model.token_nll(x, z[k] + e)) / (2 * h)
    ref = fd.mean(0).norm(dim=-1) * (x[:, 1:] != 0)
    assert s.shape == (3, 6)
    assert ref.min() >= 0 and ref[0].min() > 1e-3
    torch.testing.assert_close(s, ref, rtol=1e-6, atol=1e-9)
    assert (s[1, 4:] == 0).all()  # padding


def test_output_saliency_zero_when_decoder_ignores_z():
    model, x = tiny_model(), padded_batch()
    assert sal.output_saliency(model, x, REFINE, samples=3, seed=0)[x[:, 1:] != 0].min() > 0
    with torch.no_grad():
        model.decoder.h0.weight.zero_()
        model.decoder.rnn.weight_ih_l0[:, -model.latent_dim:] = 0  # the z-part of [emb; z]
    s = sal.output_saliency(model, x, REFINE, samples=3, seed=0)
    assert s.shape == (3, 6) and (s == 0).all()


def test_output_saliency_refines_with_test_time_svi():
    """lambda defaults to the encoder's output refined by SVI (same seed -> same lambda as svi())."""
    model, x = tiny_model(), padded_batch()
    eps = fixed_eps(x)
    with sal.seeded(5):
        lam = svi(model, x, *model.encode(x), REFINE)
    a = sal.output_saliency(model, x, REFINE, eps=eps, seed=5)
    torch.testing.assert_close(a, sal.output_saliency(model, x, lam=lam, eps=eps))
    assert not torch.allclose(a, sal.output_saliency(model, x, None, eps=eps))
    s, ll = sal.output_saliency(model, x, REFINE, eps=eps, seed=5, return_log_lik=True)
    assert (ll[0] < 0).all() and (ll[1, 4:] == 0).all()


# -------------------------------------------------------------------------------------------------- input


def embedding_objective(model, x, eps, refine, through_svi, seed, delta, straight=None):
    """mean_s sum_b ||z_s||^2 with ``delta`` (B, T, E) added to the encoder's embedding output (no autograd)."""
    hook = model.encoder.emb.register_forward_hook(lambda m, i, out: out + delta)
    try:
        mu0, lv0 = model.encode(x)
    finally:
        hook.remove()
    mu, lv = mu0, lv0
    if refine is not None:
        if through_svi:
            with sal.seeded(seed):
                mu, lv = svi(model, x, mu0, lv0, refine)
        else:  # the SVI shift at the unperturbed point, held constant
            mu, lv = mu0 + straight[0], lv0 + straight[1]
    return float((mu + torch.exp(0.5 * lv) * eps).pow(2).sum(-1).mean(0).sum())


@pytest.mark.parametrize("refine,through_svi", [(None, True), (REFINE, True), (REFINE, False)])
def test_input_saliency_matches_finite_differences(refine, through_svi):
    model, x = tiny_model(), padded_batch()
    eps = fixed_eps(x)
    s = sal.input_saliency(model, x, refine, eps=eps, through_svi=through_svi, seed=7)
    shift = None
    if refine is not None and not through_svi:
        with torch.no_grad():
            mu0, lv0 = model.encode(x)
        with sal.seeded(7):
            mu_k, lv_k = svi(model, x, mu0, lv0, refine)
        shift = (mu_k - mu0, lv_k - lv0)
    B, T, E = x.shape[0], x.shape[1], model.cfg.emb_dim
    h, grad = 1e-6, torch.zeros(B, T, E, dtype=torch.float64)
    with torch.no_grad():
        for b in range(B):
            for t in range(T):
                for e in range(E):
                    d = torch.zeros(B, T, E, dtype=torch.float64)
                    d[b, t, e] = h
                    f = [embedding_objective(model, x, eps, refine, through_svi, 7, sign * d, shift)
                         for sign in (1, -1)]
                    grad[b, t, e] = (f[0] - f[1]) / (2 * h)
    ref = grad.norm(dim=-1) * (x != 0)
    assert s.shape == (3, 7)
    assert ref[0].min() > 1e-4
    torch.testing.assert_close(s, ref, rtol=1e-5, atol=1e-8)
    assert (s[1, 5:] == 0).all()


def test_input_saliency_paths_differ_and_zero_without_dependence():
    model, x = tiny_model(), padded_batch()
    eps = fixed_eps(x)
    a = sal.input_saliency(model, x, REFINE, eps=eps, through_svi=True, seed=7)
    b = sal.input_saliency(model, x, REFINE, eps=eps, through_svi=False, seed=7)
    assert not torch.allclose(a, b)  # SVI's Jacobian d lambda_K / d lambda_0 is not the identity
    with torch.no_grad():
        model.encoder.out.weight.zero_()  # lambda_0 no longer depends on the words
    assert (sal.input_saliency(model, x, REFINE, eps=eps, seed=7) == 0).all()


def test_refine_differentiable_matches_svi():
    model, x = tiny_model(), padded_batch()
    cfg = SVIConfig(steps=4, lr_mu=0.5, lr_logvar=0.5, clip=0.05)  # clipping active
    mu0, lv0 = model.encode(x)
    with sal.seeded(3):
        ref = svi(model, x, mu0, lv0, cfg)
    with sal.seeded(3):
        got = sal.refine_differentiable(model, x, mu0.detach().requires_grad_(True), lv0.detach(), cfg)
    torch.testing.assert_close(got[0].detach(), ref[0])
    torch.testing.assert_close(got[1].detach(), ref[1])


# ----------------------------------------------------------------------------------------- tables, figure


class Vocab20:
    itos = ["<pad>", "<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(4, 20)]

    def decode(self, ids):
        return [self.itos[int(i)] for i in ids]


def test_saliency_table_and_aggregations():
    pytest.importorskip("pandas")
    model, x = tiny_model(), padded_batch()
    counts = sal.word_counts([["w4", "w5", "w4"], ["w6"]] * 30)
    table = sal.saliency_table(model, [x, x[:2]], Vocab20(), REFINE, samples=2, counts=counts, tagger=None,
                               seed=0)
    n_tokens = 6 + 4 + 6 + 6 + 4
    assert len(table) == n_tokens
    assert (table.groupby("sentence").size().to_numpy() == [6, 4, 6, 6, 4]).all()
    assert table.loc[table.word == "</s>", "rel_position"].eq(1.0).all()
    assert table.loc[table.word == "w4", "frequency"].eq(60).all()
    assert table.loc[table.word == "</s>", "frequency"].eq(60).all()
    first = sal.output_saliency(model, x, lam=None, refine=REFINE, seed=0, samples=1)
    assert (table.output_saliency > 0).all() and table.input_saliency.notna().all()
    assert first.shape == (3, 6)
    table["tag"] = np.where(table.word == "</s>", "</s>", "NN")
    for col in ["tag", "position", "rel_bucket", "freq_bucket", "loglik_bucket"]:
        agg = sal.aggregate(table, col)
        assert agg["count"].sum() == n_tokens, col
        ok = agg["count"] > 1
        assert (agg.ci_low[ok] <= agg["mean"][ok]).all() and (agg["mean"][ok] <= agg.ci_high[ok]).all()
    panels = sal.figure4_tables(table, ci="bootstrap", n_boot=200)
    assert set(panels) == set(sal.FIGURE4) and all(p["count"].sum() == n_tokens for p in panels.values())


def test_aggregate_t_interval():
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame({"g": ["a"] * 4 + ["b"], "v": [1.0, 2.0, 3.0, 6.0, 5.0]})
    agg = sal.aggregate(table, "g", "v").set_index("g")
    half = 3.182446305284263 * np.std([1, 2, 3, 6], ddof=1) / 2  # t_{0.975, 3}
    assert agg.loc["a", "count"] == 4 and agg.loc["a", "mean"] == 3.0
    assert math.isclose(agg.loc["a", "ci_high"] - 3.0, half, rel_tol=1e-9)
    assert math.isnan(agg.loc["b", "ci_low"])


def test_render_html():
    page = sal.render_html(["the", "<unk>", "cat", "</s>"], [0.1, 0.0, 0.4, 0.2], samples=["a b", ["c", "&"]])
    assert isinstance(page, str) and page._repr_html_() == page
    assert page.count("<span") == 4 and "&lt;unk&gt;" in page and "&amp;" in page
    assert "rgba(214,39,40,1.000)" in page and "rgba(214,39,40,0.000)" in page  # max and zero
    assert "Posterior samples" in page and page.count("<li>") == 2 and "<script" not in page
    with pytest.raises(ValueError):
        sal.render_html(["a"], [1.0, 2.0])
