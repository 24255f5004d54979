"""Sparse designs: a CSR matrix with column scales and implicit centring, as data.

An objective that multiplies its parameters by a design matrix calls
:func:`matvec` (and, through autodiff, its transpose :func:`rmatvec`) instead
of ``X @ W``, so that one objective takes a dense array or a
:class:`SparseDesign` through the same code. A :class:`SparseDesign` is a
pytree of arrays, passed to the compiled loop as data like a dense array.

It stands for the dense matrix ``(X - 1 c') diag(d)`` of a CSR matrix ``X``
with a column offset ``c`` and a column multiplier ``d`` (for standardised
data, the means and the inverse standard deviations), without ever forming
it: the centring would fill in every zero. Its products are

    design @ W  = X @ (d * W) - 1 (c' (d * W)),
    design' G   = d * (X' G - c (1' G)),

so the offsets cost O(n + p) a product and the nonzeros are held once.

The nonzeros are plain index arrays (values, column indices and row ids in
CSR order). A whole design in one block (every full-batch fit on one
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
Row blocks (mini-batches, several devices) use the segment sums, which the
row ids make easy to take: with several devices the rows are cut into one
block a device, each block's entries are placed on its device, and each
computes its rows' products (the transpose sums the blocks' shares).
"""

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import placement
from .data import aligned_zeros, bucket_rows

__all__ = ["SparseDesign", "is_sparse", "matvec", "rmatvec", "sparse_design",
           "take_rows", "weighted_gram"]


def is_sparse(X: Any) -> bool:
    """Whether `X` is a SciPy sparse matrix or array."""
    import scipy.sparse

    return scipy.sparse.issparse(X)


@jax.tree_util.register_pytree_node_class
class SparseDesign:
    """The matrix ``(X - 1 offset') diag(multiplier)`` of a CSR matrix ``X``.

    The rows are held in `n_blocks` consecutive blocks of equal row count,
    one per device when the rows are split over several (see
    :mod:`.placement`), else one; each block's entries are padded to the
    same count with zeros.

    Attributes
    ----------
    values : array of shape (n_blocks, n_entries)
        The stored entries of X, row by row within each block (padding
        entries are 0).
    columns : int32 array of shape (n_blocks, n_entries)
        Their column indices.
    rows : int32 array of shape (n_blocks, n_entries)
        Their row indices within the block, non-decreasing.
    row_start : int32 array of shape (n_blocks, block_rows + 1)
        Where each row's entries start in its block (CSR's ``indptr``).
    offset : array of shape (n_columns,)
        Column offsets ``c`` (zeros when not centring).
    multiplier : array of shape (n_columns,)
        Column multipliers ``d`` (0 for a column dropped by centring).
    shape : tuple of int
        ``(n_rows, n_columns)``; static.
    row_width : int
        Most entries of any row; static, the width of a block of rows.
    host : int32 array of shape ()
        The registry number of the SciPy matrix on the same buffers whose
        products the compiled code calls (see :class:`_HostMatrix`), or -1.
    on_host : bool
        Static: whether the products go to that SciPy matrix (else they are
        segment sums of the entries).
    """

    def __init__(self, values, columns, rows, row_start, offset, multiplier,
                 shape: tuple[int, int], row_width: int, host=None,
                 on_host: bool = False):
        self.values = values
        self.columns = columns
        self.rows = rows
        self.row_start = row_start
        self.offset = offset
        self.multiplier = multiplier
        self.shape = tuple(shape)
        self.row_width = int(row_width)
        self.host = np.int32(-1) if host is None else host
        self.on_host = bool(on_host)

    @property
    def dtype(self):
        """The precision of the entries."""
        return self.values.dtype

    @property
    def n_blocks(self) -> int:
        """Number of row blocks."""
        return self.values.shape[0]

    def place_blocks(self, put_split, put_whole) -> "SparseDesign":
        """This design with its blocks split by `put_split` (one a device) and
        its column vectors put whole by `put_whole` (see :mod:`.placement`)."""
        return SparseDesign(*(put_split(a) for a in (self.values, self.columns,
                                                     self.rows, self.row_start)),
                            put_whole(self.offset), put_whole(self.multiplier),
                            self.shape, self.row_width, put_whole(self.host),
                            self.on_host)

    def tree_flatten(self):
        return ((self.values, self.columns, self.rows, self.row_start, self.offset,
                 self.multiplier, self.host), (self.shape, self.row_width,
                                               self.on_host))

    @classmethod
    def tree_unflatten(cls, aux, children):
        *arrays, host = children
        shape, row_width, on_host = aux
        return cls(*arrays, shape, row_width, host, on_host)

    def __repr__(self) -> str:
        return (f"SparseDesign(shape={self.shape}, n_blocks={self.n_blocks}, "
                f"n_entries={np.shape(self.values)[1]}, row_width={self.row_width})")


