"""The numerical checks shared with the book (checks.py): one relative error, one maker of random sentences."""
import pytest
import torch

from savae_lite.checks import random_sentences, relative_error


def test_relative_error_over_all_tensors_together():
    ref = [torch.tensor([3.0, 0.0]), torch.tensor([[0.0], [4.0]])]  # ||ref|| = 5
    got = [torch.tensor([3.0, 1.0]), torch.tensor([[0.0], [4.0]])]
    assert relative_error(got, ref) == pytest.approx(0.2)
    assert relative_error(ref, ref) == 0.0
    assert relative_error(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0])) == pytest.approx(1.0)  # tensors
    assert relative_error((t for t in got), tuple(ref)) == pytest.approx(0.2)  # any iterables
    # mixed dtypes are compared in float64
    assert relative_error(torch.tensor([1.0]), torch.tensor([1.0 + 1e-12], dtype=torch.float64)) > 0


def test_relative_error_refuses_to_compare_less_than_everything():
    a = [torch.zeros(2), torch.zeros(3)]
    with pytest.raises(ValueError, match="2 tensors against 1 reference"):
        relative_error(a, a[:1])
    with pytest.raises(ValueError, match=r"tensor 1 has shape \(3,\), its reference \(2,\)"):
        relative_error(a, [torch.zeros(2), torch.zeros(2)])
    with pytest.raises(TypeError, match=r"ref\[0\] is a float"):
        relative_error([torch.zeros(1)], [0.0])


def test_relative_error_against_a_zero_reference():
    zero = torch.zeros(3)
    assert relative_error(zero, zero) == 0.0
    assert relative_error(torch.ones(3), zero) == float("inf")


def test_random_sentences_follow_the_vocabulary_conventions():
    x = random_sentences(50, 9, 12, torch.Generator().manual_seed(0))
    assert x.shape == (50, 9) and x.dtype == torch.long
    assert (x[:, 0] == 2).all() and (x[:, -1] == 3).all()
    words = x[:, 1:-1]
    assert int(words.min()) == 4 and int(words.max()) == 11  # every word id in [4, 12) drawn
    again = random_sentences(50, 9, 12, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    torch.manual_seed(5)
    a = random_sentences(3, 4, 30)  # the global generator when none is given
    torch.manual_seed(5)
    assert torch.equal(a, random_sentences(3, 4, 30))


@pytest.mark.parametrize("n,length,vocab,match", [(0, 5, 10, "n >= 1"), (2, 1, 10, "length >= 2"),
                                                  (2, 5, 4, "vocab_size must exceed 4")])
def test_random_sentences_reject_impossible_shapes(n, length, vocab, match):
    with pytest.raises(ValueError, match=match):
        random_sentences(n, length, vocab)
