"""`savae-lite bench --tiny` runs and writes the documented keys; the memory tracker it relies on measures what it
says. No timing assertions: timings depend on the machine."""
import json
import math

import torch

from savae_lite import bench
from savae_lite.models.text import TextModelConfig, TextVAE
from tests.conftest import tiny_sentences

ROW_KEYS = {"model", "hvp", "K", "step_s", "grad_eval_s", "ratio_to_floor", "peak_mem_mb"}


def test_bench_tiny_writes_the_documented_keys(tmp_path, capsys):
    from savae_lite.cli import main

    out = tmp_path / "tmp.json"
    assert main(["bench", "--tiny", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ratio" in printed and "wrote" in printed
    rec = json.loads(out.read_text())
    assert rec["preset"] == "tiny"
    rows = rec["savae_step"]
    ks = set(bench.PRESETS["tiny"].ks)
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
    tv = rec["trainer_vs_bare"]
    assert {"package_tokens_per_s", "bare_tokens_per_s", "ratio"} <= set(tv) and tv["ratio"] > 0
    iw = rec["iw_nll"]
    assert {"sentences_per_s", "chunk_samples", "samples"} <= set(iw) and iw["chunk_samples"] >= 1
    assert set(rec["summary"]) == {"text", "image"}


def test_tensor_memory_peak_counts_live_storage():
    with bench.TensorMemoryPeak() as tracker:
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
        peaks[k] = bench.measure_memory(lambda: bench.savae_step(model, x, k, "fd"), torch.device("cpu"))
    growth = (peaks[8]["peak_mem_mb"] - peaks[2]["peak_mem_mb"]) * 2**20
    assert growth < 0.25 * theta_bytes, (peaks, theta_bytes)
    exact = bench.measure_memory(lambda: bench.savae_step(model, x, 8, "exact"), torch.device("cpu"))
    assert exact["peak_mem_mb"] > peaks[8]["peak_mem_mb"]