def sparse_design(X, offset: np.ndarray, multiplier: np.ndarray, *, n_rows: int,
                  n_columns: int, dtype: np.dtype) -> SparseDesign:
    """A :class:`SparseDesign` of the SciPy matrix `X`, in NumPy buffers.

    The one copy of the nonzeros a fit holds: values, column indices and row
    ids are written into buffers that JAX's CPU backend uses in place. Rows
    beyond X's (zero weight) and columns beyond X's (zero multiplier) pad the
    shape; each block's entries are padded to a bucket size with zeros in
    its last row, so that problems of similar sizes share compiled code.
    The rows are cut into as many blocks as :func:`.placement.row_blocks`
    says (one per device when they are split over several).

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n_samples, n_features)
        CSR (or CSC, converted) data, without duplicate entries.
    offset, multiplier : ndarray of shape (n_features,)
        The column offsets and multipliers.
    n_rows, n_columns : int
        Padded shape, at least X's.
    dtype : numpy dtype
        Precision of the values.

    Returns
    -------
    SparseDesign
    """
    import scipy.sparse

    X = scipy.sparse.csr_array(X)
    n_samples, n_features = X.shape
    if max(n_rows, n_columns, X.nnz) >= np.iinfo(np.int32).max:
        raise ValueError(
            f"Sparse data with {X.nnz} stored entries and shape {X.shape} exceed "
            "the 32-bit indices of the sparse design.")
    n_blocks = placement.row_blocks(n_rows)
    block_rows = n_rows // n_blocks
    # Entry offsets of the block boundaries (rows past X's have none).
    indptr = np.concatenate([X.indptr, np.full(n_rows - n_samples, X.nnz)])
    bounds = indptr[::block_rows]
    n_entries = bucket_rows(max(int(np.diff(bounds).max(initial=0)), 1), min_rows=16)
    values = aligned_zeros((n_blocks, n_entries), dtype)
    columns = aligned_zeros((n_blocks, n_entries), np.int32)
    rows = aligned_zeros((n_blocks, n_entries), np.int32)
    row_start = np.empty((n_blocks, block_rows + 1), np.int32)
    counts = np.diff(indptr)
    for block in range(n_blocks):
        first, last = bounds[block], bounds[block + 1]
        used = last - first
        values[block, :used] = X.data[first:last]
        columns[block, :used] = X.indices[first:last]
        local = counts[block * block_rows:(block + 1) * block_rows]
        rows[block, :used] = np.repeat(np.arange(block_rows, dtype=np.int32), local)
        # Padding entries (value 0) sit in the block's last row, keeping the
        # row ids sorted.
        rows[block, used:] = block_rows - 1
        row_start[block] = indptr[block * block_rows:(block + 1) * block_rows + 1] \
            - first
    padded_offset = np.zeros(n_columns, dtype)
    padded_offset[:n_features] = offset
    padded_multiplier = np.zeros(n_columns, dtype)
    padded_multiplier[:n_features] = multiplier
    row_width = max(int(counts.max(initial=0)), 1)
    design = SparseDesign(values, columns, rows, row_start, padded_offset,
                          padded_multiplier, (n_rows, n_columns), row_width)
    if n_blocks == 1:
        # The SciPy matrix on the same buffers (views: no second copy), kept
        # alive by this design object for as long as the fit holds it.
        design._host_matrix = _HostMatrix(scipy.sparse.csr_array(
            (values[0, :X.nnz], columns[0, :X.nnz], row_start[0]),
            shape=(n_rows, n_columns), copy=False))
        design.host = np.int32(design._host_matrix.number)
        design.on_host = True
    return design


class _HostMatrix:
    """A SciPy CSR matrix that compiled code reaches by a registry number.

    The registry holds it weakly: the :class:`SparseDesign` that
    :func:`sparse_design` returned holds it, so it lives as long as the fit
    holds that design (the compiled loop's own copy of the design is
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


def _raw_matvec(design: SparseDesign, W):
    """``X @ W`` of the stored entries, W of shape (n_columns, k)."""
    if design.on_host:
        return _from_host(_host_product, design.host, W, design.shape[0])
    block_rows = design.shape[0] // design.n_blocks

    def block(values, columns, rows):
        return jax.ops.segment_sum(values[:, None] * W[columns], rows,
                                   num_segments=block_rows, indices_are_sorted=True)

    # One block a device when the rows are split: each computes its rows.
    out = jax.vmap(block)(design.values, design.columns, design.rows)
    return out.reshape(design.shape[0], W.shape[1])


def _raw_rmatvec(design: SparseDesign, G):
    """``X' G`` of the stored entries, G of shape (n_rows, k)."""
    if design.on_host:
        return _from_host(_host_transposed_product, design.host, G, design.shape[1])
    blocks = G.reshape(design.n_blocks, -1, G.shape[1])

    def block(values, columns, rows, G):
        return jax.ops.segment_sum(values[:, None] * G[rows], columns,
                                   num_segments=design.shape[1])

    # Each block's share, summed over the blocks (over the devices).
    return jnp.sum(jax.vmap(block)(design.values, design.columns, design.rows,
                                   blocks), axis=0)


