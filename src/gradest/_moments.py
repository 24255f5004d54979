"""Weighted column moments in one pass: blocked, scaled and mergeable.

The moments are accumulated in float64 whatever the data's precision (one
pass, in row blocks), and each column is divided by a power of two near its
largest magnitude first: the sum of squares of a column of values near 1e300
(or 1e-300) would overflow (or underflow), and the column would look
constant. Powers of two scale exactly, so merging moments of row blocks with
different scales loses nothing (Chan's update, :func:`merge_moments`).

Sparse data (SciPy CSR or CSC) are never densified. Their moments come from
the stored entries alone: a column's implicit zeros contribute only the
weight they carry, so its centred sum of squares is
``sum_stored w_i (x_ij - m_j)^2 + m_j^2 (W - sum_stored w_i)``, centred
without cancellation as for dense data.
"""

from typing import NamedTuple

import numpy as np

from ._engine.sparse import is_sparse

__all__ = ["Moments", "column_largest", "compute_moments", "merge_moments"]


class Moments(NamedTuple):
    """Weighted first and second moments of columns, mergeable across row blocks.

    Attributes
    ----------
    weight : float
        Sum of the weights.
    count : int
        Number of rows with positive weight.
    scaled_mean : ndarray of shape (n_columns,)
        Weighted mean in units of `scale` (float64): a column of subnormal
        values keeps its mean there, where in its own units it would
        underflow and a merge would lose the blocks' difference of means.
    m2 : ndarray of shape (n_columns,)
        Weighted sum of squared deviations from `mean`, in units of `scale`:
        the sum for the raw column is ``m2 * scale**2``, which may overflow.
    scale : ndarray of shape (n_columns,)
        A power of two per column, no larger than its largest magnitude (the
        smallest positive float64 for a column of zeros, so that a merge
        takes the other side's scale).
    """

    weight: float
    count: int
    scaled_mean: np.ndarray
    m2: np.ndarray
    scale: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Weighted mean in the columns' own units."""
        return self.scaled_mean * self.scale


# Elements per block of rows: bounds the float64 temporaries of the moments,
# and keeps a block (1 MB) in cache through the passes over it. Blocks of
# 2**20 elements (8 MB) took the moments of 100,000 x 50 float64 rows 48 ms,
# of 2**17 26 ms.
_BLOCK_ELEMENTS = 1 << 17
# Stored entries per block of a sparse matrix's moments.
_SPARSE_BLOCK_ENTRIES = 1 << 20


def merge_moments(a: Moments | None, b: Moments) -> Moments:
    """Moments of two row sets together (Chan, Golub and LeVeque's update).

    Both are brought to the larger power-of-two scale of each column, which
    is exact (short of underflow in a column whose blocks differ by more
    than the range of float64).
    """
    if a is None or a.weight == 0:
        return b
    if b.weight == 0:
        return a
    weight = a.weight + b.weight
    scale = np.maximum(a.scale, b.scale)
    mean_a = a.scaled_mean * (a.scale / scale)
    mean_b = b.scaled_mean * (b.scale / scale)
    delta = mean_b - mean_a
    return Moments(
        weight=weight,
        count=a.count + b.count,
        scaled_mean=mean_a + delta * (b.weight / weight),
        m2=(a.m2 * (a.scale / scale) ** 2 + b.m2 * (b.scale / scale) ** 2
            + delta**2 * (a.weight * b.weight / weight)),
        scale=scale,
    )


_ZERO_SCALE = np.ldexp(1.0, -1074)


def _power_of_two_scale(block, weights=None) -> np.ndarray:
    """Per column, the largest power of two at most its largest magnitude.

    Only rows of positive `weights` count (all rows without `weights`): a
    value in a row of zero weight takes no part in the moments, and must not
    set a scale beside which the weighted values' squares underflow (a column
    of 1e-159 and a zero-weight 512 came out constant). Callers leave such
    rows out of the sums, so that their values cannot overflow either. The
    power of two of the largest magnitude of all rows is the largest of those
    of any split into blocks, so merged moments have the scale of the whole.
    `block` is dense or sparse (see :func:`column_largest`).
    """
    largest = column_largest(block, weights)
    _, exponent = np.frexp(largest)
    # 2**(exponent - 1) <= largest < 2**exponent; 2**1023 is still finite.
    return np.where(largest > 0, np.ldexp(1.0, exponent - 1), _ZERO_SCALE)


