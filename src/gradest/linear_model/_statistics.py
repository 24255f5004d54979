"""Least squares on sufficient statistics: the data enter through X'WX, X'WY, Y'WY.

With squared error, the weighted mean loss of ``X @ coef + intercept``,

    0.5 * sum_i w_i ||coef' x_i + intercept - y_i||^2 / sum_i w_i,

depends on the rows only through their weighted means ``m_x``, ``m_y`` and
their weighted cross-products about those means, normalised by the total
weight ``sum_i w_i``:

    G = (X - m_x)'W(X - m_x),  B = (X - m_x)'W(Y - m_y),
    c = tr((Y - m_y)'W(Y - m_y)),

as ``0.5 * (tr(coef' G coef) - 2 tr(coef' B) + c + ||coef' m_x + intercept -
m_y||^2)``: the statistics objective is the data objective in exact
arithmetic, with or without centring and intercept. The moments are kept
about the means, not about zero, even when the fit does not centre: the
error of the fitted means is then computed as a residual, not as a
difference of large sums (uncentred data would otherwise lose the digits of
the objective's value to cancellation). With centring the means are zero up
to rounding and the intercept decouples from the coefficients.

One blocked pass over the raw rows builds their means and centred
cross-products (O(n p^2), in BLAS; each block centred about its own mean and
merged exactly into the blocks before it, Chan, Golub and LeVeque's update,
jointly for X and Y, so no sum of squares of uncentred values is ever
formed). The same pass gives the column moments of the standardisation, and
standardising the statistics is then a matter of p x p arithmetic. Every
iteration costs O(p^2) instead of a pass over the n rows; the solver, its
learning rate and its iterates are those of the rows, up to rounding.

The statistics are accumulated in float64 whatever the data's precision:
float32 rows are exact float64 numbers, so the float64 statistics, and the
objective run on them in float64, are the float32 data's exact objective up
to float64 rounding (see :func:`statistics_dtype`).
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import scipy.sparse

from .._losses import has_statistics
from .._moments import Moments
from .._scaling import Standardization
from .._shared import shared

__all__ = ["LeastSquaresStatistics", "RowMoments", "StatisticsObjective",
           "kept_for_streaming", "least_squares_statistics", "merge_row_moments",
           "row_moments", "statistics_dtype",
           "statistics_problem", "streams_exactly", "use_statistics"]

# Rows per block of the sparse pass: bounds its temporaries (a block of
# float64 standardised rows) to a few tens of MB.
_BLOCK_ROWS = 65536
# Elements of one block of the dense pass: 1 MB of float64, which stays in
# cache between its copy, centring and product (200,000 x 51: 47 ms for the
# pass instead of 98 ms in blocks of 65,536 rows).
_BLOCK_ELEMENTS = 131_072
# The statistics path pays one pass of O(n p^2) and then O(p^2) a step, the
# data path O(n p) a step: with n >= 4 p the Gram matrix is at most a quarter
# of the data's size and the pass costs what about p / 2 data-path iterations,
# which the first-order solvers need many times over. Up to 2048 features the
# Gram matrix (32 MB in float64) fits easily in memory and cache-friendly BLAS.
_MIN_ROWS_PER_FEATURE = 4
# What `fit` keeps so that a later `partial_fit` continues the least-squares
# problem of fit's rows: statistics of at most 2**20 entries (8 MB, up to
# 1,023 columns of [X, y]), and computed for the purpose only when their pass
# costs at most 2**27 multiply-adds (tens of milliseconds).
_KEPT_ENTRIES = 2**20
_KEPT_PASS_COST = 2**27
_MAX_FEATURES = 2048


class LeastSquaresStatistics(NamedTuple):
    """Weighted moments of standardised data, normalised by `weight`.

    Attributes
    ----------
    gram : ndarray of shape (n_features, n_features)
        ``(X - m_x)'W(X - m_x) / weight``.
    cross : ndarray of shape (n_features, n_outputs)
        ``(X - m_x)'W(Y - m_y) / weight``.
    y_square : ndarray of shape ()
        ``tr((Y - m_y)'W(Y - m_y)) / weight``.
    x_mean : ndarray of shape (n_features,)
        ``m_x = X'w / weight`` (zero up to rounding when centred).
    y_mean : ndarray of shape (n_outputs,)
        ``m_y = Y'w / weight``.
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
    return (streams_exactly(loss, n_features) and batch_size is None
            and n_samples >= _MIN_ROWS_PER_FEATURE * n_features)


def kept_for_streaming(loss, rows: "RowMoments | None", X, Y,
                       sample_weight) -> "RowMoments | None":
    """The statistics that ``fit`` keeps for a later ``partial_fit``, or None.

    `rows` are those fit computed anyway (None off the statistics path). A
    ``partial_fit`` after ``fit`` merges its chunks into them, so that it
    solves the least-squares problem of fit's rows and the new ones together.
    Kept when they are small (``_KEPT_ENTRIES``); computed here only when
    their pass is cheap (``_KEPT_PASS_COST``) and the data are dense.
    """
    n_columns = X.shape[1] + Y.shape[1]
    if not streams_exactly(loss, X.shape[1]) or n_columns**2 > _KEPT_ENTRIES:
        return None
    if rows is None and not scipy.sparse.issparse(X) and (
            X.shape[0] * n_columns**2 <= _KEPT_PASS_COST):
        rows = row_moments(X, Y, sample_weight)
    # Columns beyond float64's squares: partial_fit refuses such chunks too.
    return rows if rows is not None and np.isfinite(rows.moment).all() else None


def streams_exactly(loss, n_features: int) -> bool:
    """Whether the loss has sufficient statistics that fit in memory.

    Then ``partial_fit`` accumulates them: every call merges its chunk's
    statistics into those of the chunks before and solves the least-squares
    problem of all the rows seen so far (exact streaming least squares), so
    one pass over the data in any chunking ends where ``fit`` on all of it
    does. There is no rows-per-feature condition here: the p x p statistics
    are kept whatever the chunk size. :func:`use_statistics` adds the
    conditions under which ``fit`` is cheaper on them.
    """
    return has_statistics(loss) and n_features <= _MAX_FEATURES


def statistics_dtype(dtype: np.dtype) -> np.dtype:
    """The precision of the statistics objective: float64 for any input.

    For float32 data the float64 objective is both exact to float64
    rounding and as cheap (O(p^2) a step), and its tolerance floor is that
    of float64, so that the default ``tol`` is met instead of stopping at
    float32's rounding noise; the coefficients are returned as float32.
    """
    return np.dtype(np.float64)


class RowMoments(NamedTuple):
    """Weighted means and centred cross-products of [X, Y]'s columns, in float64.

    Attributes
    ----------
    weight : float
        Sum of the weights.
    count : int
        Number of rows with positive weight.
    mean : ndarray of shape (n_columns,)
        Weighted column means.
    moment : ndarray of shape (n_columns, n_columns)
        Weighted sum of the products of deviations from `mean`.
    """

    weight: float
    count: int
    mean: np.ndarray
    moment: np.ndarray

    def columns(self, part: slice) -> Moments:
        """The :class:`~gradest._scaling.Moments` of some of the columns.

        In units of a scale of 1: the statistics path only takes columns
        whose squares are well inside float64's range.
        """
        mean = self.mean[part]
        return Moments(self.weight, self.count, mean,
                       np.diag(self.moment)[part].copy(), np.ones_like(mean))


def row_moments(X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray) -> RowMoments:
    """:func:`_row_moments`, computed once per arrays within a search's
    :func:`~gradest._shared.shared_results` (its candidates share their
    fold's statistics)."""
    return shared(_row_moments, X, Y, sample_weight)


def _row_moments(X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray) -> RowMoments:
    """Means and centred cross-products of X and Y, in one blocked float64 pass.

    Each block is centred about its own weighted mean and merged into the
    blocks before it (Chan, Golub and LeVeque's update), so no sum of
    squares of uncentred values is ever formed; the same pass gives the
    column moments that standardisation needs. Sparse X is not densified
    (see :func:`_sparse_row_moments`).
    """
    if scipy.sparse.issparse(X):
        return _sparse_row_moments(X, Y, sample_weight)
    n_features = X.shape[1]
    n_columns = n_features + Y.shape[1]
    moments = None
    # One buffer for every block: a new one each time would be fresh memory
    # whose first touch (page faults) costs more than the block's product.
    block_rows = max(1, min(X.shape[0], _BLOCK_ELEMENTS // n_columns))
    buffer = np.empty((block_rows, n_columns))
    for start in range(0, X.shape[0], block_rows):
        rows = slice(start, start + block_rows)
        weights = sample_weight[rows].astype(np.float64)
        block_weight = float(weights.sum())
        if block_weight == 0:
            continue
        # X and Y side by side: one product of a block with itself gives its
        # parts of all three cross-products (a symmetric rank-k update).
        block = buffer[:weights.shape[0]]
        block[:, :n_features] = X[rows]
        block[:, n_features:] = Y[rows]
        block_mean = (weights @ block) / block_weight
        block -= block_mean
        block *= np.sqrt(weights)[:, None]
        moments = merge_row_moments(moments, RowMoments(
            block_weight, int(np.count_nonzero(weights)), block_mean,
            block.T @ block))
    if moments is None:
        raise ValueError("sample_weight must have a positive sum.")
    # Symmetric, so that the objective's quadratic form has a symmetric Hessian.
    return moments._replace(moment=0.5 * (moments.moment + moments.moment.T))


def _sparse_row_moments(X, Y: np.ndarray, sample_weight: np.ndarray) -> RowMoments:
    """:func:`row_moments` of a sparse X, from sparse products (SciPy).

    Centring X would fill in its zeros, so its centred Gram matrix is formed
    as ``X'WX - W m_x m_x'`` (p x p, dense) from the sparse product of each
    block of rows; the targets are centred before their products, so
    ``(X - m_x)'W(Y - m_y) = X'W(Y - m_y)`` exactly (the weighted sum of
    centred targets is zero). The subtraction loses digits only for columns
    whose mean is large against their spread, which sparse columns (mostly
    zeros) do not have.
    """
    weights = np.asarray(sample_weight, np.float64)
    total = float(weights.sum())
    if total == 0:
        raise ValueError("sample_weight must have a positive sum.")
    n_features = X.shape[1]
    x_mean = np.asarray(X.T @ weights, np.float64).ravel() / total
    Y = np.asarray(Y, np.float64)
    y_mean = (weights @ Y) / total
    Y_centred = Y - y_mean
    weighted_Y = Y_centred * weights[:, None]
    gram = np.zeros((n_features, n_features))
    cross = np.zeros((n_features, Y.shape[1]))
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        block = scipy.sparse.csr_array(X[rows], dtype=np.float64)
        weighted = scipy.sparse.diags_array(weights[rows]) @ block
        gram += (block.T @ weighted).toarray()
        cross += block.T @ weighted_Y[rows]
    gram -= total * np.outer(x_mean, x_mean)
    moment = np.block([[gram, cross], [cross.T, Y_centred.T @ weighted_Y]])
    moment = 0.5 * (moment + moment.T)
    return RowMoments(total, int(np.count_nonzero(weights)),
                      np.concatenate([x_mean, y_mean]), moment)


def merge_row_moments(first: RowMoments | None, second: RowMoments) -> RowMoments:
    """The moments of two sets of rows together (Chan, Golub and LeVeque).

    Exact up to rounding whatever the two sets' sizes: blocks of one pass
    and the chunks of a stream are merged alike, so that ``partial_fit``
    holds the statistics ``fit`` would compute from all of its rows.
    """
    if first is None:
        return second
    total = first.weight + second.weight
    delta = second.mean - first.mean
    moment = first.moment + second.moment + np.outer(delta, delta) * (
        first.weight * second.weight / total)
    return RowMoments(total, first.count + second.count,
                      first.mean + delta * (second.weight / total), moment)


def least_squares_statistics(moments: RowMoments, x_stats: Standardization,
                             y_stats: Standardization, *, center_x: bool,
                             center_y: bool) -> LeastSquaresStatistics:
    """The statistics of the standardised rows, from those of the raw rows.

    Standardising ``(a - mean) / scale`` moves the means and divides the
    centred cross-products by the scales; constant columns become zero when
    centred, as in :func:`gradest._scaling.standardize`.
    """
    n_features = x_stats.mean.shape[0]
    offset = np.concatenate([x_stats.mean, y_stats.mean]).astype(np.float64)
    scale = np.concatenate([x_stats.scale, y_stats.scale]).astype(np.float64)
    mean = (moments.mean - offset) / scale
    moment = moments.moment / np.outer(scale, scale) / moments.weight
    zero = np.concatenate([x_stats.constant & center_x, y_stats.constant & center_y])
    mean[zero] = 0
    moment[zero, :] = 0
    moment[:, zero] = 0
    return LeastSquaresStatistics(
        gram=moment[:n_features, :n_features], cross=moment[:n_features, n_features:],
        y_square=np.asarray(np.trace(moment[n_features:, n_features:])),
        x_mean=mean[:n_features], y_mean=mean[n_features:], weight=moments.weight)


def statistics_problem(moments: RowMoments, x_stats: Standardization,
                       y_stats: Standardization, *, center_x: bool,
                       center_y: bool):
    """The engine's view of a least-squares fit on the statistics of its rows.

    Returns ``(objective, data, weights)`` for
    :meth:`gradest._base.GradientFitMixin._minimize`.
    """
    stats = least_squares_statistics(moments, x_stats, y_stats, center_x=center_x,
                                     center_y=center_y)
    dtype = statistics_dtype(x_stats.mean.dtype)
    data = tuple(np.asarray(a, dtype) for a in stats[:5])
    # One placeholder "row": the statistics are whole on every device.
    return StatisticsObjective(), data, np.ones(1, dtype)


@dataclass(frozen=True)
class StatisticsObjective:
    """Squared error on :class:`LeastSquaresStatistics` (the engine adds the penalty).

    Its value and gradient are those of
    :class:`~gradest.linear_model._objective.LinearObjective` with squared
    error on the rows the statistics summarise. The Problem's `data` are the
    first five statistics; its `weights` are a placeholder, since the
    statistics already carry the rows' weights. Frozen, so that every fit
    shares its compiled code.
    """

    # A positive semi-definite quadratic: the engine may rely on convexity
    # and smoothness.
    convex = True
    differentiable = True

    def __call__(self, params, data, weights, hyper):
        gram, cross, y_square, x_mean, y_mean = data
        coef = params["coef"]
        # The error of the fitted means, as a residual (no cancellation).
        mean_residual = x_mean @ coef - y_mean
        if "intercept" in params:
            mean_residual = mean_residual + params["intercept"]
        twice_loss = (jnp.sum(coef * (gram @ coef)) - 2 * jnp.sum(coef * cross)
                      + y_square + jnp.sum(mean_residual**2))
        return 0.5 * twice_loss

    def has_curvature(self, params) -> bool:
        """Whether :meth:`hessian_block` applies (one output column)."""
        return set(params) <= {"coef", "intercept"} and params["coef"].shape[1] == 1

    def hessian_block(self, params, data, weights, hyper, index):
        """The Hessian on the flat coordinates `index` (coefficients, then the
        intercept at ``index == n_coef``; -1 for none), read off the statistics:
        ``gram + m m'`` for the coefficients, ``m`` against the intercept and 1
        for the intercept itself, with ``m`` the weighted means of X."""
        gram, _, _, x_mean, _ = data
        n_coef = params["coef"].shape[0]
        mean = jnp.ravel(x_mean)
        is_coef = (index >= 0) & (index < n_coef)
        is_intercept = index == n_coef
        safe = jnp.where(is_coef, index, 0)
        m = jnp.where(is_coef, mean[safe], jnp.where(is_intercept, 1, 0))
        block = jnp.where(is_coef[:, None] & is_coef[None, :],
                          gram[safe][:, safe], 0)
        return block + jnp.outer(m, m)
