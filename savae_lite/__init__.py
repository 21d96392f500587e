"""savae-lite: Semi-Amortized Variational Autoencoders (Kim et al., ICML 2018), small and readable.

The package is organised one concept per module (see the book's introduction for the map):
``gaussian`` (q and its KL), ``objectives`` (ELBO, IW-NLL, MI, AU, PPL), ``svi`` (SVI with momentum),
``unrolled`` (differentiable SVI, Algorithm 1), ``models`` (toy, text, image), ``modes`` (the six training
modes), ``train`` (the trainer), ``data``, ``saliency`` and ``cli``.
"""
from savae_lite.utils import set_seed, pick_device, quick_mode

__version__ = "0.1.0"
__all__ = ["set_seed", "pick_device", "quick_mode", "__version__"]
