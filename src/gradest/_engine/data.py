"""How NumPy data reach compiled code: precision, padding, buffers, one-off passes.

Everything an estimator hands to compiled code goes through this module, so
that there is one rule for each of these questions:

- **precision**: float64 data run in float64 under a local `jax.enable_x64`
  (the process-wide flag is never flipped), float32 data in float32;
- **padding**: row counts (and, where the objective allows it, column counts)
  are rounded up to a few bucket sizes, filled with rows of zero weight and
  columns of zeros, so that problems of similar shapes share compiled code;
- **buffers**: padded copies are built in buffers that JAX's CPU backend uses
  in place, so a fit holds its data once;
- **placement**: see :mod:`.placement`;
- **one-off passes**: :func:`run_pass` runs a jitted function on NumPy
  arrays (a reconstruction, a score) under the same rules and returns NumPy.
"""

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from . import placement

__all__ = ["PAD_CHEAP_ROWS", "PAD_QUADRATIC_ROWS", "aligned_zeros", "bucket_columns",
           "bucket_rows", "float_dtype", "pad", "padded_weights", "precision",
           "run_pass"]

# JAX's CPU backend uses a NumPy buffer in place when its address is a
# multiple of this, and copies it otherwise.
_DEVICE_ALIGNMENT = 64
# Fewest rows of any bucket.
_MIN_BUCKET = 16
# Objectives linear in the rows (a pass costs microseconds a step at these
# sizes, compiling costs a quarter of a second or more) round up to a power
# of two up to this many rows, so that cross-validation folds and the final
# refit of a search share one bucket.
PAD_CHEAP_ROWS = {"power_of_two_up_to": 4096}
# Objectives quadratic in the rows (kernel matrices) pad by at most 1/8 at
# any size, but never below this many rows: below it a pass costs nothing
# noticeable, and small data sets of any size then share compiled code.
PAD_QUADRATIC_ROWS = {"min_rows": 128}
# Columns of zeros are free for objectives whose loss sums over columns;
# small problems get at least this many, so that they share compiled code.
_MIN_COLUMNS = 16
_SMALL_PROBLEM_ROWS = 256
# Padded elements of a linear model's data below which a pass costs far less
# than compiling (32 MB in float64): the columns then round up to a power of 2.
_CHEAP_ELEMENTS = 2**22


def float_dtype(dtype: np.dtype) -> np.dtype:
    """The working precision of data of `dtype`: float64 stays, all else float32."""
    return np.dtype(np.float64 if np.dtype(dtype) == np.float64 else np.float32)


@contextlib.contextmanager
def precision(dtype: np.dtype) -> Iterator[None]:
    """Trace and run JAX code in the precision of `dtype`, for this block only."""
    with jax.enable_x64(float_dtype(dtype) == np.float64):
        yield


def bucket_rows(n_rows: int, *, power_of_two_up_to: int = 0,
                min_rows: int = _MIN_BUCKET) -> int:
    """Round `n_rows` up to one of a few sizes that share compiled code.

    Keeping the top four bits pads by at most 1/8, and folds of slightly
    different sizes (cross-validation) land in the same bucket. Up to
    `power_of_two_up_to` rows, round up to a power of two instead: where a
    pass over the rows costs far less than compiling, the folds of a small
    data set and the refit on all of it then share one bucket. Never fewer
    than `min_rows` (see :data:`PAD_CHEAP_ROWS` and :data:`PAD_QUADRATIC_ROWS`).
    """
    if n_rows <= min_rows:
        return min_rows
    if n_rows <= power_of_two_up_to:
        return 1 << (n_rows - 1).bit_length()
    shift = n_rows.bit_length() - 4
    return -(-n_rows >> shift) << shift


