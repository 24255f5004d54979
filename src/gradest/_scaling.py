"""Standardisation of the data and exact un-scaling of linear coefficients.

Every estimator optimises in standardised units, where the units of the
features no longer decide which learning rate works, and reports its result
in the user's units. For a linear model
with standardised inputs ``(x - m_x) / s_x`` and targets ``(y - m_y) / s_y``,
the prediction ``m_y + s_y * (b~ + sum_j w~_j (x_j - m_xj) / s_xj)`` is the
same affine function of x as ``b + sum_j w_j x_j`` with

    w_j = s_y * w~_j / s_xj,        b = m_y + s_y * b~ - sum_j w_j m_xj.

Means and standard deviations are weighted by the sample weights, so that an
integer weight is the same as repeating a row. A column whose spread is lost
in rounding is constant: its scale is 1 and, when centred, its standardised
values are exactly 0, so it gets a zero coefficient and no NaN. So is a
column whose spread is too small for its coefficient in the user's units to
be representable (about 1e-302 in float64).

The column moments come from :mod:`gradest._moments` (float64, blocked,
scaled by powers of two, sparse data never densified). Standardising sparse
data keeps the centring implicit (:func:`implicit_standardization`): the
engine's sparse design multiplies the stored entries by ``1 / scale`` and
subtracts the offsets inside its products, so the zeros stay zeros.
"""

from typing import NamedTuple

import numpy as np

from ._moments import Moments, compute_moments, merge_moments

__all__ = ["Standardization", "column_standardization", "fit_standardization",
           "identity_standardization",
           "implicit_standardization", "scale_linear",
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


# The user's coefficient of a column is its standardised one times
# (spread of y) / (spread of the column). A column whose spread is so small
# that an effect of this many spreads of y would overflow (below 5.8e-303 in
# float64, which also rules out subnormal spreads) is taken as constant:
# a fit could use it, but its coefficient could not be reported.
_COEF_HEADROOM = 2.0**20


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
    # In units of the power-of-two scale, where squares cannot overflow.
    variance = moments.m2 / moments.weight
    eps = np.finfo(dtype).eps
    # Rounding leaves a variance of order (n eps mean)^2 in a constant column
    # (of the data's precision: float32 data carry float32 rounding).
    std = np.sqrt(variance) * moments.scale
    constant = ((variance <= (moments.count * eps * moments.mean / moments.scale) ** 2)
                | (std < _COEF_HEADROOM / np.finfo(dtype).max))
    std = np.where(constant, 1.0, std)
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


def implicit_standardization(
    stats: Standardization, *, center: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The column offsets and multipliers of ``(A - 1 mean') diag(1 / scale)``.

    What :func:`standardize` computes, in the form sparse data keep: the
    standardised matrix is ``(A - 1 offset') diag(multiplier)``, never formed
    (see :class:`gradest._engine.sparse.SparseDesign`). With `center`,
    constant columns get multiplier 0 (they are exactly zero when centred).

    Returns
    -------
    offset : ndarray of shape (n_columns,)
    multiplier : ndarray of shape (n_columns,)
    """
    dtype = stats.scale.dtype
    multiplier = (1 / stats.scale).astype(dtype)
    if center:
        multiplier[stats.constant] = 0
    return stats.mean.astype(dtype), multiplier


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


def column_standardization(A, sample_weight, prior, scale: bool, center: bool,
                           moments: Moments | None = None):
    """Moments of A's columns (merged with `prior`) and their standardisation.

    Without `scale` and `center` the columns are left as they are and no
    moments are kept. `moments` are A's own, if already computed.

    Returns
    -------
    moments : Moments or None
    stats : Standardization
    """
    if not (scale or center):
        return None, identity_standardization(A.shape[1], A.dtype)
    if moments is None:
        moments = compute_moments(A, sample_weight)
    moments = merge_moments(prior, moments)
    return moments, standardization_from_moments(
        moments, center=center, scale=scale, dtype=A.dtype)
