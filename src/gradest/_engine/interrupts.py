"""Ctrl-C during a fit, kept even where other code swallows the KeyboardInterrupt.

Python raises the KeyboardInterrupt of a SIGINT wherever the main thread
happens to be. Where that is a garbage-collector callback (JAX registers
one) or a ``__del__`` method, Python prints "Exception ignored" and carries
on, so the interrupt is lost and a long fit runs on (jax-ml/jax#18246; here
it happened to a fit of a billion steps started 0.24 s before the signal).
While a fit runs, :func:`noting_interrupts` replaces Python's default
handler by one that also notes the signal, and :func:`raise_if_interrupted`,
called between compiled chunks and when the fit returns, raises it again.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["noting_interrupts", "raise_if_interrupted"]

_noted = threading.Event()


def _note_and_raise(signum, frame):
    _noted.set()
    signal.default_int_handler(signum, frame)


@contextmanager
def noting_interrupts() -> Iterator[None]:
    """Note every SIGINT for the duration, if Python's default handler is in place.

    Only the main thread can set a handler, and a program's own handler
    (or one set by an enclosing fit) is left in place. The outermost call
    forgets a noted interrupt when it ends.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    _noted.clear()
    previous = signal.signal(signal.SIGINT, _note_and_raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _noted.clear()


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if a SIGINT was noted and not yet raised here."""
    if _noted.is_set():
        _noted.clear()
        raise KeyboardInterrupt
