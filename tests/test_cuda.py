"""The CUDA path (skipped without a GPU; run by scripts/gpu_session.sh on a lent GPU machine): Algorithm 1's
gradients on the GPU equal the CPU's for both HVP back-ends, every training mode takes a step there, evaluation
agrees with the CPU's, and a run killed and resumed on the GPU ends where an uninterrupted one ends."""
import copy

import pytest
import torch

from savae_lite.checks import relative_error
from savae_lite.evaluate import evaluate
from savae_lite.modes import MODES, training_step
from savae_lite.svi import SVIConfig
from savae_lite.unrolled import unrolled_svi
from tests.conftest import tiny_sentences, tiny_text_vae

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def same_noise_on_both_devices(monkeypatch):
    """CPU and CUDA draw different random numbers from the same seed: every Gaussian draw of these tests comes
    from one CPU stream (reset per device run by :func:`reseed`) and is moved to the tensor's device, so the
    two devices compute on the same noise."""
    real = torch.randn_like

    def cpu_randn_like(t, *args, **kwargs):
        return real(t, device="cpu").to(t.device)

    monkeypatch.setattr(torch, "randn_like", cpu_randn_like)


def reseed():
    torch.manual_seed(1234)
CFG = SVIConfig(steps=3, lr_mu=0.1, lr_logvar=0.1, momentum=0.5, clip=5.0)


@pytest.mark.parametrize("hvp", ["fd", "exact"])
def test_algorithm_1_on_cuda_equals_the_cpu(hvp):
    cpu = tiny_text_vae(dropout=0.0)
    gpu = copy.deepcopy(cpu).cuda()
    x = tiny_sentences()
    outs = []
    for model, dev in ((cpu, "cpu"), (gpu, "cuda")):
        reseed()
        xd = x.to(dev)
        mu0, lv0 = model.encode(xd)
        out = unrolled_svi(model, xd, mu0.detach(), lv0.detach(), CFG, hvp=hvp)
        outs.append(out)
    pairs = [(outs[0].grad_mu0, outs[1].grad_mu0), (outs[0].grad_logvar0, outs[1].grad_logvar0),
             *zip(outs[0].grad_theta, outs[1].grad_theta)]
    errors = [relative_error(b.cpu(), a) for a, b in pairs]  # float64 models: cuDNN vs the CPU's kernels
    assert max(errors) < 1e-6, errors


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_steps_on_cuda(mode):
    from savae_lite.models.text import LSTMLanguageModel, TextModelConfig

    torch.manual_seed(0)
    model = (LSTMLanguageModel(TextModelConfig.tiny(20)) if mode == "autoreg" else tiny_text_vae()).cuda().float()
    model.zero_grad()
    stats = training_step(model, tiny_sentences().cuda(), "vae" if mode == "aggressive" else mode, CFG)
    assert torch.isfinite(torch.as_tensor(float(stats.loss)))
    assert any(p.grad is not None and p.grad.is_cuda for p in model.parameters())


def test_evaluation_on_cuda_agrees_with_the_cpu():
    cpu = tiny_text_vae(dropout=0.0)
    gpu = copy.deepcopy(cpu).cuda()
    batches = [tiny_sentences(seed=s) for s in range(3)]
    reseed()
    a = evaluate(cpu, batches, device=torch.device("cpu"))
    reseed()
    b = evaluate(gpu, batches, device=torch.device("cuda"))
    for key in ("nll_bound", "kl"):
        assert a[key] == pytest.approx(b[key], rel=1e-6), (key, a, b)
    refine = CFG
    reseed()
    a = evaluate(cpu, batches, refine=refine, device=torch.device("cpu"))  # test-time SVI in eval mode
    reseed()
    b = evaluate(gpu, batches, refine=refine, device=torch.device("cuda"))
    assert a["nll_bound"] == pytest.approx(b["nll_bound"], rel=1e-6), (a, b)


def test_a_resumed_cuda_run_ends_where_an_uninterrupted_one_ends(tmp_path):
    from savae_lite.train import Trainer
    from tests.conftest import text_run_config, text_run_splits

    def run(out, epochs):
        cfg = text_run_config(out, mode="savae")
        cfg.train.device, cfg.train.epochs = "cuda", epochs
        return Trainer(cfg, splits=text_run_splits()).fit()

    whole = run(tmp_path / "a", 2)
    run(tmp_path / "b", 1)
    resumed = run(tmp_path / "b", 2)
    assert resumed["resumed"]
    for variant in ("no_refine", "refine"):  # cuDNN's kernels may sum in another order than on resume's first run
        assert resumed["test"][variant]["nll_bound"] == pytest.approx(whole["test"][variant]["nll_bound"], rel=1e-5)
