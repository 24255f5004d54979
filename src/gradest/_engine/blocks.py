"""Row-blocked evaluation inside compiled code, for objectives quadratic in the rows.

A kernel matrix has n_rows ** 2 entries; computed a block of rows at a time,
with each block recomputed in the backward pass rather than stored, its
memory grows linearly in both the value and the gradient.
"""

import jax
import jax.numpy as jnp

__all__ = ["block_size", "map_row_blocks"]

# Above this many rows the rows are taken in blocks, so that memory grows as
# block * n_rows rather than n_rows ** 2.
MAX_BLOCK = 1024


def block_size(n_rows: int) -> int:
    """All rows when few, else the largest power of two dividing `n_rows`, capped."""
    if n_rows <= MAX_BLOCK:
        return n_rows
    return min(MAX_BLOCK, n_rows & -n_rows)


def map_row_blocks(fn, n_rows: int):
    """``fn(rows)`` over consecutive blocks of row indices, concatenated.

    Each block is recomputed in the backward pass rather than stored, so the
    gradient never holds more than one block of the kernel matrix either.
    """
    block = block_size(n_rows)
    rows = jnp.arange(n_rows)
    if block == n_rows:
        return fn(rows)
    blocks = jax.lax.map(jax.checkpoint(fn), rows.reshape(-1, block))
    return jax.tree.map(lambda b: b.reshape(n_rows, *b.shape[2:]), blocks)
