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
the same buffers (see :mod:`.host`, which owns those host-side products and
the measurements behind them). Row blocks (mini-batches, several devices)
use :func:`jax.ops.segment_sum`, which the row ids make easy to take: with
several devices the rows are cut into one block a device, each block's
entries are placed on its device, and each computes its rows' products (the
transpose sums the blocks' shares).

This module still owns the design itself (:class:`SparseDesign`,
:func:`sparse_design`, :func:`is_sparse`), its products in compiled code
(:func:`matvec`, :func:`rmatvec`) and the rows of a mini-batch
(:func:`take_rows`); the weighted Gram of a few columns is in :mod:`.gram`.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import placement
from .data import aligned_zeros, bucket_rows
from .host import _from_host, _host_product, _host_transposed_product, _HostMatrix

__all__ = ["SparseDesign", "is_sparse", "matvec", "rmatvec", "sparse_design",
           "take_rows"]


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
        products the compiled code calls (see :class:`.host._HostMatrix`),
        or -1.
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