@jax.custom_vjp
def _sparse_matvec(design: SparseDesign, W):
    scaled = design.multiplier[:, None] * W
    return _raw_matvec(design, scaled) - design.offset @ scaled


def _sparse_matvec_fwd(design, W):
    return _sparse_matvec(design, W), design


def _sparse_matvec_bwd(design, G):
    # The data are never differentiated: no cotangent for the design.
    zeros = jax.tree.map(
        lambda leaf: (np.zeros(leaf.shape, jax.dtypes.float0)
                      if jnp.issubdtype(leaf.dtype, jnp.integer)
                      else jnp.zeros_like(leaf)), design)
    return zeros, _sparse_rmatvec(design, G)


_sparse_matvec.defvjp(_sparse_matvec_fwd, _sparse_matvec_bwd)


def _sparse_rmatvec(design: SparseDesign, G):
    raw = _raw_rmatvec(design, G) - design.offset[:, None] * jnp.sum(G, axis=0)
    return design.multiplier[:, None] * raw


def matvec(design, W):
    """``design @ W`` for a dense array or a :class:`SparseDesign`.

    Parameters
    ----------
    design : array of shape (n_rows, n_columns) or SparseDesign
        The design matrix.
    W : array of shape (n_columns, k)
        Coefficients.

    Returns
    -------
    array of shape (n_rows, k)
    """
    if isinstance(design, SparseDesign):
        return _sparse_matvec(design, jnp.asarray(W))
    return design @ W


def rmatvec(design, G):
    """``design' @ G`` for a dense array or a :class:`SparseDesign`.

    The transpose of :func:`matvec`, which autodiff uses for its gradient.

    Parameters
    ----------
    design : array of shape (n_rows, n_columns) or SparseDesign
        The design matrix.
    G : array of shape (n_rows, k)
        One vector per column of the product.

    Returns
    -------
    array of shape (n_columns, k)
    """
    if isinstance(design, SparseDesign):
        return _sparse_rmatvec(design, jnp.asarray(G))
    return design.T @ G


def weighted_gram(design, columns, h):
    """``A' diag(h) A``, ``A' h`` and ``1' h`` for the columns `columns` of a design.

    A proximal Newton step's Hessian block (see :mod:`.proxnewton`): the
    columns are few, so the block is small whatever the design's size.

    Parameters
    ----------
    design : array of shape (n_rows, n_columns) or SparseDesign
        The design matrix.
    columns : int array of shape (k,)
        Distinct column indices, or -1 for a slot that is no column (its
        rows and columns of the results are 0).
    h : array of shape (n_rows,)
        Weights of the rows.

    Returns
    -------
    gram : array of shape (k, k)
    shares : array of shape (k,)
    total : array of shape ()
    """
    used = columns >= 0
    total = jnp.sum(h)
    if not isinstance(design, SparseDesign):
        return (*_dense_gram(design, columns, h), total)
    safe = jnp.where(used, columns, 0)
    if design.on_host:
        raw_gram, raw_shares = _host_gram(design, columns, h)
    else:
        raw_gram, raw_shares = _block_gram(design, columns, h)
    # The centring and scaling of (X - 1 c') D, applied to the block:
    # D (X'HX - (X'h) c' - c (h'X) + (1'h) c c') D and D (X'h - c 1'h).
    c = jnp.where(used, design.offset[safe], 0)
    d = jnp.where(used, design.multiplier[safe], 0)
    gram = (raw_gram - jnp.outer(raw_shares, c) - jnp.outer(c, raw_shares)
            + total * jnp.outer(c, c))
    gram = d[:, None] * gram * d[None, :]
    return gram, d * (raw_shares - c * total), total


# Slots of the dense Gram computed together; a pair of tiles with no column
# in either is skipped, so a block of which few slots are used costs little.
_GRAM_TILE = 32


