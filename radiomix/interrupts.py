"""Ctrl-C that cannot be swallowed.

A ``KeyboardInterrupt`` raised while a library runs a Python callback (an XGBoost callback, a ctypes data
iterator, a joblib worker's result handler) can be caught by that library and turned into an ordinary
error, which scikit-learn then records as one failed fit among many (``FitFailedWarning``): the run would go
on and finish with exit status 0. :class:`catch_interrupts` records every SIGINT in a flag before the usual
``KeyboardInterrupt`` is raised, and :func:`raise_if_interrupted` turns a swallowed one back into a
``KeyboardInterrupt`` at the points where radiomix decides whether a run is complete (after each search,
each outer fold, and before anything is written). A leaf module: it imports nothing from radiomix.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["catch_interrupts", "raise_if_interrupted", "interrupted"]

_flag = threading.Event()


def interrupted() -> bool:
    """Whether a SIGINT arrived since the outermost :class:`catch_interrupts` was entered (False outside one)."""
    return _flag.is_set()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a SIGINT arrived, whoever caught the first one."""
    if _flag.is_set():
        raise KeyboardInterrupt("interrupted (Ctrl-C)")


class catch_interrupts:
    """``with catch_interrupts():`` remember every SIGINT (then raise ``KeyboardInterrupt`` as Python's own
    handler does). Only the main thread can set signal handlers; elsewhere, and when the process already
    ignores SIGINT, nothing changes. Nested uses keep the outermost handler and flag."""

    _depth = 0

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is not threading.main_thread():
            return self
        if catch_interrupts._depth == 0:
            previous = signal.getsignal(signal.SIGINT)
            if previous is signal.SIG_IGN:
                return self
            _flag.clear()
            self._previous = previous
            signal.signal(signal.SIGINT, _handler)
        catch_interrupts._depth += 1
        self._counted = True
        return self

    def __exit__(self, *exc):
        if getattr(self, "_counted", False):
            catch_interrupts._depth -= 1
            if catch_interrupts._depth == 0 and self._previous is not None:
                signal.signal(signal.SIGINT, self._previous)
                _flag.clear()  # a later call outside any guard (a notebook cell) starts afresh
        return False


def _handler(signum, frame):
    _flag.set()
    raise KeyboardInterrupt
