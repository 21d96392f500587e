"""The synthetic experiment: data drawn from a known LSTM generative model (in the spirit of Table 1 of
Kim et al. 2018).

Chapter: *SA-VAE* (the experiment and its results).

An *oracle* generator p*(x | z) p(z) is an LSTM decoder of :class:`~savae_lite.models.text.TextVAE` whose weights
are drawn at random with a large scale (uniform(-1, 1)), so that the latent z changes the sentences noticeably —
except the hidden-to-hidden matrix, drawn from uniform(-0.6, 0.6): with the full scale the random LSTM is chaotic,
log p(x | z) is a very rough function of z, and the derivative through K SVI steps explodes (norms of 1e7 at K = 20
were measured), which no training mode that differentiates through SVI can use.
A corpus is sampled from it ancestrally. Because the oracle is known, its own negative log-likelihood on the
test set — the best any model of this form can do on average — can be estimated with many importance samples.

Every training mode is then run twice:

* **Oracle Gen** — the generator is frozen at the oracle and only the inference network is trained, so the
  test bound measures *inference* alone (how close the mode's q gets to the oracle's posterior).
  ``svi`` has no inference network: it needs no training and just runs SVI at test time.
  ``vae+svi`` trains its encoder on the encoder's own ELBO, exactly like ``vae`` (the SVI part only ever
  trains the generator), so with a frozen generator the two share one encoder; they differ at test time.
* **Learned Gen** — generator and inference network are trained together from a fresh initialisation.

Sentences are ``<s> w_1 .. w_L`` with a fixed length L and no end symbol, so batches need no padding and every
target token is drawn from the oracle's softmax: the oracle's ``neg_log_lik`` is the exact -log p*(x | z) of the
data. The special ids 0..3 (``<pad> <unk> <s> </s>``) get an output bias of -30, which makes their
probability negligible (about e^-30 relative to a word); sampling uses the oracle's softmax as it is.
"""
from savae_lite.synthetic.config import SyntheticConfig
from savae_lite.synthetic.experiment import SYNTHETIC_MODES, fit, run_synthetic, test_metrics
from savae_lite.synthetic.oracle import BOS, FIRST_WORD, batches_of, make_oracle, sample_corpus, true_nll

__all__ = ["SyntheticConfig", "SYNTHETIC_MODES", "fit", "run_synthetic", "test_metrics", "BOS", "FIRST_WORD",
           "batches_of", "make_oracle", "sample_corpus", "true_nll"]