def _dense_gram(design, columns, h):
    """``A' diag(h) A`` and ``A' h`` of a few columns of a dense design, by tiles."""
    used = columns >= 0
    A = jnp.where(used, jnp.take(design, jnp.maximum(columns, 0), axis=1), 0)
    k = columns.shape[0]
    if k <= _GRAM_TILE:
        return A.T @ (h[:, None] * A), A.T @ h
    n_tiles = -(-k // _GRAM_TILE)
    padded = n_tiles * _GRAM_TILE
    A = jnp.pad(A, ((0, 0), (0, padded - k)))
    tile_used = jnp.pad(used, (0, padded - k)).reshape(n_tiles, _GRAM_TILE).any(axis=1)
    weighted = h[:, None] * A

    def pair(t, gram):
        i, j = t // n_tiles, t % n_tiles

        def product():
            left = jax.lax.dynamic_slice_in_dim(weighted, i * _GRAM_TILE, _GRAM_TILE, 1)
            right = jax.lax.dynamic_slice_in_dim(A, j * _GRAM_TILE, _GRAM_TILE, 1)
            return jax.lax.dynamic_update_slice(
                gram, left.T @ right, (i * _GRAM_TILE, j * _GRAM_TILE))

        return jax.lax.cond(tile_used[i] & tile_used[j], product, lambda: gram)

    gram = jax.lax.fori_loop(0, n_tiles * n_tiles, pair,
                             jnp.zeros((padded, padded), A.dtype))
    return gram[:k, :k], A[:, :k].T @ h


def _host_gram(design: SparseDesign, columns, h):
    """The raw block ``X_c' H X_c`` and ``X_c' h`` of the stored entries, by SciPy."""
    k = columns.shape[0]
    words = _as_words(h)
    width = words.shape[-1]
    gram, shares = jax.pure_callback(
        _host_gram_words,
        (jax.ShapeDtypeStruct((k, k, width), np.uint32),
         jax.ShapeDtypeStruct((k, 1, width), np.uint32)),
        design.host, columns, words, vmap_method="sequential")
    return _as_floats(gram, h.dtype), _as_floats(shares, h.dtype)[:, 0]


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


def _block_gram(design: SparseDesign, columns, h):
    """The raw block of a design in row blocks: the columns' entries scattered
    into a dense (n_rows, k) array, then its weighted Gram."""
    k = columns.shape[0]
    n_columns = design.shape[1]
    # Each column's slot, k (a discarded slot) for the others.
    slot = jnp.full(n_columns + 1, k, jnp.int32).at[
        jnp.where(columns >= 0, columns, n_columns)].set(
        jnp.arange(k, dtype=jnp.int32))
    slot = slot.at[n_columns].set(k)
    block_rows = design.shape[0] // design.n_blocks
    rows = design.rows + (jnp.arange(design.n_blocks, dtype=jnp.int32)
                          * block_rows)[:, None]
    dense = jnp.zeros((design.shape[0], k + 1), h.dtype).at[
        rows.ravel(), slot[design.columns.ravel()]].add(design.values.ravel())
    dense = dense[:, :k]
    return dense.T @ (h[:, None] * dense), dense.T @ h


def _take_design_rows(design: SparseDesign, rows):
    """The rows `rows` of a design, as a design of ``len(rows)`` rows.

    Every row gets `row_width` slots (the unused ones hold zeros), so that
    a block of rows has a static number of entries whatever its rows.
    """
    n_taken = rows.shape[0]
    width = design.row_width
    block_rows = design.shape[0] // design.n_blocks
    block, local = rows // block_rows, rows % block_rows
    start = design.row_start[block, local]
    count = design.row_start[block, local + 1] - start
    slot = jnp.arange(width, dtype=start.dtype)
    position = start[:, None] + slot
    used = slot < count[:, None]
    position = jnp.where(used, position, 0)
    block = jnp.broadcast_to(block[:, None], position.shape)
    values = jnp.where(used, design.values[block, position], 0).reshape(1, -1)
    columns = jnp.where(used, design.columns[block, position], 0).reshape(1, -1)
    new_rows = jnp.repeat(jnp.arange(n_taken, dtype=start.dtype), width)[None]
    row_start = (jnp.arange(n_taken + 1, dtype=start.dtype) * width)[None]
    return SparseDesign(values, columns, new_rows, row_start, design.offset,
                        design.multiplier, (n_taken, design.shape[1]), width)


def take_rows(data: Any, rows) -> Any:
    """The rows `rows` of every per-sample array of `data` (a mini-batch).

    Dense leaves are indexed; a :class:`SparseDesign` gives a design of the
    taken rows.
    """
    def take(leaf):
        if isinstance(leaf, SparseDesign):
            return _take_design_rows(leaf, rows)
        return leaf[rows]

    return jax.tree.map(take, data, is_leaf=lambda x: isinstance(x, SparseDesign))
