"""Standardisation of the data and exact un-scaling of linear coefficients.

Every estimator optimises in standardised units, where one learning rate suits
all problems, and reports its result in the user's units. For a linear model
with standardised inputs ``(x - m_x) / s_x`` and targets ``(y - m_y) / s_y``,
the prediction ``m_y + s_y * (b~ + sum_j w~_j (x_j - m_xj) / s_xj)`` is the
same affine function of x as ``b + sum_j w_j x_j`` with

    w_j = s_y * w~_j / s_xj,        b = m_y + s_y * b~ - sum_j w_j m_xj.

Means and standard deviations are weighted by the sample weights, so that an
integer weight is the same as repeating a row. A column whose spread is lost
in rounding is constant: its scale is 1 and, when centred, its standardised
values are exactly 0, so it gets a zero coefficient and no NaN.
"""

from typing import NamedTuple

import numpy as np

__all__ = ["Moments", "Standardization", "compute_moments", "fit_standardization",
           "identity_standardization", "merge_moments", "scale_linear",
           "standardization_from_moments", "standardize", "unscale_linear"]


class Standardization(NamedTuple):
    """Column statistics: ``standardized = (raw - mean) / scale``.

    Attributes
    ----------
    mean : ndarray of shape (n_columns,)
        Weighted column means (zeros when not centring).
    scale : ndarray of shape (n_columns,)
        Weighted column standard deviations, 1 for constant columns.
    constant : ndarray of bool of shape (n_columns,)
        Columns whose weighted variance is zero up to rounding.
    """

    mean: np.ndarray
    scale: np.ndarray
    constant: np.ndarray


class Moments(NamedTuple):
    """Weighted first and second moments of columns, mergeable across row blocks.

    Attributes
    ----------
    weight : float
        Sum of the weights.
    count : int
        Number of rows with positive weight.
    mean : ndarray of shape (n_columns,)
        Weighted mean.
    m2 : ndarray of shape (n_columns,)
        Weighted sum of squared deviations from `mean`.
    """

    weight: float
    count: int
    mean: np.ndarray
    m2: np.ndarray


# Rows per block: bounds the temporaries of the moment computation.
_BLOCK_ROWS = 65536


def merge_moments(a: Moments | None, b: Moments) -> Moments:
    """Moments of two row sets together (Chan, Golub and LeVeque's update)."""
    if a is None or a.weight == 0:
        return b
    if b.weight == 0:
        return a
    weight = a.weight + b.weight
    delta = b.mean - a.mean
    return Moments(
        weight=weight,
        count=a.count + b.count,
        mean=a.mean + delta * (b.weight / weight),
        m2=a.m2 + b.m2 + delta**2 * (a.weight * b.weight / weight),
    )


def compute_moments(A: np.ndarray, sample_weight: np.ndarray) -> Moments:
    """Weighted column moments of `A`, in row blocks so temporaries stay small."""
    moments = None
    for start in range(0, max(A.shape[0], 1), _BLOCK_ROWS):
        block = A[start:start + _BLOCK_ROWS]
        weights = sample_weight[start:start + _BLOCK_ROWS]
        total = float(weights.sum())
        if total == 0:
            continue
        mean = (weights @ block) / total
        m2 = weights @ (block - mean) ** 2
        moments = merge_moments(moments, Moments(
            total, int(np.count_nonzero(weights)), mean, m2))
    if moments is None:
        raise ValueError("sample_weight must have a positive sum.")
    return moments


def standardization_from_moments(
    moments: Moments, *, center: bool, scale: bool, dtype: np.dtype
) -> Standardization:
    """Standardisation statistics from (possibly streamed) moments.

    Parameters
    ----------
    moments : Moments
        Column moments.
    center : bool
        Subtract the weighted mean (otherwise the mean is reported as 0).
    scale : bool
        Divide by the weighted standard deviation (otherwise by 1).
    dtype : numpy dtype
        Precision of the data.

    Returns
    -------
    Standardization
    """
    n_columns = moments.mean.shape[0]
    variance = moments.m2 / moments.weight
    eps = np.finfo(dtype).eps
    # Rounding leaves a variance of order (n eps mean)^2 in a constant column.
    constant = variance <= (moments.count * eps * moments.mean) ** 2
    std = np.sqrt(np.where(constant, 1.0, variance))
    return Standardization(
        mean=(moments.mean if center else np.zeros(n_columns)).astype(dtype),
        scale=(std if scale else np.ones(n_columns)).astype(dtype),
        constant=constant,
    )


def fit_standardization(
    A: np.ndarray, sample_weight: np.ndarray, *, center: bool, scale: bool
) -> Standardization:
    """Weighted column statistics of `A` (n_samples, n_columns).

    Parameters
    ----------
    A : ndarray of shape (n_samples, n_columns)
        Data.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights with a positive sum.
    center : bool
        Subtract the weighted mean (otherwise the mean is reported as 0).
    scale : bool
        Divide by the weighted standard deviation (otherwise by 1).

    Returns
    -------
    Standardization
    """
    return standardization_from_moments(
        compute_moments(A, sample_weight), center=center, scale=scale, dtype=A.dtype)


def standardize(
    A: np.ndarray,
    stats: Standardization,
    *,
    center: bool,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``(A - mean) / scale``, written into `out` if given (one copy of A).

    With `center`, constant columns become exactly zero.
    """
    out = np.subtract(A, stats.mean, out=out, dtype=A.dtype)
    out /= stats.scale
    if center and stats.constant.any():
        out[:, stats.constant] = 0
    return out


def unscale_linear(
    coef: np.ndarray, intercept: np.ndarray, x: Standardization, y: Standardization
) -> tuple[np.ndarray, np.ndarray]:
    """Map a standardised linear model to the user's units.

    Parameters
    ----------
    coef : ndarray of shape (n_features, n_outputs)
        Coefficients in standardised units.
    intercept : ndarray of shape (n_outputs,)
        Intercept in standardised units.
    x, y : Standardization
        Statistics of the inputs and of the outputs (use unit scale and zero
        mean for outputs that were not standardised, such as logits).

    Returns
    -------
    coef : ndarray of shape (n_features, n_outputs)
    intercept : ndarray of shape (n_outputs,)
    """
    raw_coef = coef * y.scale[None, :] / x.scale[:, None]
    raw_intercept = y.mean + y.scale * intercept - x.mean @ raw_coef
    return raw_coef, raw_intercept


def scale_linear(
    coef: np.ndarray, intercept: np.ndarray, x: Standardization, y: Standardization
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`unscale_linear`: a model in user units, standardised.

    Used by ``warm_start`` to continue from a previous solution even when the
    new data have other means and scales.
    """
    scaled_coef = coef * x.scale[:, None] / y.scale[None, :]
    scaled_intercept = (intercept + x.mean @ coef - y.mean) / y.scale
    return scaled_coef, scaled_intercept


def identity_standardization(n_columns: int, dtype: np.dtype) -> Standardization:
    """Statistics that leave data unchanged (``standardize=False``, logits)."""
    return Standardization(
        mean=np.zeros(n_columns, dtype=dtype),
        scale=np.ones(n_columns, dtype=dtype),
        constant=np.zeros(n_columns, dtype=bool),
    )
