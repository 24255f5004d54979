"""Least squares on sufficient statistics: the data enter through X'WX, X'WY, Y'WY.

With squared error, the weighted mean loss of ``X @ coef + intercept``,

    0.5 * sum_i w_i ||coef' x_i + intercept - y_i||^2 / sum_i w_i,

depends on the rows only through the weighted cross-products of the
(standardised) data, normalised by the total weight ``sum_i w_i``:

    G = X'WX,  B = X'WY,  c = tr(Y'WY),  m_x = X'w,  m_y = Y'w  (all / sum w),

as ``0.5 * (tr(coef' G coef) - 2 tr(coef' B) + c + 2 intercept' coef' m_x
+ ||intercept||^2 - 2 intercept' m_y)``. The intercept terms are kept
although centring makes the means zero up to rounding: the statistics
objective is then the data objective in exact arithmetic, with or without
centring. One blocked pass builds them (O(n p^2), in BLAS), after which every
iteration costs O(p^2) instead of a pass over the n rows; the solver, its
learning rate and its iterates are those of the data path, up to rounding.

The statistics are accumulated in float64 whatever the data's precision:
float32 rows are exact float64 numbers, so the float64 statistics, and the
objective run on them in float64, are the float32 data's exact objective up
to float64 rounding (see :func:`statistics_dtype`).
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .._scaling import Standardization

__all__ = ["LeastSquaresStatistics", "StatisticsObjective", "least_squares_statistics",
           "statistics_problem", "statistics_dtype", "use_statistics"]

# Rows per block of the pass: bounds its temporaries (a block of float64
# standardised rows) to a few tens of MB.
_BLOCK_ROWS = 65536
# The statistics path pays one pass of O(n p^2) and then O(p^2) a step, the
# data path O(n p) a step: with n >= 4 p the Gram matrix is at most a quarter
# of the data's size and the pass costs what about p / 2 data-path iterations,
# which the first-order solvers need many times over. Up to 2048 features the
# Gram matrix (32 MB in float64) fits easily in memory and cache-friendly BLAS.
_MIN_ROWS_PER_FEATURE = 4
_MAX_FEATURES = 2048


class LeastSquaresStatistics(NamedTuple):
    """Weighted cross-products of standardised data, normalised by `weight`.

    Attributes
    ----------
    gram : ndarray of shape (n_features, n_features)
        ``X'WX / weight``.
    cross : ndarray of shape (n_features, n_outputs)
        ``X'WY / weight``.
    y_square : ndarray of shape ()
        ``tr(Y'WY) / weight``.
    x_mean : ndarray of shape (n_features,)
        ``X'w / weight`` (zero up to rounding when centred).
    y_mean : ndarray of shape (n_outputs,)
        ``Y'w / weight``.
    weight : float
        Total sample weight the statistics are normalised by.
    """

    gram: np.ndarray
    cross: np.ndarray
    y_square: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    weight: float


def use_statistics(loss, batch_size, n_samples: int, n_features: int) -> bool:
    """Whether a fit is cheaper on sufficient statistics than on the rows.

    Only the built-in squared error has them; mini-batches need the rows.
    """
    return (isinstance(loss, str) and loss == "squared_error" and batch_size is None
            and n_features <= _MAX_FEATURES
            and n_samples >= _MIN_ROWS_PER_FEATURE * n_features)


def statistics_dtype(dtype: np.dtype) -> np.dtype:
    """The precision of the statistics objective: float64 for any input.

    For float32 data the float64 objective is both exact to float64
    rounding and as cheap (O(p^2) a step), and its tolerance floor is that
    of float64, so that the default ``tol`` is met instead of stopping at
    float32's rounding noise; the coefficients are returned as float32.
    """
    return np.dtype(np.float64)


def least_squares_statistics(X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray,
                             x_stats: Standardization, y_stats: Standardization, *,
                             center_x: bool, center_y: bool) -> LeastSquaresStatistics:
    """The statistics of the standardised data, in one blocked float64 pass.

    Each block is standardised with the weighted means and scales already
    computed (``(a - mean) / scale``, constant columns zero when centred, as
    :func:`gradest._scaling.standardize` does), so that the cross-products
    are of centred data and lose nothing to cancellation.
    """
    n_features, n_outputs = X.shape[1], Y.shape[1]
    gram = np.zeros((n_features, n_features))
    cross = np.zeros((n_features, n_outputs))
    x_sum, y_sum = np.zeros(n_features), np.zeros(n_outputs)
    y_square = 0.0
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        weights = sample_weight[rows].astype(np.float64)
        xs = _standardized_block(X[rows], x_stats, center_x)
        ys = _standardized_block(Y[rows], y_stats, center_y)
        weighted = xs * weights[:, None]
        gram += weighted.T @ xs
        cross += weighted.T @ ys
        x_sum += weights @ xs
        y_sum += weights @ ys
        y_square += float(weights @ np.einsum("ij,ij->i", ys, ys))
    total = float(sample_weight.sum(dtype=np.float64))
    # Symmetric, so that the objective's quadratic form has a symmetric Hessian.
    gram = 0.5 * (gram + gram.T)
    return LeastSquaresStatistics(gram / total, cross / total,
                                  np.asarray(y_square / total), x_sum / total,
                                  y_sum / total, total)


def statistics_problem(X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray,
                       x_stats: Standardization, y_stats: Standardization, *,
                       center_x: bool, center_y: bool, n_rows: int):
    """The engine's view of a least-squares fit on the statistics of its rows.

    Returns ``(objective, data, weights, n_samples)`` for
    :meth:`gradest._base.GradientFitMixin._minimize`. `n_rows` is the row
    count the fit on the rows would average over, so that the tolerance
    floor, and with it the meaning of ``tol``, is that of the rows.
    """
    stats = least_squares_statistics(X, Y, sample_weight, x_stats, y_stats,
                                     center_x=center_x, center_y=center_y)
    dtype = statistics_dtype(X.dtype)
    data = tuple(np.asarray(a, dtype) for a in stats[:5])
    # One placeholder "row": the statistics are whole on every device.
    return StatisticsObjective(), data, np.ones(1, dtype), n_rows


def _standardized_block(block: np.ndarray, stats: Standardization,
                        center: bool) -> np.ndarray:
    out = (block.astype(np.float64) - stats.mean) / stats.scale
    if center and stats.constant.any():
        out[:, stats.constant] = 0
    return out


@dataclass(frozen=True)
class StatisticsObjective:
    """Squared error plus the L2 penalty, on :class:`LeastSquaresStatistics`.

    Its value and gradient are those of
    :class:`~gradest.linear_model._objective.LinearObjective` with squared
    error on the rows the statistics summarise. The Problem's `data` are the
    first five statistics; its `weights` are a placeholder, since the
    statistics already carry the rows' weights. Frozen, so that every fit
    shares its compiled code.
    """

    def __call__(self, params, data, weights, hyper):
        gram, cross, y_square, x_mean, y_mean = data
        coef = params["coef"]
        twice_loss = (jnp.sum(coef * (gram @ coef)) - 2 * jnp.sum(coef * cross)
                      + y_square)
        if "intercept" in params:
            intercept = params["intercept"]
            twice_loss += (2 * intercept @ (x_mean @ coef) + intercept @ intercept
                           - 2 * intercept @ y_mean)
        return 0.5 * twice_loss + 0.5 * hyper["penalty"] * jnp.sum(coef**2)