def bucket_columns(n_columns: int, n_rows: int, *, cost: str = "linear") -> int:
    """Columns to pad to, for an objective that zero columns leave unchanged.

    Zero columns add nothing to a linear predictor (their coefficients get
    zero gradients and stay at zero) nor to a loss summed over columns, so
    that problems of a few feature counts share compiled code: recursive
    feature elimination or a grid over ``SelectKBest(k)`` then compile once
    or twice instead of once per count.

    Parameters
    ----------
    n_columns, n_rows : int
        Shape of the data (rows after padding).
    cost : {"linear", "quadratic"}
        How a pass scales with the rows. "linear" (a linear model): while a
        pass is cheap against compiling (at most 2**22 padded elements) the
        columns round up to a power of two, else by at most 1/8. "quadratic"
        (a kernel matrix, whose cost a column multiplies by n_rows ** 2):
        only problems of at most 256 rows are padded, to at least 16 columns.

    Returns
    -------
    int
    """
    if cost == "quadratic":
        if n_rows <= _SMALL_PROBLEM_ROWS:
            return max(n_columns, _MIN_COLUMNS)
        return n_columns
    power_of_two = 1 << max(n_columns - 1, 0).bit_length()
    if n_rows * power_of_two <= _CHEAP_ELEMENTS:
        return power_of_two
    return bucket_rows(n_columns, min_rows=1)


def aligned_zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Zeros in a buffer that JAX's CPU backend uses without copying it.

    NumPy aligns large arrays to 16 bytes only; JAX copies such an array when
    it first reaches the device, so a fit would hold X twice. Build the
    fitting copy of large data in this buffer instead.
    """
    dtype = np.dtype(dtype)
    n_bytes = math.prod(shape) * dtype.itemsize
    raw = np.zeros(n_bytes + _DEVICE_ALIGNMENT, dtype=np.uint8)
    offset = -raw.ctypes.data % _DEVICE_ALIGNMENT
    return raw[offset:offset + n_bytes].view(dtype).reshape(shape)


def pad(array: np.ndarray, n_rows: int, n_columns: int | None = None,
        dtype: np.dtype | None = None) -> np.ndarray:
    """`array` in the top-left corner of aligned zeros of shape (n_rows, n_columns).

    Parameters
    ----------
    array : ndarray of shape (n, ...) or (n, m)
        Data to pad.
    n_rows : int
        Rows of the result, at least n.
    n_columns : int or None
        Columns of the result (2-D arrays only), at least m; None keeps the
        trailing shape.
    dtype : numpy dtype or None
        Of the result; default that of `array`.

    Returns
    -------
    ndarray
    """
    shape = (n_rows, *array.shape[1:]) if n_columns is None else (n_rows, n_columns)
    padded = aligned_zeros(shape, array.dtype if dtype is None else dtype)
    if array.ndim == 1:
        padded[: array.shape[0]] = array
    else:
        padded[: array.shape[0], : array.shape[1]] = array
    return padded


def padded_weights(weights: np.ndarray | int, n_rows: int,
                   dtype: np.dtype) -> np.ndarray:
    """Weights padded with zeros to `n_rows`; an int n means n unit weights."""
    out = np.zeros(n_rows, dtype=dtype)
    if isinstance(weights, int):
        out[:weights] = 1
    else:
        out[: weights.shape[0]] = weights
    return out


def run_pass(fn: Callable, *args: Any, dtype: np.dtype, n_rows: int | None = None,
             **static: Any) -> Any:
    """Run the jitted `fn` once on NumPy arguments; return NumPy results.

    The arguments are cast to the working precision of `dtype` (floating
    leaves only) and placed on the devices as the loops place them, so that
    the same compiled program serves the loop's and the pass's calls. NumPy
    arguments, not `jnp.asarray`: an eager conversion compiles a copy for each
    new shape.

    Parameters
    ----------
    fn : callable
        A `jax.jit`-compiled function; `static` holds its static arguments.
    *args : pytrees of ndarray or scalars
        Its traced arguments.
    dtype : numpy dtype
        Sets the precision.
    n_rows : int or None
        Arrays with this many rows (the training rows of a model) are split
        over the devices, as in a fit; None puts everything on one device.
    **static
        Static keyword arguments of `fn`.

    Returns
    -------
    pytree of ndarray
    """
    work = float_dtype(dtype)

    def cast(leaf):
        leaf = np.asarray(leaf)
        return leaf.astype(work) if np.issubdtype(leaf.dtype, np.floating) else leaf

    with precision(work):
        args = jax.tree.map(cast, args)
        if n_rows is None:
            placed = placement.place_whole(args)
        else:
            placed, _ = placement.place(args, (), n_rows)
        return jax.device_get(fn(*placed, **static))
