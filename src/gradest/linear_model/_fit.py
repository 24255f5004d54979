"""The fit path shared by the linear models: standardise, minimise, map back.

An estimator turns its targets into a matrix Y (regression targets, or 0/1
and one-hot codes for classes) and calls :meth:`LinearGradientModel._fit_once`
(``fit``) or :meth:`~._streaming.StreamingMixin._update_stream`
(``partial_fit``); both run :meth:`LinearGradientModel._standardized_fit`,
which resolves the solver "auto" once for the fit and hands the engine the
name of the solver that runs. The starting point is :mod:`._start`'s, the
continuation of a nonsmooth loss :mod:`._smoothing`'s.
"""

import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._base import ENGINE_CONSTRAINTS, GradientFitMixin, fit_history
from .._engine import (
    AUTO,
    PAD_CHEAP_ROWS,
    SOLVERS,
    MinimizeResult,
    aligned_zeros,
    bucket_columns,
    bucket_rows,
    is_sparse,
    resolve_solver,
    sparse_design,
)
from .._losses import homogeneity_degree
from .._moments import Moments, column_largest
from .._penalties import PenaltyTerms, penalty_hyper, penalty_names
from .._scaling import (
    column_standardization,
    implicit_standardization,
    standardize,
    unscale_linear,
)
from ._objective import SCALE_PARAM, LinearScore
from ._smoothing import SmoothedLossMixin, _needs_smoothing
from ._start import _starting_intercept, _starting_log_scale, _starting_point
from ._statistics import (
    RowMoments,
    kept_for_streaming,
    merge_row_moments,
    row_moments,
    statistics_problem,
    use_statistics,
)

__all__ = ["FLOAT_DTYPES", "LINEAR_CONSTRAINTS", "SPARSE_FORMATS",
           "LinearGradientModel", "StandardizedFit", "moderate"]

FLOAT_DTYPES = [np.float64, np.float32]
# Sparse inputs the linear models take as they are (validate_data converts
# other formats to CSR).
SPARSE_FORMATS = ["csr", "csc"]

LINEAR_CONSTRAINTS: dict = {
    **ENGINE_CONSTRAINTS,
    "solver": [StrOptions({*SOLVERS, AUTO})],
    "penalty": [StrOptions(penalty_names()), None],
    "l1_ratio": [Interval(Real, 0, 1, closed="both")],
    "fit_intercept": ["boolean"],
    "standardize": [StrOptions({"auto"}), "boolean"],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "warm_start": ["boolean"],
    "average": ["boolean", Interval(Integral, 1, None, closed="left")],
    "stream_size": [Interval(Real, 0, None, closed="neither"), None],
    "shuffle": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
}


class StandardizedFit(NamedTuple):
    """What one run of the fit path found, in user units, and its statistics.

    `scale` is the concomitant scale of each output (None when the loss has
    none); `rows` the sufficient statistics of all the rows fitted so far
    (None off the statistics path).
    """

    coef: np.ndarray
    intercept: np.ndarray
    result: MinimizeResult
    x_moments: Moments | None
    y_moments: Moments | None
    scale: np.ndarray | None = None
    rows: RowMoments | None = None


