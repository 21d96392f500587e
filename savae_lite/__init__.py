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
  ``rng``, ``runtime`` and ``thread_env``, ``checks`` (numerical checks shared by tests and chapters), ``cli``
  and ``launch`` (the executable).
"""
# the OpenMP idle-thread setting (GOMP_SPINCOUNT=1000 unless set) goes into the environment before anything
# imports torch, which is when OpenMP reads it (savae_lite.thread_env); torch itself loads only when a name below
# is first used, so ``import savae_lite`` is quick
from savae_lite import thread_env  # noqa: F401

__version__ = "0.1.0"
__all__ = ["set_seed", "pick_device", "quick_mode", "__version__"]
_FROM_RUNTIME = ("set_seed", "pick_device", "quick_mode")


def __getattr__(name: str):
    """``savae_lite.set_seed``, ``pick_device`` and ``quick_mode`` (from :mod:`savae_lite.runtime`), loaded when
    first used."""
    if name in _FROM_RUNTIME:
        from savae_lite import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'savae_lite' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_RUNTIME})
