"""Stopping a training run on SIGINT (Ctrl-C) or SIGTERM without losing work.

Chapter: *Introduction* (running long experiments). While :meth:`savae_lite.train.Trainer.fit` runs, the first
signal only asks the run to stop: the trainer finishes the current step, writes ``last.pt`` and raises
:class:`~savae_lite.run_record.TrainingInterrupted`, and the same command resumes. A second signal stops at once
(KeyboardInterrupt; the checkpoint on disk stays the last complete one). A signal that comes while the trained
model is tested lets the test finish. With several processes a signal that reached any rank stops every rank
(:meth:`StopRequest.agree`).
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


class StopRequest:
    """The stop signal a run has received (``signum``, None while there is none) and what the run is doing
    (``phase``: ``'train'``, or ``'test'`` once the final test has begun; it changes the printed message)."""

    def __init__(self):
        self.signum: int | None = None
        self.phase = "train"

    @property
    def requested(self) -> bool:
        """Whether a stop signal has come."""
        return self.signum is not None

    @property
    def name(self) -> str | None:
        """The signal's name (``'SIGINT'``, ``'SIGTERM'``), None while there is none."""
        return signal.Signals(self.signum).name if self.signum is not None else None

    def handle(self, signum: int, frame=None) -> None:
        """The signal handler: remember the first signal and say what happens next; raise KeyboardInterrupt on
        the second."""
        name = signal.Signals(signum).name
        if self.signum is not None:
            raise KeyboardInterrupt(f"second stop signal ({name}): stopped at once; the checkpoint on disk "
                                    "is the last complete one")
        self.signum = signum
        what = ("finishing the test of the trained model (send it again to stop at once; the same command "
                "then tests again)" if self.phase == "test" else
                "stopping after the current step (send it again to stop at once)")
        print(f"savae-lite: {name} received, {what}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def catching(self):
        """While the block runs (main thread only: elsewhere signals cannot be caught), SIGINT and SIGTERM go to
        :meth:`handle`; the previous handlers are restored afterwards. Forgets any earlier signal first."""
        self.signum = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {}
        try:
            for sig in STOP_SIGNALS:
                previous[sig] = signal.signal(sig, self.handle)
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)

    def agree(self, dist, checkpoint_due: bool = False) -> tuple[bool, bool]:
        """(whether the time-based checkpoint is due, whether to stop). With several processes (``dist``, see
        :mod:`savae_lite.distributed`) one all-reduce decides both for every rank: rank 0's clock, and a signal
        that reached any rank (a rank that got none then counts as stopped by SIGTERM)."""
        stop = self.requested
        if dist is None:
            return checkpoint_due, stop
        checkpoint_due, stop = dist.any([checkpoint_due and dist.is_main, stop])
        if stop and self.signum is None:  # another rank was signalled
            self.signum = signal.SIGTERM
        return checkpoint_due, stop