class LinearGradientModel(SmoothedLossMixin, GradientFitMixin):
    """Standardise, minimise in standardised units, map back to user units."""

    def _fit_once(self, X, Y, sample_weight, *, objective, scale_targets,
                  penalty, hyper, previous, score="r2", stratify=None,
                  check_solver=None):
        """``fit``: the whole data set; records ``n_iter_``, ``loss_curve_``,
        ``history_`` and, with early stopping, the validation scores.

        `penalty` is a :class:`~gradest._penalties.PenaltyTerms`. With
        ``early_stopping`` a `validation_fraction` of the rows (stratified by
        `stratify`, the class labels of a classifier) is held out and scored
        with `score` ("r2" or "accuracy"). `check_solver` is called with the
        solver that runs (see :meth:`_standardized_fit`). Returns coef of
        shape (n_features, n_outputs) and intercept of shape (n_outputs,) in
        user units.
        """
        validation = None
        if self.early_stopping:
            X, Y, sample_weight, validation = _validation_split(
                self, X, Y, sample_weight, stratify)
        out = self._standardized_fit(
            X, Y, sample_weight, objective=objective, scale_targets=scale_targets,
            hyper=hyper, penalty=penalty, penalty_weight=sample_weight.sum(),
            previous=previous, validation=validation, check_solver=check_solver,
            score=(LinearScore(score, objective.link) if validation is not None
                   else None),
            statistics=validation is None and use_statistics(
                objective.loss, self.batch_size, *X.shape))
        result = out.result
        # The least-squares statistics of fit's rows, for a later partial_fit
        # (see _streaming.py); a fit with held-out rows keeps none.
        self._fit_rows_ = None if validation is not None else kept_for_streaming(
            objective.loss, out.rows, X, Y, sample_weight)
        self.n_iter_ = result.n_iter
        self.loss_curve_ = result.loss_curve.astype(X.dtype)
        self.history_ = fit_history(result, X.dtype)
        if validation is None:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_iter_ = None
        else:
            self.validation_scores_ = result.records["validation_score"].astype(
                X.dtype)
            self.best_validation_score_ = float(result.best_score)
            self.best_iter_ = int(result.best_iter)
        return out.coef, out.intercept

    # The one fit path of both estimators, fit and partial_fit alike: its
    # steps (statistics, starting point, engine, un-scaling) read best in order.
    def _standardized_fit(self, X, Y, sample_weight, *, objective, scale_targets,
                          hyper, penalty: PenaltyTerms, penalty_weight: float,
                          previous, prior: tuple = (None, None),
                          opt_state: Any = None, statistics: bool = False,
                          prior_rows: RowMoments | None = None,
                          validation: tuple | None = None, score=None,
                          stochastic: bool = False,
                          check_solver: Callable[[str], None] | None = None,
                          **options) -> StandardizedFit:
        """Fit ``Y ~ X @ coef + intercept`` in standardised units.

        `previous` is ``(coef, intercept)`` in user units to start from (warm
        start, or the model so far when streaming), optionally followed by
        the concomitant scale of each output; `prior` the moments of earlier
        rows of a stream, merged with those of X and Y; `opt_state` and
        `options` go to the engine. With `scale_targets` False the targets
        are neither centred nor scaled (a likelihood means them in the
        user's units); X alone is standardised, which keeps the un-scaling
        exact. A loss with a concomitant scale records it as ``scale_``, in
        the units of Y, here: the one place both ``fit`` and ``partial_fit``
        pass through. With `statistics` (squared error only), the solver
        iterates on the data's sufficient statistics instead of the rows (see
        :mod:`._statistics`), merged with `prior_rows`, those of earlier rows
        of a stream (then `prior` is not used: the merged statistics hold
        the column moments too). `penalty` acts on the standardised
        coefficients, never on the intercept; a per-weight penalty's
        strengths are divided by `penalty_weight`, and a mean-based one's are
        in the units of the targets (converted here to standardised targets).
        `validation`, ``(X, Y, sample_weight)`` of held-out rows, is
        standardised like the training rows and scored with `score` in the
        loop (early stopping; rows only). The solver "auto" is resolved here,
        once for the fit, and the engine gets the name of the solver that
        runs; `stochastic` (``partial_fit``'s steps on one chunk at a time)
        resolves it as for mini-batches, and `check_solver` is called with
        the name before the engine runs (the estimator's checks and warnings
        that name it).
        """
        n_features = X.shape[1]
        # A stream in progress, or the exact stream continuing a fit's rows.
        standardize = self._resolve_standardize(
            X, continuing=prior_rows is not None
            or getattr(self, "_stream_", None) is not None)
        full_batch = not stochastic and options.get(
            "batch_size", getattr(self, "batch_size", None)) is None
        # With an intercept, full batches are centred whether or not they are
        # scaled: the unpenalised intercept absorbs any shift of a column, so
        # the minimiser is the same, and centring profiles the intercept out
        # (its optimum no longer depends on the coefficients). Without it a
        # penalty of 1e16 held the intercept at its start, and the iterates
        # of wide data left the row space of the centred X, so that
        # alpha -> 0 did not give LinearRegression's minimum-norm solution.
        # Stochastic steps on raw data keep SGDRegressor's iterates.
        center = self.fit_intercept and (standardize or full_batch)
        # Cross-products of columns beyond float64's range (a column in units
        # of 1e300) would overflow or underflow; their rows are fitted instead.
        statistics = statistics and moderate(X) and moderate(Y)
        # The statistics' one pass over the rows also gives the column moments.
        rows = row_moments(X, Y, sample_weight) if statistics else None
        if rows is not None and prior_rows is not None:
            rows, prior = merge_row_moments(prior_rows, rows), (None, None)
        x_moments, x_stats = column_standardization(
            X, sample_weight, prior[0], standardize, center,
            rows and rows.columns(slice(None, n_features)))
        y_moments, y_stats = column_standardization(
            Y, sample_weight, prior[1], standardize and scale_targets,
            center and scale_targets,
            rows and rows.columns(slice(n_features, None)))

        if statistics:
            fitted, data, weights = statistics_problem(
                rows, x_stats, y_stats, center_x=center,
                center_y=center and scale_targets)
            n_columns = n_features
        else:
            fitted = objective
            data, weights = self._fitting_rows(X, Y, sample_weight, x_stats, y_stats,
                                               center, scale_targets)
            n_columns = data[0].shape[1]
            if validation is not None:
                # The training rows' standardisation and column count.
                *rows, n_rows = validation
                validation = self._fitting_rows(
                    *rows, x_stats, y_stats, center, scale_targets,
                    n_columns=n_columns, n_rows=n_rows)

        hyper = {**hyper, **penalty_hyper(
            penalty, penalty_weight,
            y_stats.scale if standardize and scale_targets else None,
            homogeneity_degree(objective.loss))}
        params = _starting_point(previous, x_stats, y_stats, n_columns, Y.shape[1],
                                 X.dtype, self.fit_intercept)
        if previous is None and self.fit_intercept and not scale_targets:
            params["intercept"] = (
                rows.mean[n_features:].astype(X.dtype) if statistics else
                _starting_intercept(objective, data[1], weights, hyper, Y,
                                    sample_weight))
        if objective.estimates_scale:
            params[SCALE_PARAM] = _starting_log_scale(previous, y_stats, X.dtype)
        # The solver that runs ("auto" resolved, the one resolution of the
        # fit) goes on to the engine, and decides whether a nonsmooth loss is
        # minimised through its smooth surrogate. Steps on one chunk at a time
        # see neither the full objective nor its curvature.
        solver = resolve_solver(
            options.get("solver", self.solver), smooth=penalty.spec.smooth,
            full_batch=full_batch,
            curvature=not stochastic and objective.has_curvature(params),
            differentiable=objective.differentiable)
        if check_solver is not None:
            check_solver(solver)
        options["solver"] = solver
        if statistics or not _needs_smoothing(objective, solver):
            result = self._minimize(fitted, params, data, weights, hyper,
                                    opt_state=opt_state, penalty=penalty.spec,
                                    score=score, validation=validation, **options)
        else:
            result = self._minimize_smoothed(objective, params, data, weights, hyper,
                                             penalty.spec, solver=solver)
        intercept = result.params.get("intercept", np.zeros(Y.shape[1], X.dtype))
        coef, intercept = unscale_linear(result.params["coef"][:n_features],
                                         intercept, x_stats, y_stats)
        if not self.fit_intercept:
            intercept = np.zeros_like(intercept)
        scale = None
        if objective.estimates_scale:
            # sigma scales with the residuals, so with y's scale alone.
            scale = (np.exp(result.params[SCALE_PARAM]) * y_stats.scale).astype(X.dtype)
            self.scale_ = scale
        return StandardizedFit(coef.astype(X.dtype), intercept.astype(X.dtype),
                               result, x_moments, y_moments, scale, rows)

    def _resolve_standardize(self, X, *, continuing: bool) -> bool:
        """Whether this fit standardises: `standardize`, with "auto" resolved.

        "auto" standardises dense X and leaves sparse X as it is (see the
        estimators' `standardize`). A stream keeps the resolution of its
        first chunk (or of the fit it continues), so that every chunk is
        fitted in the same units whatever its format.
        """
        if self.standardize != "auto":
            return bool(self.standardize)
        if continuing and hasattr(self, "_standardized_"):
            return self._standardized_
        self._standardized_ = not is_sparse(X)
        return self._standardized_

    def _fitting_rows(self, X, Y, sample_weight, x_stats, y_stats, center,
                      scale_targets, *, n_columns=None, n_rows=None):
        """The standardised rows to fit, ``(X_fit, Y_fit)``, and their weights.

        `n_columns` and `n_rows` fix the padding (else bucketed, the rows for
        full batches only).
        """
        # One copy of X: standardised straight into a buffer whose row count is
        # rounded up (rows of zero weight) and whose column count is rounded up
        # (columns of zeros, whose coefficients stay zero), so that folds of
        # similar sizes and feature subsets share compiled code. Mini-batches
        # keep the exact rows they shuffle. Aligned, so that JAX uses the
        # buffers without a second copy.
        # Sparse X becomes a design that scales its stored entries and keeps
        # the centring implicit (one copy of the nonzeros, O(n + p) more).
        n_samples, n_features = X.shape
        if n_rows is None:
            n_rows = n_samples
            if self.batch_size is None:
                n_rows = bucket_rows(n_samples, **PAD_CHEAP_ROWS)
        if n_columns is None:
            n_columns = bucket_columns(n_features, n_rows)
        Y_fit = aligned_zeros((n_rows, Y.shape[1]), X.dtype)
        weights = np.zeros(n_rows, dtype=X.dtype)
        if is_sparse(X):
            offset, multiplier = implicit_standardization(x_stats, center=center)
            X_fit = sparse_design(X, offset, multiplier, n_rows=n_rows,
                                  n_columns=n_columns, dtype=X.dtype)
        else:
            X_fit = aligned_zeros((n_rows, n_columns), X.dtype)
            standardize(X, x_stats, center=center,
                        out=X_fit[:n_samples, :n_features])
        standardize(Y, y_stats, center=center and scale_targets,
                    out=Y_fit[:n_samples])
        weights[:n_samples] = sample_weight
        return (X_fit, Y_fit), weights

    def _validate_training(self, X, y, **options):
        """``validate_data`` for fit and partial_fit: dense or sparse X.

        Sparse X (CSR or CSC, matrix or array) is kept sparse; duplicate
        entries, which its column moments cannot take, are summed in a copy.
        """
        X, y = validate_data(self, X, y, accept_sparse=SPARSE_FORMATS,
                             dtype=FLOAT_DTYPES, **options)
        if is_sparse(X) and not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        return X, y

    def _decision(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=SPARSE_FORMATS, dtype=FLOAT_DTYPES,
                          reset=False)
        # A sparse product is dense: an ndarray for matrices and arrays alike.
        return np.asarray(X @ self.coef_.T) + self.intercept_


