"""Stopping on a signal (signals.py): the first SIGINT/SIGTERM is remembered and announced, the second stops at
once, the previous handlers come back, and with several processes a signal on any rank stops all of them."""
import signal

import pytest

from savae_lite.signals import STOP_SIGNALS, StopRequest


def test_first_signal_is_remembered_and_the_second_stops_at_once(capsys):
    stop = StopRequest()
    assert not stop.requested and stop.name is None
    stop.handle(signal.SIGTERM)
    assert stop.requested and stop.name == "SIGTERM"
    assert "SIGTERM received, stopping after the current step" in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt, match="second stop signal"):
        stop.handle(signal.SIGINT)
    assert stop.name == "SIGTERM"


def test_during_the_test_the_message_says_the_test_finishes(capsys):
    stop = StopRequest()
    stop.phase = "test"
    stop.handle(signal.SIGINT)
    assert "finishing the test of the trained model" in capsys.readouterr().err


def test_catching_installs_the_handler_and_restores_the_previous_ones():
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    stop = StopRequest()
    stop.signum = signal.SIGINT  # an earlier run's signal is forgotten
    with stop.catching():
        assert not stop.requested
        assert all(signal.getsignal(s) == stop.handle for s in STOP_SIGNALS)
        signal.raise_signal(signal.SIGTERM)
        assert stop.name == "SIGTERM"
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before


class FakeGroup:
    """Distributed's ``any``, as if another rank reported ``others``."""

    def __init__(self, is_main, others):
        self.is_main, self.others, self.asked = is_main, others, None

    def any(self, flags):
        self.asked = list(flags)
        return [a or b for a, b in zip(flags, self.others)]


def test_agree_one_process_and_several():
    stop = StopRequest()
    assert stop.agree(None, checkpoint_due=True) == (True, False)
    group = FakeGroup(is_main=False, others=[False, True])  # another rank was signalled
    assert stop.agree(group, checkpoint_due=True) == (False, True)
    assert group.asked == [False, False]  # only rank 0's clock counts
    assert stop.name == "SIGTERM"
