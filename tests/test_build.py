"""From a RunConfig to data and model (build.py): the text splits, Omniglot's fixed evaluation binarisations
(valid and test from different seeds), the model config overrides and the model class per mode."""
import pytest
import torch

from savae_lite import data
from savae_lite.build import build_data, build_model, model_config
from savae_lite.models.image import ImageVAE, PixelCNNLM
from savae_lite.models.text import LSTMLanguageModel, TextVAE
from savae_lite.presets import preset


def _rows(batches):
    return sorted(tuple(int(t) for t in row if t != 0) for b in batches for row in b)


def test_text_splits_from_the_embedded_ptb():
    cfg = preset("ptb-quick")
    cfg.data.max_sentences, cfg.data.batch_size = 40, 8
    splits = build_data(cfg)
    corpus = data.load_text("ptb", max_len=cfg.data.max_len, max_sentences=40)
    assert splits.kind == "text" and len(splits.vocab) == len(corpus.vocab)
    assert splits.info == {"dataset": "ptb", "vocab_size": len(corpus.vocab),
                           "sentences": {"train": 40, "valid": 40, "test": 40}}
    assert _rows(splits.valid) == sorted(map(tuple, corpus.valid))
    assert _rows(splits.test) == sorted(map(tuple, corpus.test))
    first = splits.train_batches(torch.Generator().manual_seed(0))
    again = splits.train_batches(torch.Generator().manual_seed(0))
    other = splits.train_batches(torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and len(first) == len(again)
    assert _rows(first) == _rows(other) == sorted(map(tuple, corpus.train))  # every sentence once per epoch
    assert [b.shape for b in first] != [b.shape for b in other]  # reshuffled
    assert all(b.dtype == torch.long and b.shape[0] <= 8 for b in first + splits.valid + splits.test)


def _omniglot_cfg(batch_size=3):
    cfg = preset("omniglot-quick")
    cfg.data.batch_size = batch_size
    return cfg


def _fixed(images, batch_size, seed):
    return torch.cat(list(data.image_batches(images, batch_size, binarize="fixed", seed=seed)))


def test_omniglot_valid_and_test_are_binarised_from_different_seeds(monkeypatch):
    """The same grey images as valid and as test: their fixed binarisations must differ (one seed each), and
    each is the fixed binarisation with the run's seed (valid) and seed + 1 (test)."""
    g = torch.Generator().manual_seed(0)
    grey = torch.rand(7, 1, 28, 28, generator=g)
    images = data.ImageData(train=torch.rand(5, 1, 28, 28, generator=g), valid=grey.clone(), test=grey.clone())
    monkeypatch.setattr(data, "load_omniglot", lambda *args, **kwargs: images)
    cfg = _omniglot_cfg()
    splits = build_data(cfg)
    valid, test = torch.cat(splits.valid), torch.cat(splits.test)
    assert splits.kind == "image" and splits.vocab is None and [b.shape[0] for b in splits.valid] == [3, 3, 1]
    assert not torch.equal(valid, test)
    seed = cfg.train.seed
    assert torch.equal(valid, _fixed(grey, 3, seed)) and torch.equal(test, _fixed(grey, 3, seed + 1))
    assert splits.info["images"] == {"train": 5, "valid": 7, "test": 7}
    # training batches: re-binarised from the generator (the same for the same seed, fresh otherwise)
    a, b, c = (torch.cat(splits.train_batches(torch.Generator().manual_seed(s))) for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c) and set(a.unique().tolist()) <= {0.0, 1.0}


def test_omniglot_splits_from_the_offline_data(shared_data, monkeypatch):
    """The real npz files (checksums are verified in test_data.py; skipped here to stay fast)."""
    if not (shared_data / "omniglot" / "images_background.npz").exists():
        pytest.skip("Omniglot npz files not in the offline data cache")
    real = data.load_omniglot
    loaded = {}

    def unverified(*args, **kwargs):
        loaded["images"] = real(*args, **{**kwargs, "checksums": False})
        return loaded["images"]

    monkeypatch.setattr(data, "load_omniglot", unverified)
    cfg = _omniglot_cfg(batch_size=8)
    cfg.data.data_dir, cfg.data.max_images = str(shared_data), 16
    splits = build_data(cfg)
    images, seed = loaded["images"], cfg.train.seed
    valid, test = torch.cat(splits.valid), torch.cat(splits.test)
    assert valid.shape == test.shape == (16, 1, 28, 28)
    assert torch.equal(valid, _fixed(images.valid, 8, seed)) and torch.equal(test, _fixed(images.test, 8, seed + 1))
    # the same image data binarised with the other split's seed gives other pixels
    assert not torch.equal(valid, _fixed(images.valid, 8, seed + 1))


def test_model_config_overrides_and_rejections():
    cfg = preset("ptb-quick")
    mc = model_config(cfg, 123)
    assert mc.vocab_size == 123 and mc.dec_hidden == cfg.model["dec_hidden"] == 32
    cfg.model["wings"] = 3
    with pytest.raises(ValueError, match=r"--model: unknown field\(s\) \['wings'\] for TextModelConfig"):
        model_config(cfg, 123)
    cfg = preset("ptb-quick")
    cfg.model_kind = "audio"
    with pytest.raises(ValueError, match="model_kind: unknown 'audio'"):
        model_config(cfg)
    cfg = preset("ptb-quick")
    cfg.data.name = "imagenet"
    with pytest.raises(ValueError, match="--data: unknown data set 'imagenet'"):
        build_data(cfg)


@pytest.mark.parametrize("name,mode,cls", [("ptb-quick", "savae", TextVAE), ("ptb-quick", "autoreg", LSTMLanguageModel),
                                           ("omniglot-quick", "vae", ImageVAE),
                                           ("omniglot-quick", "autoreg", PixelCNNLM)])
def test_build_model_picks_the_class_of_the_mode(name, mode, cls):
    cfg = preset(name)
    cfg.train.mode = mode
    cfg.model_preset = "tiny"
    model = build_model(cfg, 50 if cfg.model_kind == "text" else None)
    assert type(model) is cls and model.is_latent == (mode != "autoreg")