def _stored_entry_blocks(A, weights=None):
    """Blocks of a sparse matrix's stored entries: (rows, columns, values).

    In blocks of at most `_SPARSE_BLOCK_ENTRIES` entries, so that the float64
    temporaries stay small whatever the number of nonzeros. CSR and CSC are
    read in place (CSC's "rows" are its columns' entries in column order).
    With row `weights`, the entries of rows of zero weight read as 0: they
    take no part in weighted moments (see _power_of_two_scale).
    """
    if A.format not in ("csr", "csc"):
        A = A.tocsr()
    major, minor = A.indices, A.indptr
    for start in range(0, A.nnz, _SPARSE_BLOCK_ENTRIES):
        stop = min(start + _SPARSE_BLOCK_ENTRIES, A.nnz)
        outer = np.searchsorted(minor, np.arange(start, stop), side="right") - 1
        inner = major[start:stop]
        values = np.asarray(A.data[start:stop], np.float64)
        rows, columns = (inner, outer) if A.format == "csc" else (outer, inner)
        if weights is not None:
            values = np.where(weights[rows] > 0, values, 0.0)
        yield rows, columns, values


def column_largest(A, weights=None) -> np.ndarray:
    """The largest magnitude of each column of `A` (dense or sparse), float64.

    Over the rows of positive `weights`, if given.
    """
    if not is_sparse(A):
        if weights is not None:
            A = A[np.asarray(weights) > 0]
        # The largest and the most negative, not the largest of np.abs(A):
        # that would be a new array the size of A (200,000 x 50: 37 ms in a
        # warm process, 0.23 s where its pages are first touched, against 26).
        return np.maximum(np.max(A, axis=0, initial=0.0),
                          -np.min(A, axis=0, initial=0.0)).astype(np.float64)
    largest = np.zeros(A.shape[1])
    for _, columns, values in _stored_entry_blocks(A, weights):
        np.maximum.at(largest, columns, np.abs(values))
    return largest


def _sparse_moments(A, sample_weight: np.ndarray) -> Moments:
    """Weighted column moments of a sparse `A` from its stored entries.

    Two passes over the entries (means, then centred squares); the implicit
    zeros of a column add ``m_j^2`` times the weight of the rows where it
    has no entry. `A` must have no duplicate entries.
    """
    weights = np.asarray(sample_weight, np.float64)
    total = float(weights.sum())
    if total == 0:
        raise ValueError("sample_weight must have a positive sum.")
    n_columns = A.shape[1]
    scale = _power_of_two_scale(A, weights)
    weighted_sum = np.zeros(n_columns)
    stored_weight = np.zeros(n_columns)
    stored_count = np.zeros(n_columns, np.int64)
    # Entries of zero-weight rows read as 0, not multiplied by 0, so that their
    # values cannot overflow (see _power_of_two_scale).
    for rows, columns, values in _stored_entry_blocks(A, weights):
        weighted_sum += np.bincount(columns, weights=weights[rows] * values
                                    / scale[columns], minlength=n_columns)
        stored_weight += np.bincount(columns, weights=weights[rows],
                                     minlength=n_columns)
        stored_count += np.bincount(columns[weights[rows] > 0], minlength=n_columns)
    mean = weighted_sum / total
    count = int(np.count_nonzero(weights))
    # The weight of a column's implicit zeros; exactly 0 when every weighted
    # row stores an entry (the difference of sums would leave rounding, and
    # a constant stored column would look varying).
    zero_weight = np.where(stored_count == count, 0.0,
                           np.maximum(total - stored_weight, 0.0))
    m2 = mean**2 * zero_weight
    for rows, columns, values in _stored_entry_blocks(A, weights):
        deviation = values / scale[columns] - mean[columns]
        m2 += np.bincount(columns, weights=weights[rows] * deviation**2,
                          minlength=n_columns)
    return Moments(total, count, mean, m2, scale)


def compute_moments(A: np.ndarray, sample_weight: np.ndarray) -> Moments:
    """Weighted column moments of `A`, in float64 and in row blocks.

    The blocks bound the float64 temporaries; float32 data are accumulated
    in float64 too, which costs little beside a fit and keeps the statistics
    of a million rows as exact as those of a hundred. A SciPy sparse `A`
    (without duplicate entries) is read from its stored entries, never
    densified.
    """
    if is_sparse(A):
        return _sparse_moments(A, sample_weight)
    block_rows = max(1, _BLOCK_ELEMENTS // max(A.shape[1], 1))
    # One buffer for every block: a new one would pay its pages' first touch.
    buffer = np.empty((min(block_rows, A.shape[0]), A.shape[1]), np.float64)
    moments = None
    for start in range(0, max(A.shape[0], 1), block_rows):
        weights = np.asarray(sample_weight[start:start + block_rows], np.float64)
        total = float(weights.sum())
        if total == 0:
            continue
        block = buffer[:weights.shape[0]]
        np.copyto(block, A[start:start + block_rows])
        # Rows of zero weight take no part (see _power_of_two_scale).
        if not np.all(weights > 0):
            block[weights == 0] = 0
        scale = _power_of_two_scale(block)
        block /= scale
        mean = (weights / total) @ block
        block -= mean
        np.square(block, out=block)
        moments = merge_moments(moments, Moments(
            total, int(np.count_nonzero(weights)), mean, weights @ block, scale))
    if moments is None:
        raise ValueError("sample_weight must have a positive sum.")
    return moments
