"""Results of pure functions of arrays, shared within a block of many fits.

A search fits every candidate on each fold's rows; inside
:func:`shared_results` a function of the same arrays (a fold's least-squares
statistics) is computed once for all of them. On 30 candidates x 5 folds of
4,000 x 200 rows the statistics had taken 6.8 of 13 s, computed again by
every member.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import scipy.sparse

__all__ = ["shared", "shared_results"]

_MEMO: ContextVar[dict | None] = ContextVar("shared_results", default=None)


@contextmanager
def shared_results() -> Iterator[None]:
    """Within the block, :func:`shared` computes each result once."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def _address(A) -> tuple:
    """An array's identity: its buffer's address, shape, strides and type."""
    if scipy.sparse.issparse(A):
        return ("sparse", id(A))
    return (A.__array_interface__["data"][0], A.shape, A.strides, A.dtype.str)


def shared(fn: Callable, *arrays):
    """``fn(*arrays)``, once per function and arrays inside :func:`shared_results`.

    The memo keeps the arrays alive, so that no other array can take one of
    their addresses while it is in use; `fn` must be a pure function whose
    result is not modified by its callers.
    """
    memo = _MEMO.get()
    if memo is None:
        return fn(*arrays)
    key = (fn, *map(_address, arrays))
    if key not in memo:
        memo[key] = (fn(*arrays), arrays)
    return memo[key][0]
