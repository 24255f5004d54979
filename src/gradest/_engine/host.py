"""The host side of sparse products: SciPy CSR matrices that compiled code calls.

A :class:`~.sparse.SparseDesign` in one block (every full-batch fit on one
device) has its two products computed by SciPy's compiled CSR kernels on
the same buffers, called from the compiled loop through
:func:`jax.pure_callback` with only a registry number and the dense vector
crossing over (the nonzeros stay where they are). Measured on this
project's 2-core CPU, 20 product pairs ``X v``, ``X' tanh(X v)`` on
100,000 x 50,000 rows with 6.0 million nonzeros inside one compiled loop
took 0.61 s this way, 1.27 s as two :func:`jax.ops.segment_sum` (the rows',
then the columns'), 3.4 s with a callback that is handed the nonzeros
themselves (they are copied at every call) and 0.56 s as SciPy's products
called from Python; an earlier measurement put
``jax.experimental.sparse.BCOO`` and ``BCSR`` at twice the segment sums.

This module owns the registry of those matrices (:class:`_HostMatrix`), the
threads that work on their parts, the callbacks compiled code makes (the two
products and the weighted Gram of a few columns) and the 32-bit words their
operands and results cross as.
"""

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


class _HostMatrix:
    """A SciPy CSR matrix that compiled code reaches by a registry number.

    The registry holds it weakly: the :class:`~.sparse.SparseDesign` that
    :func:`~.sparse.sparse_design` returned holds it, so it lives as long as
    the fit holds that design (the compiled loop's own copy of the design is
    flattened arrays, the number among them), and leaves the registry with
    it. Passing the number rather than the nonzeros keeps the callback from
    copying the nonzeros at every product.

    The rows are cut into as many parts as there are cores (each a CSR view
    of the same buffers, balanced by nonzeros), which threads work on at
    once: SciPy's kernels release the interpreter lock, and compiled code
    waits for the callback with its cores idle. On one 2-core machine and
    4.7M nonzeros this took ``X v`` from 7.6 to 5.1 ms and ``X' u`` from 9.1
    to 5.4 ms; on another, whose memory two threads saturate, the products
    alone gained nothing and an L-BFGS fit on them 10-15 %.
    """

    _registry: "weakref.WeakValueDictionary[int, _HostMatrix]" = \
        weakref.WeakValueDictionary()
    _numbers = itertools.count()

    def __init__(self, matrix):
        import scipy.sparse

        self.matrix = matrix
        # Below 2**31, as the number travels as an int32.
        self.number = next(self._numbers) % np.iinfo(np.int32).max
        self._registry[self.number] = self
        n_parts = min(_host_threads(), max(matrix.nnz // _PART_ENTRIES, 1))
        indptr = matrix.indptr
        cuts = np.searchsorted(indptr, np.linspace(0, matrix.nnz, n_parts + 1))
        cuts[0], cuts[-1] = 0, matrix.shape[0]
        cuts = np.unique(cuts)
        self.parts = [
            (first, last, scipy.sparse.csr_array(
                (matrix.data[indptr[first]:indptr[last]],
                 matrix.indices[indptr[first]:indptr[last]],
                 indptr[first:last + 1] - indptr[first]),
                shape=(last - first, matrix.shape[1]), copy=False))
            for first, last in itertools.pairwise(cuts)]
        # The last operand and result of each kind of call (see `memo`).
        self._last: dict[str, tuple[Any, Any]] = {}

    def each_part(self, function: Callable, extras: list | None = None) -> list:
        """``function(first_row, last_row, part, *extra)`` for every part (with
        its entry of `extras`), in threads."""
        items = self.parts if extras is None else [
            (*part, extra) for part, extra in zip(self.parts, extras, strict=True)]
        if len(items) == 1:
            return [function(*items[0])]
        return list(_host_pool().map(lambda item: function(*item), items))

    def memo(self, kind: str, key: np.ndarray, compute: Callable[[], Any]) -> Any:
        """`compute()`, or its result for the last call of `kind` if that
        had the same `key` (bit for bit).

        A solver often asks twice in a row for the same thing: a line
        search's accepted trial point is the next iteration's point, a
        Hessian block needs the predictions its iteration's value already
        had, and late iterations keep their working set. The calls are pure,
        so answering the repeat from memory changes nothing but the time (a
        comparison of the operand's words, against a pass over the
        nonzeros). One entry per kind.
        """
        last = self._last.get(kind)
        if last is not None and np.array_equal(last[0], key):
            return last[1]
        result = compute()
        # Copies: the operand is a view of a buffer compiled code reuses.
        self._last[kind] = (np.array(key), result)
        return result

    def product(self, W: np.ndarray) -> np.ndarray:
        """``X @ W``."""
        return np.concatenate(self.each_part(lambda first, last, part: part @ W))

    def transposed_product(self, G: np.ndarray) -> np.ndarray:
        """``X' G``."""
        return sum(self.each_part(lambda first, last, part: part.T @ G[first:last]))

    def gram(self, wanted: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``X_c' diag(h) X_c`` and ``X_c' h`` for the columns `wanted`."""
        import scipy.sparse

        # Taking columns from CSR rows is a pass over all the nonzeros; late
        # iterations keep their working set, so the last blocks are kept.
        blocks = self.memo("columns", wanted, lambda: self.each_part(
            lambda first, last, part: scipy.sparse.csc_array(part[:, wanted])))

        def share(first, last, part, block):
            weights = h[first:last]
            weighted = scipy.sparse.csc_array(
                (block.data * weights[block.indices], block.indices, block.indptr),
                shape=block.shape)
            return (block.T @ weighted).toarray(), block.T @ weights

        grams, sums = zip(*self.each_part(share, blocks), strict=True)
        return sum(grams), sum(sums)

    @classmethod
    def holder(cls, number) -> "_HostMatrix":
        """The holder registered under `number`."""
        holder = cls._registry.get(int(number))
        if holder is None:
            raise RuntimeError(
                f"The sparse design {int(number)} was released while compiled "
                "code still used it; keep the design returned by sparse_design "
                "alive for the whole fit.")
        return holder


# A part of a host matrix holds at least this many nonzeros: below it, a
# thread's start costs more than it saves.
_PART_ENTRIES = 100_000


def _host_threads() -> int:
    """Cores this process may use, at most 8."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


_POOL = None


def _host_pool():
    """The threads that work on a host matrix's parts (made on first use)."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(_host_threads(), thread_name_prefix="gradest-sparse")
    return _POOL


def _host_product(number, words):
    holder = _HostMatrix.holder(number)
    return holder.memo("product", words, lambda: _to_words(
        holder.product(_from_words(words)), _HOST_FLOATS[words.shape[-1]]))


def _host_transposed_product(number, words):
    holder = _HostMatrix.holder(number)
    return holder.memo("transposed", words, lambda: _to_words(
        holder.transposed_product(_from_words(words)), _HOST_FLOATS[words.shape[-1]]))


def _host_gram_words(number, columns, words):
    h = _from_words(words)
    k = columns.shape[0]
    columns = np.asarray(columns)
    # Only the used slots' columns (-1 marks the others), in increasing order
    # (an order that does not change while the working set stays).
    used = np.flatnonzero(columns >= 0)
    used = used[np.argsort(columns[used], kind="stable")]
    block, block_shares = _HostMatrix.holder(number).gram(columns[used], h)
    gram, shares = np.zeros((k, k), h.dtype), np.zeros((k, 1), h.dtype)
    gram[np.ix_(used, used)] = block
    shares[used, 0] = block_shares
    return _to_words(gram, h.dtype), _to_words(shares, h.dtype)


# JAX narrows a callback's float64 operands and results to float32 unless x64
# is on in the thread that runs the callback, which the fit's local
# enable_x64 does not reach. The vectors cross as 32-bit words, which pass
# unchanged (a float64 as a trailing pair), viewed without a copy each side.
_HOST_FLOATS = {1: np.dtype(np.float32), 2: np.dtype(np.float64)}


def _from_words(words: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(words).view(_HOST_FLOATS[words.shape[-1]])[..., 0]


def _to_words(product, dtype) -> np.ndarray:
    product = np.ascontiguousarray(product, dtype=dtype)
    return product.view(np.uint32).reshape(*product.shape, -1)


def _as_words(x):
    """`x` as 32-bit words in compiled code: a trailing axis of width 1 or 2."""
    return jax.lax.bitcast_convert_type(x, np.uint32).reshape(
        *x.shape, np.dtype(x.dtype).itemsize // 4)


def _as_floats(words, dtype):
    """The floats of `dtype` that :func:`_as_words` gave, in compiled code."""
    return jax.lax.bitcast_convert_type(
        words if words.shape[-1] > 1 else words[..., 0], dtype)


def _from_host(function, number, operand, n_out: int):
    """``function(number, operand)`` run by SciPy, of shape (n_out, k)."""
    words = _as_words(operand)
    out = jax.pure_callback(function, jax.ShapeDtypeStruct(
        (n_out, operand.shape[1], words.shape[-1]), np.uint32), number, words,
        vmap_method="sequential")
    return _as_floats(out, operand.dtype)
