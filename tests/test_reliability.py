"""A run that never loses work, never writes a bad checkpoint, and bad inputs that get clear errors.

Covered elsewhere (not repeated here): a resume at an epoch boundary and a resume with a different config
(tests/test_train.py); NaN loss with stop/skip (tests/test_train.py); non-UTF-8 lines, empty files, unknown
corpora, checksum mismatches of fetched/npz files, truncated npz/PNG/conllu files (tests/test_data.py).
"""
from __future__ import annotations

import io
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from savae_lite import checkpoint
from savae_lite.config import DataConfig, RunConfig, TrainConfig
from savae_lite.data import DataError, load_text, text_batches
from savae_lite.data.text import split_lines
from savae_lite.models.text import LSTMLanguageModel, TextModelConfig, TextVAE
from savae_lite.modes import training_step
from savae_lite.svi import SVIConfig
from savae_lite.train import Trainer
from tests.conftest import tiny_sentences, tiny_text_splits

REPO = Path(__file__).resolve().parents[1]


# ================================================================================ helpers
def splits(n_batches=5):
    return tiny_text_splits(n_batches, n_lengths=3, n_valid=2, n_test=2)


def config(out_dir, mode="savae", **train) -> RunConfig:
    base = dict(mode=mode, epochs=2, optimizer="sgd", lr=0.5, svi=SVIConfig(steps=2, lr_mu=0.1, lr_logvar=0.1),
                iw_samples=3, out_dir=str(out_dir), progress=False, device="cpu", kl_warmup_epochs=1,
                decay_start_epoch=0, checkpoint_every=1)
    base.update(train)
    return RunConfig(data=DataConfig(name="ptb", batch_size=4), train=TrainConfig(**base), model_kind="text",
                     model={"vocab_size": 20, "dropout": 0.3}, model_preset="tiny")


