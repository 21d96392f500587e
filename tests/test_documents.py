"""Multi-sentence documents (data.text.join_documents, preset ptb-documents), the documents study's definition,
and aggressive training's MI check every N updates."""
import json

import pytest
import torch

from savae_lite import documents, study
from savae_lite.config import RunConfig
from savae_lite.data.download import DataError
from savae_lite.data.text import SENTENCE_END, join_documents, load_text, text_batches
from savae_lite.presets import preset
from savae_lite.svi import SVIConfig
from savae_lite.train import Trainer


def test_documents_keep_every_sentence_once_in_order_within_the_length():
    sentences = [[f"w{i}_{j}" for j in range(n)] for i, n in enumerate([3, 5, 2, 9, 1, 4, 12, 2])]
    docs = join_documents(sentences, 10)
    flat = [w for d in docs for w in d]
    assert flat == [w for s in sentences for w in (*s, SENTENCE_END)]  # nothing lost, duplicated or reordered
    assert all(len(d) <= 10 for d in docs if d.count(SENTENCE_END) > 1)  # only a lone long sentence is longer
    assert [len(d) for d in docs] == [10, 3, 10, 7, 13, 3]  # greedy: grows while the next sentence fits
    with pytest.raises(DataError, match="doc_words"):
        join_documents(sentences, 0)


def test_ptb_documents_are_consecutive_sentences_of_the_split():
    plain = load_text("ptb", max_sentences=40)
    docs = load_text("ptb", doc_words=60, max_sentences=8)
    eos_word = docs.vocab.stoi[SENTENCE_END]
    first = docs.train[0]
    assert first[0] == docs.vocab.bos_idx and first[-1] == docs.vocab.eos_idx and len(first) - 2 <= 60
    words = [docs.vocab.itos[i] for d in docs.train for i in d[1:-1] if i != eos_word]
    expected = [plain.vocab.itos[i] for s in plain.train for i in s[1:-1]][:len(words)]
    assert words == expected  # PTB's order: a document is a stretch of consecutive sentences


def test_padded_document_batches_mask_the_padding():
    docs = load_text("ptb", doc_words=40, max_sentences=20)
    batches = text_batches(docs.train, 8, pad_idx=docs.vocab.pad_idx, by_length=False)
    assert sum(b.shape[0] for b in batches) == 20
    eos_word = docs.vocab.stoi[SENTENCE_END]
    for b in batches:
        lengths = (b != docs.vocab.pad_idx).sum(1)
        assert int(lengths.max()) == b.shape[1]  # padded on the right to the longest, nothing more
        several = (b == eos_word).sum(1) > 1  # a document of several sentences keeps to the length
        assert bool((lengths[several] <= 42).all())
    from savae_lite.models.text import TextModelConfig, TextVAE

    model = TextVAE(TextModelConfig.tiny(len(docs.vocab)))
    b = batches[0]
    assert torch.equal(model.num_targets(b), ((b != docs.vocab.pad_idx).sum(1) - 1).to(model.num_targets(b).dtype))


def test_the_documents_preset_and_study():
    cfg = preset("ptb-documents")
    cfg.validate()
    assert cfg.data.doc_words == 70 and cfg.train.svi.steps == 10 and cfg.train.aggressive_mi_every == 3125
    assert [(s.name, s.seeds) for s in documents.STUDY.settings] == [
        ("autoreg", 3), ("vae+anneal", 3), ("savae", 3), ("aggressive+anneal", 1), ("savae-original", 1),
        ("savae-original-long", 1)]
    agg = study.unit_config(cfg, documents.STUDY.setting("aggressive+anneal"), 1, "w")
    assert agg.train.kl_start == 0.1 and agg.train.mode == "aggressive"
    orig = study.unit_config(cfg, documents.STUDY.setting("savae-original"), 1, "w")
    sa = study.unit_config(cfg, documents.STUDY.setting("savae"), 1, "w")
    assert orig.train.svi.hvp == "original" and sa.train.svi.hvp == "fd" and cfg.train.svi.hvp == "fd"
    assert orig.train.epochs == documents.ORIGINAL_EPOCHS < sa.train.epochs
    # the long run continues the short one to the others' schedule: the same set-up but the epochs
    long = study.unit_config(cfg, documents.STUDY.setting("savae-original-long"), 1, "w")
    assert documents.STUDY.setting("savae-original-long").continues == "savae-original"
    assert long.train.epochs == sa.train.epochs and long.train.svi.hvp == "original"
    assert long.train.out_dir not in (orig.train.out_dir, sa.train.out_dir)
    assert orig.train.out_dir != sa.train.out_dir  # its own key
    bad = preset("omniglot-study-quick")
    bad.data.doc_words = 50
    with pytest.raises(ValueError, match="--doc-words"):
        bad.validate()


def test_records_before_the_mi_interval_read_as_checked_every_epoch():
    cfg = preset("ptb-documents").to_dict()
    del cfg["train"]["aggressive_mi_every"]
    assert RunConfig.from_dict(cfg).train.aggressive_mi_every == 0


@pytest.mark.parametrize("every", [0, 2])
def test_aggressive_mi_is_checked_every_n_updates_or_at_epoch_ends(tmp_path, every):
    cfg = preset("ptb-documents-quick")
    cfg.data.max_sentences, cfg.data.vocab_size, cfg.data.doc_words = 40, 200, 20
    cfg.model = {"emb_dim": 8, "enc_hidden": 8, "dec_hidden": 8, "latent_dim": 2}
    cfg.train.mode, cfg.train.epochs, cfg.train.max_steps_per_epoch = "aggressive", 2, 3
    cfg.train.aggressive_mi_every, cfg.train.iw_samples, cfg.train.progress = every, 0, False
    cfg.train.svi, cfg.train.out_dir, cfg.train.device = SVIConfig(steps=1), str(tmp_path), "cpu"
    torch.manual_seed(0)
    rec = Trainer(cfg).fit()
    state = rec["epochs"][-1]["aggressive"]
    steps = [c[0] for c in state["checks"]]
    if every:
        assert steps[:1] == [2] and all(s % 2 == 0 for s in steps)
    else:
        assert steps[:1] == [3]  # the end of epoch 1 (3 updates)
    assert (state["switched_off_at_step"] in steps) or state["active"]
    json.dumps(rec)
