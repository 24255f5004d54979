"""The weighted Gram of a few columns of a design (a proximal Newton Hessian block).

:func:`weighted_gram` takes a dense array or a :class:`~.sparse.SparseDesign`;
a design in one block has its block computed by SciPy (see :mod:`.host`),
one in row blocks by scattering the columns' entries into a dense array.
"""

import jax
import jax.numpy as jnp
import numpy as np

from .host import _as_floats, _as_words, _host_gram_words
from .sparse import SparseDesign

__all__ = ["weighted_gram"]


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