def _validation_split(estimator, X, Y, sample_weight, stratify):
    """Hold out `validation_fraction` of the rows.

    scikit-learn's ``train_test_split`` with the estimator's `random_state`,
    stratified by `stratify` when given (a classifier's labels), as
    ``SGDClassifier`` and ``MLPClassifier`` split. Returns ``X, Y, w`` to
    fit and ``(X_val, Y_val, w_val, n_rows)``: the held-out rows and the
    rows to pad them to, the same fraction of the bucket of all the rows
    (so that the folds of a search and its refit on all rows, whose row
    counts share a bucket, share compiled code).
    """
    # Imported here, not with gradest: sklearn.model_selection costs about
    # 30 ms, and only early stopping needs it.
    from sklearn.model_selection import train_test_split

    try:
        X, X_val, Y, Y_val, w, w_val = train_test_split(
            X, Y, sample_weight, test_size=estimator.validation_fraction,
            stratify=stratify, random_state=estimator.random_state)
    except ValueError as exc:
        raise ValueError(
            f"early_stopping=True holds out validation_fraction="
            f"{estimator.validation_fraction} of the {X.shape[0]} samples"
            f"{', stratified by class,' if stratify is not None else ''} and "
            f"cannot: {exc}") from exc
    if not (w_val > 0).any() or not (w > 0).any():
        raise ValueError(
            "early_stopping=True needs samples of positive weight in both the "
            f"training and the validation part (validation_fraction="
            f"{estimator.validation_fraction}).")
    n_rows = math.ceil(estimator.validation_fraction
                       * bucket_rows(X.shape[0] + X_val.shape[0], **PAD_CHEAP_ROWS))
    return X, Y, w, (X_val, Y_val, w_val, max(n_rows, X_val.shape[0]))


# Columns whose largest magnitude lies in this range have cross-products
# well inside float64's.
_MODERATE = (1e-100, 1e100)


def moderate(A) -> bool:
    """Whether every nonzero column of `A` has magnitudes in `_MODERATE`."""
    largest = column_largest(A)
    nonzero = largest[largest > 0]
    return bool(np.all((nonzero >= _MODERATE[0]) & (nonzero <= _MODERATE[1])))
