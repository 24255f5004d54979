"""The fit path shared by the linear models: standardise, minimise, map back.

An estimator turns its targets into a matrix Y (regression targets, or 0/1
and one-hot codes for classes) and calls :meth:`LinearGradientModel._fit_once`
(``fit``) or :meth:`~._streaming.StreamingMixin._update_stream`
(``partial_fit``); both run :meth:`LinearGradientModel._standardized_fit`.
"""

from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .._base import ENGINE_CONSTRAINTS, GradientFitMixin
from .._engine import PAD_CHEAP_ROWS, MinimizeResult, aligned_zeros, bucket_rows
from .._scaling import (
    Moments,
    compute_moments,
    identity_standardization,
    merge_moments,
    scale_linear,
    standardization_from_moments,
    standardize,
    unscale_linear,
)
from ._statistics import row_moments, statistics_problem, use_statistics

__all__ = ["FLOAT_DTYPES", "LINEAR_CONSTRAINTS", "LinearGradientModel",
           "StandardizedFit"]

FLOAT_DTYPES = [np.float64, np.float32]

LINEAR_CONSTRAINTS: dict = {
    **ENGINE_CONSTRAINTS,
    "fit_intercept": ["boolean"],
    "standardize": ["boolean"],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "warm_start": ["boolean"],
    "average": ["boolean", Interval(Integral, 1, None, closed="left")],
    "stream_size": [Interval(Real, 0, None, closed="neither"), None],
}


class StandardizedFit(NamedTuple):
    """What one run of the fit path found, in user units, and its statistics."""

    coef: np.ndarray
    intercept: np.ndarray
    result: MinimizeResult
    x_moments: Moments | None
    y_moments: Moments | None


class LinearGradientModel(GradientFitMixin):
    """Standardise, minimise in standardised units, map back to user units."""

    def _fit_once(self, X, Y, sample_weight, *, objective, scale_targets,
                  penalty_strength, hyper, previous):
        """``fit``: the whole data set; records ``n_iter_`` and ``loss_curve_``.

        Returns coef of shape (n_features, n_outputs) and intercept of shape
        (n_outputs,) in user units.
        """
        out = self._standardized_fit(
            X, Y, sample_weight, objective=objective, scale_targets=scale_targets,
            hyper={**hyper, "penalty": penalty_strength / sample_weight.sum()},
            previous=previous,
            statistics=use_statistics(objective.loss, self.batch_size, *X.shape))
        self.n_iter_ = out.result.n_iter
        self.loss_curve_ = out.result.loss_curve
        return out.coef, out.intercept

    def _standardized_fit(self, X, Y, sample_weight, *, objective, scale_targets,
                          hyper, previous, prior: tuple = (None, None),
                          opt_state: Any = None, statistics: bool = False,
                          **options) -> StandardizedFit:
        """Fit ``Y ~ X @ coef + intercept`` in standardised units.

        `previous` is ``(coef, intercept)`` in user units to start from (warm
        start, or the model so far when streaming); `prior` the moments of
        earlier rows of a stream, merged with those of X and Y; `opt_state`
        and `options` go to the engine. With `statistics` (squared error
        only), the solver iterates on the data's sufficient statistics
        instead of the rows (see :mod:`._statistics`).
        """
        n_samples, n_features = X.shape
        center = self.fit_intercept and self.standardize
        # The statistics' one pass over the rows also gives the column moments.
        rows = row_moments(X, Y, sample_weight) if statistics else None
        x_moments, x_stats = _column_statistics(
            X, sample_weight, prior[0], self.standardize, center,
            rows and rows.columns(slice(None, n_features)))
        y_moments, y_stats = _column_statistics(
            Y, sample_weight, prior[1], self.standardize and scale_targets, center,
            rows and rows.columns(slice(n_features, None)))

        if statistics:
            objective, data, weights, n_stated = statistics_problem(
                rows, x_stats, y_stats, center_x=center,
                center_y=center and scale_targets,
                n_rows=bucket_rows(n_samples, **PAD_CHEAP_ROWS))
        else:
            data, weights = self._fitting_rows(X, Y, sample_weight, x_stats, y_stats,
                                               center, scale_targets)
            n_stated = None

        params = _starting_point(previous, x_stats, y_stats, n_features, Y.shape[1],
                                 X.dtype, self.fit_intercept)
        result = self._minimize(objective, params, data, weights, hyper,
                                opt_state=opt_state, n_samples=n_stated, **options)
        intercept = result.params.get("intercept", np.zeros(Y.shape[1], X.dtype))
        coef, intercept = unscale_linear(result.params["coef"], intercept,
                                         x_stats, y_stats)
        if not self.fit_intercept:
            intercept = np.zeros_like(intercept)
        return StandardizedFit(coef.astype(X.dtype), intercept.astype(X.dtype),
                               result, x_moments, y_moments)

    def _fitting_rows(self, X, Y, sample_weight, x_stats, y_stats, center,
                      scale_targets):
        """The standardised rows to fit, ``(X_fit, Y_fit)``, and their weights."""
        # One copy of X: standardised straight into a buffer whose row count is
        # rounded up (rows of zero weight), so that folds of similar sizes share
        # compiled code. Mini-batches keep the exact rows they shuffle. Aligned,
        # so that JAX uses the buffers without a second copy.
        n_samples, n_features = X.shape
        n_rows = n_samples
        if self.batch_size is None:
            n_rows = bucket_rows(n_samples, **PAD_CHEAP_ROWS)
        X_fit = aligned_zeros((n_rows, n_features), X.dtype)
        Y_fit = aligned_zeros((n_rows, Y.shape[1]), X.dtype)
        weights = np.zeros(n_rows, dtype=X.dtype)
        standardize(X, x_stats, center=center, out=X_fit[:n_samples])
        standardize(Y, y_stats, center=center and scale_targets,
                    out=Y_fit[:n_samples])
        weights[:n_samples] = sample_weight
        return (X_fit, Y_fit), weights

    def _decision(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        return X @ self.coef_.T + self.intercept_


def _column_statistics(A, sample_weight, prior, scale, center, moments=None):
    """Moments of A's columns (merged with `prior`) and the standardisation.

    Without `scale` the columns are left as they are and no moments are kept.
    `moments` are A's own, if already computed.
    """
    if not scale:
        return None, identity_standardization(A.shape[1], A.dtype)
    if moments is None:
        moments = compute_moments(A, sample_weight)
    moments = merge_moments(prior, moments)
    return moments, standardization_from_moments(
        moments, center=center, scale=True, dtype=A.dtype)


def _starting_point(previous, x_stats, y_stats, n_features, n_outputs, dtype,
                    fit_intercept):
    """The parameters to start from, in standardised units."""
    if previous is not None:
        coef0, intercept0 = scale_linear(*previous, x_stats, y_stats)
    else:
        coef0 = np.zeros((n_features, n_outputs), dtype=dtype)
        intercept0 = np.zeros(n_outputs, dtype=dtype)
    params = {"coef": coef0.astype(dtype)}
    if fit_intercept:
        params["intercept"] = intercept0.astype(dtype)
    return params
