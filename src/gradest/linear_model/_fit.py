"""The fit path shared by the linear models: standardise, minimise, map back.

An estimator turns its targets into a matrix Y (regression targets, or 0/1
and one-hot codes for classes) and calls :meth:`LinearGradientModel._fit_once`
(``fit``) or :meth:`~._streaming.StreamingMixin._update_stream`
(``partial_fit``); both run :meth:`LinearGradientModel._standardized_fit`.
"""

import math
import warnings
from dataclasses import replace
from functools import partial
from numbers import Integral, Real
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.exceptions import ConvergenceWarning
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
    run_pass,
    solver_spec,
    sparse_design,
)
from .._losses import best_constant, homogeneity_degree, smoothed_form
from .._penalties import PenaltyTerms, penalty_hyper, penalty_names
from .._scaling import (
    Moments,
    column_largest,
    compute_moments,
    identity_standardization,
    implicit_standardization,
    merge_moments,
    scale_linear,
    standardization_from_moments,
    standardize,
    unscale_linear,
)
from ._objective import SCALE_PARAM, SMOOTHING, LinearObjective, LinearScore
from ._statistics import (
    RowMoments,
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
    "standardize": ["boolean"],
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


class LinearGradientModel(GradientFitMixin):
    """Standardise, minimise in standardised units, map back to user units."""

    def _fit_once(self, X, Y, sample_weight, *, objective, scale_targets,
                  penalty, hyper, previous, score="r2", stratify=None):
        """``fit``: the whole data set; records ``n_iter_``, ``loss_curve_``,
        ``history_`` and, with early stopping, the validation scores.

        `penalty` is a :class:`~gradest._penalties.PenaltyTerms`. With
        ``early_stopping`` a `validation_fraction` of the rows (stratified by
        `stratify`, the class labels of a classifier) is held out and scored
        with `score` ("r2" or "accuracy"). Returns coef of shape (n_features,
        n_outputs) and intercept of shape (n_outputs,) in user units.
        """
        validation = None
        if self.early_stopping:
            X, Y, sample_weight, validation = _validation_split(
                self, X, Y, sample_weight, stratify)
        out = self._standardized_fit(
            X, Y, sample_weight, objective=objective, scale_targets=scale_targets,
            hyper=hyper, penalty=penalty, penalty_weight=sample_weight.sum(),
            previous=previous, validation=validation,
            score=(LinearScore(score, objective.link) if validation is not None
                   else None),
            statistics=validation is None and use_statistics(
                objective.loss, self.batch_size, *X.shape))
        result = out.result
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
        loop (early stopping; rows only).
        """
        n_features = X.shape[1]
        center = self.fit_intercept and self.standardize
        # Cross-products of columns beyond float64's range (a column in units
        # of 1e300) would overflow or underflow; their rows are fitted instead.
        statistics = statistics and moderate(X) and moderate(Y)
        # The statistics' one pass over the rows also gives the column moments.
        rows = row_moments(X, Y, sample_weight) if statistics else None
        if rows is not None and prior_rows is not None:
            rows, prior = merge_row_moments(prior_rows, rows), (None, None)
        x_moments, x_stats = _column_statistics(
            X, sample_weight, prior[0], self.standardize, center,
            rows and rows.columns(slice(None, n_features)))
        y_moments, y_stats = _column_statistics(
            Y, sample_weight, prior[1], self.standardize and scale_targets, center,
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
            y_stats.scale if self.standardize and scale_targets else None,
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
        # The solver that runs ("auto" resolved) decides whether a nonsmooth
        # loss is minimised through its smooth surrogate.
        solver = resolve_solver(options.get("solver", self.solver),
                                smooth=penalty.spec.smooth,
                                full_batch=getattr(self, "batch_size", None) is None,
                                curvature=objective.has_curvature(params))
        if statistics or not _needs_smoothing(objective, solver):
            result = self._minimize(fitted, params, data, weights, hyper,
                                    opt_state=opt_state, penalty=penalty.spec,
                                    score=score, validation=validation, **options)
        else:
            result = self._minimize_smoothed(objective, params, data, weights, hyper,
                                             penalty.spec)
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

    def _minimize_smoothed(self, objective: LinearObjective, params, data, weights,
                           hyper, penalty=None) -> MinimizeResult:
        """Minimise a non-smooth loss through its smooth surrogate, by continuation.

        The surrogate of each width in `_SMOOTHING_WIDTHS` (relative to the
        spread of the targets the solver sees) is minimised from the
        minimiser of the one before: the first is nearly quadratic and
        quickly solved, each later one starts close to its minimiser. The
        pinball objective of the last minimiser is within ``width * log(2)``
        of the minimum by construction, and much closer in practice (the
        rounded kink costs little where few residuals are near 0). Widths
        below `_SMOOTHING_FLOOR_ULPS` ulps are skipped. The
        stages share one compiled loop (the width is traced) and `max_iter`
        counts their iterations together; the loss curve is the surrogate's.
        `penalty` (a :class:`~gradest._penalties.PenaltySpec` or None) acts on
        the coefficients at every stage.
        """
        smoothed = replace(objective, smoothed=True)
        spread = _spread(data[1], weights)
        floor = _SMOOTHING_FLOOR_ULPS * float(np.finfo(weights.dtype).eps)
        widths = [width for width in _SMOOTHING_WIDTHS if width >= floor]
        curves, n_iter, result = [], 0, None
        for stage, relative in enumerate(widths):
            if result is not None and n_iter >= self.max_iter:
                break
            with warnings.catch_warnings():
                if stage < len(widths) - 1:
                    # An earlier width only gives the next its start: its
                    # shortfalls are not the fit's.
                    warnings.simplefilter("ignore", ConvergenceWarning)
                result = self._minimize(
                    smoothed, params, data, weights,
                    {**hyper, SMOOTHING: relative * spread},
                    penalty=penalty, max_iter=self.max_iter - n_iter)
            params, n_iter = result.params, n_iter + result.n_iter
            curves.append(result.loss_curve)
        return replace(result, outcome=replace(result.outcome, n_iter=n_iter),
                       loss_curve=np.concatenate(curves))

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


# Smoothing widths of a non-smooth loss's continuation, relative to the spread
# of the targets. Quantile regression, 20,000 x 20 at q=0.9 with heavy-tailed
# noise: each width takes lbfgs 11-56 iterations, and the pinball objective
# was 2.2e-5 above HiGHS's exact minimum after 1e-2, 2.4e-6 after 1e-3 and
# 2.6e-7 after 1e-4.
_SMOOTHING_WIDTHS = (1e-1, 1e-2, 1e-3, 1e-4)
# Narrower kinks than this many ulps of the working precision lose their
# curvature to rounding: in float32 (ulp 1.2e-7) lbfgs stalls at 1e-4 (while
# still lowering the objective a little), so float32 stops at 1e-3, where the
# same problem at 400 rows was 3e-5 above the minimum and at 20,000 rows 3e-7.
_SMOOTHING_FLOOR_ULPS = 1000


def _needs_smoothing(objective: LinearObjective, solver: str) -> bool:
    """Whether `solver` should minimise the smooth surrogate of the loss."""
    return (solver_spec(solver).needs_smooth
            and smoothed_form(objective.loss) is not None)


def _spread(Y: np.ndarray, weights: np.ndarray) -> float:
    """Weighted standard deviation of Y's entries (1 when they are all equal)."""
    total = weights.sum()
    mean = (weights @ Y) / total
    spread = float(np.sqrt(np.mean((weights @ (Y - mean) ** 2) / total)))
    return spread if spread > 0 else 1.0


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


def _starting_point(previous, x_stats, y_stats, n_columns, n_outputs, dtype,
                    fit_intercept):
    """The parameters to start from, in standardised units, padded to `n_columns`."""
    coef0 = np.zeros((n_columns, n_outputs), dtype=dtype)
    intercept0 = np.zeros(n_outputs, dtype=dtype)
    if previous is not None:
        scaled, intercept0 = scale_linear(*previous[:2], x_stats, y_stats)
        coef0[: scaled.shape[0]] = scaled
    params = {"coef": coef0}
    if fit_intercept:
        params["intercept"] = intercept0.astype(dtype)
    return params


def _starting_log_scale(previous, y_stats, dtype):
    """log(sigma) to start from, in standardised units.

    The previous fit's scale if there is one, else 1 in the units the
    optimiser sees: the spread of y when it is standardised.
    """
    if previous is not None and len(previous) > 2:
        return np.log(previous[2] / y_stats.scale).astype(dtype)
    return np.zeros(y_stats.scale.shape, dtype=dtype)


def _starting_intercept(objective, Y_fit, weights, hyper, Y, sample_weight):
    """The best constant of a built-in loss, else the better of 0 and the
    link of the weighted mean of Y, as the intercept.

    For targets left in the user's units: a first-order solver moves the
    intercept by about `learning_rate` per step, so a least-squares-like loss
    on targets far from 0 would take many steps from 0, while a user's
    likelihood with an exponential link (Poisson) may overflow at the mean
    of counts. For a built-in family with a log link the link of the mean,
    ``log(mean)``, is the exact minimiser among constants; it is not a
    candidate where the mean is not positive. Comparing the objective at
    both constants (with zero coefficients) suits every case. Where the
    loss knows the exact minimiser among constants
    (:attr:`~gradest._losses.LossSpec.best_constant`), that is the start,
    with nothing to evaluate: the evaluation compiles a program of its own
    (0.1-0.15 s in each new process, such as each worker of a grid search).
    """
    mean = (sample_weight @ Y) / sample_weight.sum()
    exact = best_constant(objective.loss, mean)
    if exact is not None:
        return exact.astype(Y.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        linked = objective.link.forward(mean)
    candidates = np.stack([np.zeros_like(mean),
                           np.where(np.isfinite(linked), linked, 0)]).astype(Y.dtype)
    if objective.estimates_scale:
        return candidates[0]
    values = run_pass(_constant_objective, Y_fit, weights, hyper, candidates,
                      dtype=Y.dtype, objective=objective)
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=np.inf)
    return candidates[int(values[1] < values[0])]


@partial(jax.jit, static_argnames="objective")
def _constant_objective(Y, weights, hyper, candidates, *, objective):
    """`objective` with zero coefficients at each row of `candidates`."""
    no_features = jnp.zeros((Y.shape[0], 0), Y.dtype)
    coef = jnp.zeros((0, Y.shape[1]), Y.dtype)
    return jax.vmap(lambda intercept: objective(
        {"coef": coef, "intercept": intercept}, (no_features, Y), weights, hyper)
    )(candidates)