def params_of(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def strip_times(history):
    return [{k: v for k, v in row.items() if not k.endswith("_time_s")} for row in history]


# ================================================================================ killed runs resume exactly
def _train_cmd(out_dir: Path) -> list[str]:
    return [sys.executable, "-m", "savae_lite.cli", "train", "--preset", "ptb-quick", "--max-sentences", "40",
            "--max-steps-per-epoch", "6", "--epochs", "2", "--checkpoint-every", "1", "--iw-samples", "3",
            "--iw-max-examples", "6", "--model", "dropout=0.3", "--no-progress", "--device", "cpu",
            "--out-dir", str(out_dir)]


def _stamp(path: Path):
    try:
        s = path.stat()
        return s.st_ino, s.st_mtime_ns
    except FileNotFoundError:
        return None


def test_sigkill_at_random_points_resumes_to_the_same_parameters(tmp_path):
    """`savae-lite train` killed with SIGKILL at random points (right after a checkpoint appears, plus a random
    delay) and restarted until it finishes ends with the same parameters, history and test metrics as an
    uninterrupted run. At least one restart must resume from a checkpoint written in the middle of an epoch."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    reference = subprocess.Popen(_train_cmd(ref_dir), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
    rng = random.Random(20180212)
    last = run_dir / "last.pt"
    kills, resumed_from, deadline = 0, [], time.monotonic() + 150
    while True:
        assert time.monotonic() < deadline, "the killed run did not finish in time"
        if last.exists():
            state = checkpoint.load(last)["state"]
            resumed_from.append((state["epoch"], state["step_in_epoch"]))
        proc = subprocess.Popen(_train_cmd(run_dir), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        mid_epoch_seen = any(step > 0 for _, step in resumed_from)
        if kills < 2 or (not mid_epoch_seen and kills < 6):
            before, changes, wanted = _stamp(last), 0, rng.randint(1, 3)
            while proc.poll() is None and changes < wanted:  # wait for `wanted` fresh checkpoints
                now = _stamp(last)
                if now is not None and now != before:
                    changes, before = changes + 1, now
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        break
    _, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, err.decode()[-2000:]
    assert kills >= 1 and any(step > 0 for _, step in resumed_from), (kills, resumed_from)
    for name in ("best.pt", "last.pt"):
        a, b = checkpoint.load(ref_dir / name), checkpoint.load(run_dir / name)
        assert_same_state(a["model"], b["model"])
    ref_last, run_last = checkpoint.load(ref_dir / "last.pt"), checkpoint.load(run_dir / "last.pt")
    assert strip_times(ref_last["history"]) == strip_times(run_last["history"])
    import json

    ref_rec, run_rec = (json.loads((d / "results.json").read_text()) for d in (ref_dir, run_dir))
    assert run_rec["status"] == "finished" and run_rec["resumed"]
    assert ref_rec["test"] == run_rec["test"]
    assert not list(run_dir.glob("*.tmp"))  # a temporary file of a killed write is cleaned up on resume


def test_mid_epoch_resume_is_exact(tmp_path, monkeypatch):
    """A crash in the middle of epoch 2 (after a mid-epoch checkpoint) and a restart give bit-identical
    parameters, history and test metrics: position in the epoch, RNG state, accumulators are restored."""
    import savae_lite.loop as loop_mod

    full = Trainer(config(tmp_path / "full"), splits=splits())
    full_rec = full.fit()
    real, calls = loop_mod.training_step, {"n": 0}

    def crash_at_step_8(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:  # epoch 2, third batch
            raise KeyboardInterrupt("simulated kill")
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_mod, "training_step", crash_at_step_8)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(tmp_path / "split"), splits=splits()).fit()
    monkeypatch.setattr(loop_mod, "training_step", real)
    ck = checkpoint.load(tmp_path / "split" / "last.pt")
    assert (ck["state"]["epoch"], ck["state"]["step_in_epoch"], ck["loop"]["step_count"]) == (1, 2, 7)
    second = Trainer(config(tmp_path / "split"), splits=splits())
    rec = second.fit()
    assert rec["resumed"]
    assert_same_state(params_of(full.model), params_of(second.model))
    assert strip_times(full.history) == strip_times(second.history)
    assert full_rec["test"] == rec["test"]


def test_stale_temporary_checkpoint_is_removed_on_resume(tmp_path):
    Trainer(config(tmp_path / "r", epochs=1), splits=splits()).fit()
    stale = tmp_path / "r" / "last.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    Trainer(config(tmp_path / "r", epochs=2), splits=splits()).fit()
    assert not stale.exists()


# ================================================================================ NaN / inf
class NaNOnCall:
    """A forward hook on a module that replaces its output by NaN on the given call numbers (1-based)."""

    def __init__(self, module, calls):
        self.calls, self.n = set(calls), 0
        module.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.n += 1
        return output * float("nan") if self.n in self.calls else output


def test_nan_svi_iterate_is_reported_with_step_and_mode(tmp_path):
    trainer = Trainer(config(tmp_path / "nan"), splits=splits())
    NaNOnCall(trainer.model.decoder.h0, calls={2})  # the second SVI step of the first batch
    with pytest.raises(FloatingPointError, match=r"SVI iterate.*at step 0 in mode 'savae'.*none written yet"):
        trainer.fit()
    assert not (tmp_path / "nan" / "last.pt").exists()


def test_nan_svi_iterate_in_plain_svi_mode(tmp_path):
    trainer = Trainer(config(tmp_path / "svi", mode="svi"), splits=splits())
    NaNOnCall(trainer.model.decoder.h0, calls={2})
    with pytest.raises(FloatingPointError, match=r"non-finite loss.*at step 0 in mode 'svi'"):
        trainer.fit()


def test_nan_svi_iterate_skip_mode_skips_only_that_batch(tmp_path):
    trainer = Trainer(config(tmp_path / "skip", on_nan="skip"), splits=splits())
    NaNOnCall(trainer.model.decoder.h0, calls={2})
    record = trainer.fit()
    assert record["skipped_batches"] == 1
    last = checkpoint.load(tmp_path / "skip" / "last.pt")
    assert all(torch.isfinite(v).all() for v in last["model"].values())


def _inf_grad_on(param, batches_hit, counter):
    """Make ``param``'s gradient infinite while the trainer works on the given (0-based) step numbers."""
    def hook(grad):
        return grad * float("inf") if counter["step"] in batches_hit else grad
    param.register_hook(hook)


@pytest.mark.parametrize("mode", ["vae", "savae"])
def test_inf_gradient_stops_with_step_and_mode(mode, tmp_path):
    trainer = Trainer(config(tmp_path / mode, mode=mode), splits=splits())
    counter = {"step": 2}
    _inf_grad_on(trainer.model.decoder.out.weight, {2}, counter)
    before = params_of(trainer.model)
    with pytest.raises(FloatingPointError, match=rf"gradient norm \((nan|inf)\) at step 0 in mode '{mode}'"):
        trainer.fit()
    assert_same_state(before, params_of(trainer.model))  # no optimiser step with a bad gradient


@pytest.mark.parametrize("mode", ["vae", "savae"])
def test_inf_gradient_skip_mode(mode, tmp_path, monkeypatch):
    import savae_lite.loop as loop_mod

    trainer = Trainer(config(tmp_path / mode, mode=mode, on_nan="skip"), splits=splits())
    counter = {"step": -1}
    real = loop_mod.training_step

    def counting(*args, **kwargs):
        counter["step"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_mod, "training_step", counting)
    _inf_grad_on(trainer.model.decoder.out.weight, {1, 6}, counter)
    record = trainer.fit()
    assert record["skipped_batches"] == 2
    for name in ("last.pt", "best.pt"):
        ck = checkpoint.load(tmp_path / mode / name)
        assert all(torch.isfinite(v).all() for v in ck["model"].values())


@pytest.mark.parametrize("on_nan", ["stop", "skip"])
def test_non_finite_parameters_are_never_checkpointed(on_nan, tmp_path):
    """An optimiser step that leaves inf in the parameters (finite loss and gradient) must not reach disk."""
    trainer = Trainer(config(tmp_path / on_nan, mode="vae", on_nan=on_nan), splits=splits())
    real_step, calls = trainer.loop.optimizer.step, {"n": 0}

    def poisoned_step(*args, **kwargs):
        out = real_step(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            with torch.no_grad():
                trainer.model.decoder.h0.bias[0] = float("inf")
        return out

    trainer.loop.optimizer.step = poisoned_step
    if on_nan == "stop":
        with pytest.raises(FloatingPointError, match=r"non-finite parameters \(decoder\.h0\.bias\).*not written"):
            trainer.fit()
    else:
        with pytest.warns(RuntimeWarning, match="non-finite parameters"):
            trainer.fit()
    ck = checkpoint.load(tmp_path / on_nan / "last.pt")
    assert ck["loop"]["step_count"] == 2  # the checkpoint after the second step, the last good one
    assert all(torch.isfinite(v).all() for v in ck["model"].values())


# ================================================================================ memory-flat fd back-end
def test_fd_backend_matches_exact_in_float32_with_clipping():
    """The fd back-end's single-buffer theta accumulation (no per-step caches) in float32, K = 20, with the
    per-example clip active, against the exact back-end (itself checked against brute force in test_unrolled)."""
    from savae_lite.unrolled import unrolled_svi

    torch.manual_seed(0)
    model = TextVAE(TextModelConfig(vocab_size=60, emb_dim=16, enc_hidden=16, dec_hidden=24, latent_dim=4))
    x = tiny_sentences(6, 8, vocab=60)
    mu0, lv0 = (t.detach() for t in model.encode(x))
    cfg = SVIConfig(steps=20, lr_mu=0.2, lr_logvar=0.2, clip=1.0)
    outs = {}
    for hvp in ("fd", "exact"):
        torch.manual_seed(1)
        outs[hvp] = unrolled_svi(model, x, mu0, lv0, cfg, hvp=hvp)
    fd, ex = outs["fd"], outs["exact"]

    def rel(a, b):
        return float(torch.cat([t.flatten() for t in a]).sub(torch.cat([t.flatten() for t in b])).norm()
                     / torch.cat([t.flatten() for t in b]).norm())

    assert rel([fd.grad_mu0, fd.grad_logvar0], [ex.grad_mu0, ex.grad_logvar0]) < 2e-2
    assert rel(fd.grad_theta, ex.grad_theta) < 2e-3
    assert fd.fd_perturbation.shape == (20,) and float(fd.fd_perturbation[-1]) == pytest.approx(1.0)
    assert ex.fd_perturbation is None


# ================================================================================ bad inputs: text
@pytest.mark.parametrize("make,match", [
    (lambda x: x.float(), "integer token ids"),
    (lambda x: x[0], r"shape \(B, T\)"),
    (lambda x: x[None], r"shape \(B, T\)"),
    (lambda x: x[:, :1], "at least <s> and </s>"),
    (lambda x: x[:0], "batch is empty"),
    (lambda x: torch.where(x == 5, 20, x), r"token id 20 is outside the vocabulary \[0, 20\)"),
    (lambda x: torch.where(x == 5, -3, x), r"token id -3 is outside"),
    (lambda x: torch.cat([x, torch.zeros_like(x[:1])]), "sentence 4 of the batch is empty"),
])
def test_text_models_reject_bad_token_batches(make, match):
    torch.manual_seed(0)
    vae, lm = TextVAE(TextModelConfig.tiny(20)), LSTMLanguageModel(TextModelConfig.tiny(20))
    x = tiny_sentences(4, 7)
    x[:, 3] = 5
    bad = make(x)
    z = torch.zeros(max(bad.shape[0] if bad.dim() else 1, 1), 3)
    for call in (lambda: vae.encode(bad), lambda: vae.neg_log_lik(bad, z), lambda: lm.neg_log_lik(bad),
                 lambda: training_step(vae, bad, "savae", SVIConfig(steps=1))):
        with pytest.raises(ValueError, match=match):
            call()


_WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=4)
_LINE = st.lists(_WORD, min_size=0, max_size=30).map(" ".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(train=st.lists(_LINE, min_size=1, max_size=12), valid=st.lists(_LINE, min_size=1, max_size=5),
       test=st.lists(_LINE, min_size=1, max_size=5), max_len=st.one_of(st.none(), st.integers(1, 12)))
def test_text_pipeline_on_arbitrary_corpora(tmp_path_factory, train, valid, test, max_len):
    """Empty lines, over-long sentences, unknown words and any Unicode: the corpus loads (or fails with a
    DataError that says why), every kept sentence is <s> w.. </s> within max_len, unknown words are <unk>, and
    the batches run through a model."""
    root = tmp_path_factory.mktemp("yahoo")
    (root / "yahoo").mkdir()
    for split, lines in (("train", train), ("valid", valid), ("test", test)):
        (root / "yahoo" / f"yahoo.{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    words = {s: [ln.split() for ln in lines if ln.split()] for s, lines in
             (("train", train), ("valid", valid), ("test", test))}
    kept = {s: [w for w in ws if max_len is None or len(w) <= max_len] for s, ws in words.items()}
    if not all(kept.values()):
        with pytest.raises(DataError, match="empty"):
            load_text("yahoo", root, max_len=max_len, checksums=False)
        return
    corpus = load_text("yahoo", root, max_len=max_len, checksums=False)
    v = corpus.vocab
    train_words = {w for s in kept["train"] for w in s}
    assert train_words <= set(v.stoi)  # no vocab_size limit: every kept training word has an id
    for split in ("train", "valid", "test"):
        ids = getattr(corpus, split)
        assert len(ids) == len(kept[split])
        for sent, toks in zip(ids, kept[split]):
            assert sent[0] == v.bos_idx and sent[-1] == v.eos_idx and len(sent) == len(toks) + 2
            assert all(0 <= i < len(v) for i in sent)
            for i, w in zip(sent[1:-1], toks):
                assert i == v.stoi.get(w, v.unk_idx)
                if w not in train_words and w not in v.stoi:
                    assert i == v.unk_idx  # an unknown word
    model = TextVAE(TextModelConfig.tiny(len(v)))
    for x in text_batches(corpus.valid + corpus.test, 3, pad_idx=v.pad_idx, by_length=False):
        mu, lv = model.encode(x)
        assert torch.isfinite(model.neg_log_lik(x, mu)).all()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_split_lines_on_arbitrary_bytes(raw):
    """Any bytes: token lists, or a DataError naming the file and line -- never a UnicodeDecodeError."""
    try:
        lines = split_lines(raw, "corpus.txt")
    except DataError as err:
        assert re.match(r"corpus\.txt(:\d+: not valid UTF-8| ?: the file is empty)", str(err)), str(err)
    else:
        assert lines and all(lines) and all(w and not any(c.isspace() for c in w) for ln in lines for w in ln)


def _yahoo_archive(root: Path) -> Path:
    files = {"yahoo.train.txt": "what is a cat ?\n", "yahoo.valid.txt": "a dog\n", "yahoo.test.txt": "a cat\n",
             "vocab.txt": "a\t2\n"}
    path = root / "yahoo" / "yahoo-answer-100k.tar.gz"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode() * 200
            info = tarfile.TarInfo(f"yahoo-answer-100k/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_truncated_or_corrupted_archive_is_a_data_error(damage, tmp_path):
    path = _yahoo_archive(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x1f\x8b" + os.urandom(300))
    with pytest.raises(DataError, match=re.escape(str(path))):
        load_text("yahoo", tmp_path, checksums=False)


def test_extracted_file_with_wrong_checksum_is_a_data_error(tmp_path):
    folder = tmp_path / "yahoo"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"yahoo.{split}.txt").write_text("a tampered file\n")
    with pytest.raises(DataError, match=r"yahoo\.train\.txt: md5 checksum mismatch"):
        load_text("yahoo", tmp_path)


def test_truncated_zip_is_a_data_error(tmp_path):
    from savae_lite.data.images import read_omniglot_zip

    path = tmp_path / "images_background.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("images_background/A/character01/0001_01.png", b"\x89PNG" + os.urandom(2000))
    path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(DataError, match="images_background.zip"):
        read_omniglot_zip(path)


# ================================================================================ bad inputs: images
@pytest.mark.parametrize("x,match", [
    (torch.zeros(2, 1, 10, 10), r"12.*12"),
    (torch.zeros(2, 12, 12), r"\(B, 1, 12, 12\)|shape"),
    (torch.zeros(2, 1, 12, 12, dtype=torch.uint8), "dtype|float"),
])
def test_image_model_rejects_wrong_size_or_dtype(x, match):
    from savae_lite.models.image import ImageModelConfig, ImageVAE

    model = ImageVAE(ImageModelConfig.tiny())
    for call in (lambda: model.encode(x), lambda: model.neg_log_lik(x, torch.zeros(x.shape[0], 4))):
        with pytest.raises(ValueError, match=match):
            call()


# ================================================================================ bad inputs: settings, devices
@pytest.mark.parametrize("argv,match", [
    (["train", "--mode", "magic"], "--mode: unknown training mode 'magic'"),
    (["train", "--hvp", "magic"], "--hvp: unknown back-end"),
    (["train", "--device", "tpu"], "--device: unknown device 'tpu'"),
    (["train", "--preset", "ptb-quick", "--model", "no_such_field=3"], r"--model: unknown field"),
    (["bench", "--tiny", "--device", "tpu"], "--device: unknown device 'tpu'"),
])
def test_cli_names_the_bad_option(argv, match, tmp_path, capsys):
    from savae_lite.cli import main

    if argv[0] == "train":
        argv = argv + ["--out-dir", str(tmp_path / "run"), "--no-progress"]
    assert main(argv) == 2
    assert re.search(match, capsys.readouterr().err)


def test_unknown_mode_in_training_step():
    model = TextVAE(TextModelConfig.tiny(20))
    with pytest.raises(ValueError, match="unknown training mode 'magic'; choose one of autoreg, vae"):
        training_step(model, tiny_sentences(2, 5), "magic", SVIConfig(steps=1))


# ================================================================================ bad checkpoints
def _finished_run(tmp_path) -> Path:
    out = tmp_path / "run"
    Trainer(config(out, epochs=1, iw_samples=0), splits=splits()).fit()
    return out


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    out = _finished_run(tmp_path)
    last = out / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"last\.pt could not be loaded safely.*truncated"):
        checkpoint.load(last)
    with pytest.raises(ValueError, match=r"last\.pt could not be loaded safely"):
        Trainer(config(out, epochs=2, iw_samples=0), splits=splits()).fit()


def test_best_checkpoint_is_not_resumable(tmp_path):
    out = _finished_run(tmp_path)
    os.replace(out / "best.pt", out / "last.pt")
    with pytest.raises(ValueError, match="not a resumable checkpoint.*loop"):
        Trainer(config(out, epochs=2, iw_samples=0), splits=splits()).fit()


def test_checkpoint_weights_from_another_model_are_rejected(tmp_path):
    out = _finished_run(tmp_path)
    ck = checkpoint.load(out / "last.pt")
    ck["model"]["decoder.out.weight"] = torch.zeros(7, 7)
    checkpoint.atomic_save(ck, out / "last.pt")
    with pytest.raises(ValueError, match=r"weights do not fit the model.*decoder\.out\.weight"):
        Trainer(config(out, epochs=2, iw_samples=0), splits=splits()).fit()


def test_eval_of_checkpoint_from_a_different_config(tmp_path, capsys):
    """`savae-lite eval` on a checkpoint whose weights do not fit the model its config describes; and on a
    truncated checkpoint: exit code 2 and a message naming the file."""
    from savae_lite.build import build_model
    from savae_lite.cli import main
    from savae_lite.config import preset

    cfg = preset("ptb-quick")
    cfg.data.max_sentences = 40
    vocab = len(load_text("ptb", max_len=cfg.data.max_len, max_sentences=40).vocab)
    model = build_model(cfg, vocab)
    cfg.model["dec_hidden"] = 16  # the config now describes another model
    path = tmp_path / "best.pt"
    checkpoint.atomic_save({"model": model.state_dict(), "config": cfg.to_dict(), "vocab": None, "epoch": 1}, path)
    assert main(["eval", str(path), "--max-examples", "2"]) == 2
    assert re.search(r"best\.pt: weights do not fit the model its config describes", capsys.readouterr().err)
    path.write_bytes(path.read_bytes()[:500])
    assert main(["eval", str(path)]) == 2
    assert "could not be loaded safely" in capsys.readouterr().err


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_checkpoint_with_foreign_pickle_is_refused_and_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        torch.save({"model": _Payload()}, fh, pickle_module=pickle)
    with pytest.raises(ValueError, match="could not be loaded safely"):
        checkpoint.load(path)
    assert not (tmp_path / "PWNED").exists()


def test_no_code_path_unpickles_untrusted_data():
    """Every torch.load passes weights_only=True; no pickle/np.load(allow_pickle=True)/torch.load without it."""
    offenders = []
    for path in sorted((REPO / "savae_lite").rglob("*.py")):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.name}: {m.group(0)}")
        for pattern in (r"\bpickle\.loads?\(", r"allow_pickle\s*=\s*True", r"\bdill\b", r"\bjoblib\.load",
                        r"weights_only\s*=\s*False", r"\bmarshal\.loads?\("):
            offenders += [f"{path.name}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not offenders, offenders
