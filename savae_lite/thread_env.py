"""OpenMP's idle-thread setting, put into the environment before torch loads OpenMP: ``GOMP_SPINCOUNT=1000``
unless the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` (theirs win), and nothing when torch was imported
first (too late to take effect). This module imports no torch, so ``import savae_lite`` (which imports it first)
is quick, and a Ctrl-C while a command starts reaches :func:`savae_lite.launch.main`. Why the setting and what it
measured: :mod:`savae_lite.runtime`, which reports it (:func:`~savae_lite.runtime.thread_policy`).

Chapter: *Introduction* (how to run things).
"""
from __future__ import annotations

import os
import sys

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
SPINCOUNT_ENV = "GOMP_SPINCOUNT"
DEFAULT_SPINCOUNT = "1000"
#: the OpenMP settings in the environment when savae-lite was first imported (the user's; they win)
USER_OPENMP = {k: os.environ[k] for k in (WAIT_POLICY_ENV, SPINCOUNT_ENV) if k in os.environ}
#: whether torch, and so its OpenMP runtime, was loaded before savae-lite (then nothing is set)
TORCH_LOADED_FIRST = "torch" in sys.modules
if not USER_OPENMP and not TORCH_LOADED_FIRST:
    os.environ[SPINCOUNT_ENV] = DEFAULT_SPINCOUNT
