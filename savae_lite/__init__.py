"""savae-lite: Semi-Amortized Variational Autoencoders (Kim et al., ICML 2018), small and readable.

The package is organised one concept per module (see the book's introduction for the map):

* the paper's mathematics: ``gaussian`` (q and its KL), ``objectives`` (ELBO, IW-NLL, MI, AU, PPL),
  ``svi`` (SVI with momentum), ``unrolled`` (differentiable SVI, Algorithm 1);
* ``models`` (toy, text, image) and ``data`` (PTB, Yahoo, EWT, Omniglot);
* training and evaluation: ``modes`` (one record and one step per training mode), ``loop`` (the one training
  loop), ``schedule`` (learning-rate halving), ``train`` (the trainer: loop + checkpoints + records),
  ``evaluate`` (the one evaluator);
* studies: ``gap`` (amortization gap), ``synthetic`` (the oracle experiment), ``experiments``, ``bench``;
* plumbing: ``config``, ``validation``, ``build``, ``checkpoint``, ``atomic`` (atomic writes), ``results``,
  ``rng``, ``runtime``, ``checks`` (numerical checks shared by tests and chapters), ``cli``.
"""
# runtime first: it puts OpenMP's idle-thread setting (GOMP_SPINCOUNT=1000 unless set) into the environment before
# torch is imported, which is when OpenMP reads it (see savae_lite.runtime)
from savae_lite.runtime import pick_device, quick_mode, set_seed

__version__ = "0.1.0"
__all__ = ["set_seed", "pick_device", "quick_mode", "__version__"]
