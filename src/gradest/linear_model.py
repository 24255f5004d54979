"""Linear regression and logistic regression fitted by gradient descent in JAX."""

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._base import ENGINE_CONSTRAINTS, GradientFitMixin, atomic_fit, atomic_update
from ._engine import aligned_zeros, bucket_rows
from ._losses import sample_losses, weighted_mean
from ._scaling import (
    Moments,
    compute_moments,
    identity_standardization,
    merge_moments,
    scale_linear,
    standardization_from_moments,
    standardize,
    unscale_linear,
)
from ._solvers import needs_full_batch

__all__ = ["GradLinearRegression", "GradLogisticRegression"]

_FLOAT_DTYPES = [np.float64, np.float32]
# Full-batch fits of up to this many rows are padded to a power of two, so
# that cross-validation folds and the final refit of a search share compiled
# code: a few thousand padded rows cost microseconds a step, compiling costs
# a quarter of a second or more.
_POWER_OF_TWO_ROWS = 4096


@dataclass(frozen=True)
class _LinearObjective:
    """Weighted mean loss of ``X @ coef + intercept`` plus an L2 penalty.

    Frozen, so equal objectives hash alike and share compiled code.
    """

    loss: str | Callable
    squeeze: bool = False

    def __call__(self, params, data, weights, hyper):
        X, Y = data
        predictions = X @ params["coef"]
        if "intercept" in params:
            predictions = predictions + params["intercept"]
        losses = sample_losses(self.loss, Y, predictions, hyper, squeeze=self.squeeze)
        penalty = 0.5 * hyper["penalty"] * jnp.sum(params["coef"] ** 2)
        return weighted_mean(losses, weights) + penalty


class _Stream(NamedTuple):
    """What `partial_fit` carries from one call to the next.

    `iterate` is the solver's current model in user units; with averaging,
    `coef_` and `intercept_` show `average`, the mean of the iterates after
    averaging began (`n_averaged` of them).
    """

    x_moments: Moments | None
    y_moments: Moments | None
    total_weight: float
    opt_state: Any
    n_seen: int = 0
    iterate: tuple | None = None
    average: tuple | None = None
    n_averaged: int = 0


class _LinearGradientModel(GradientFitMixin):
    """Standardise, minimise in standardised units, map back to user units."""

    _linear_constraints: dict = {
        **ENGINE_CONSTRAINTS,
        "fit_intercept": ["boolean"],
        "standardize": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "warm_start": ["boolean"],
        "average": ["boolean", Interval(Integral, 1, None, closed="left")],
        "stream_size": [Interval(Real, 0, None, closed="neither"), None],
    }

    def _fit_linear(self, X, Y, sample_weight, *, objective, scale_targets,
                    penalty_strength, hyper, previous, streaming):
        """Fit ``Y ~ X @ coef + intercept``; returns coef and intercept to show.

        `previous` is ``(coef, intercept)`` in user units to start from (warm
        start, or the model so far when streaming). With `streaming`, the new
        rows update the statistics of earlier `partial_fit` calls, one epoch
        is taken, and the stream's state is recorded; otherwise the fit's
        ``n_iter_`` and ``loss_curve_`` are.
        """
        stream = getattr(self, "_stream_", None) if streaming else None
        engine_options = self._partial_fit_options() if streaming else {}
        n_samples, n_features = X.shape
        n_outputs = Y.shape[1]
        center = self.fit_intercept and self.standardize
        x_moments = y_moments = None
        if self.standardize:
            x_moments = merge_moments(stream and stream.x_moments,
                                      compute_moments(X, sample_weight))
            x_stats = standardization_from_moments(
                x_moments, center=center, scale=True, dtype=X.dtype)
        else:
            x_stats = identity_standardization(n_features, X.dtype)
        if self.standardize and scale_targets:
            y_moments = merge_moments(stream and stream.y_moments,
                                      compute_moments(Y, sample_weight))
            y_stats = standardization_from_moments(
                y_moments, center=center, scale=True, dtype=X.dtype)
        else:
            y_stats = identity_standardization(n_outputs, X.dtype)
        total_weight = (stream.total_weight if stream else 0.0) + sample_weight.sum()

        # One copy of X: standardised straight into a buffer whose row count is
        # rounded up (rows of zero weight), so that folds of similar sizes share
        # compiled code. Mini-batches keep the exact rows they shuffle. Aligned,
        # so that JAX uses the buffers without a second copy.
        n_rows = n_samples
        if self.batch_size is None:
            n_rows = bucket_rows(n_samples, power_of_two_up_to=_POWER_OF_TWO_ROWS)
        X_fit = aligned_zeros((n_rows, n_features), X.dtype)
        Y_fit = aligned_zeros((n_rows, n_outputs), X.dtype)
        weights = np.zeros(n_rows, dtype=X.dtype)
        standardize(X, x_stats, center=center, out=X_fit[:n_samples])
        standardize(Y, y_stats, center=center and scale_targets,
                    out=Y_fit[:n_samples])
        weights[:n_samples] = sample_weight

        if previous is not None:
            coef0, intercept0 = scale_linear(*previous, x_stats, y_stats)
        else:
            coef0 = np.zeros((n_features, n_outputs), dtype=X.dtype)
            intercept0 = np.zeros(n_outputs, dtype=X.dtype)
        params = {"coef": coef0.astype(X.dtype)}
        if self.fit_intercept:
            params["intercept"] = intercept0.astype(X.dtype)

        # The penalty is relative to the weight of the whole data set: in a
        # stream that is `stream_size` when known, so that every pass targets
        # the objective of `fit`; else the weight seen so far.
        data_weight = total_weight
        if streaming and self.stream_size is not None:
            data_weight = self.stream_size
        hyper = {**hyper, "penalty": penalty_strength / data_weight}
        result = self._minimize(objective, params, (X_fit, Y_fit), weights, hyper,
                                **engine_options)
        intercept = result.params.get("intercept", np.zeros(n_outputs, X.dtype))
        coef, intercept = unscale_linear(result.params["coef"], intercept,
                                         x_stats, y_stats)
        if not self.fit_intercept:
            intercept = np.zeros_like(intercept)
        coef, intercept = coef.astype(X.dtype), intercept.astype(X.dtype)
        if not streaming:
            self._set_result(result)
            return coef, intercept
        stream = _Stream(x_moments, y_moments, total_weight, result.opt_state)
        return self._record_stream(result, stream, coef, intercept, n_samples)

    def _partial_fit_options(self):
        """Engine settings of one `partial_fit` call: one epoch over the new rows."""
        if needs_full_batch(self.solver):
            raise ValueError(
                f"partial_fit needs a first-order solver; solver={self.solver!r} "
                "works on the full objective only. Use solver='adam' or 'gd'.")
        stream = getattr(self, "_stream_", None)
        return {"max_iter": 1, "fixed_steps": True,
                "opt_state": stream.opt_state if stream else None}

    def _previous_iterate(self):
        """Where the next `partial_fit` call starts: the solver's own iterate."""
        stream = getattr(self, "_stream_", None)
        return stream.iterate if stream is not None else self._current_model()

    def _record_stream(self, result, stream, coef, intercept, n_samples):
        """Store the stream's state; return the model to show (maybe averaged)."""
        previous = getattr(self, "_stream_", None)
        self.n_iter_ = (self.n_iter_ if previous else 0) + result.n_iter
        self.loss_curve_ = np.concatenate(
            [self.loss_curve_ if previous else [], result.loss_curve])
        n_seen = (previous.n_seen if previous else 0) + n_samples
        average, n_averaged = (previous.average, previous.n_averaged) if previous \
            else (None, 0)
        start = 0 if self.average is True else self.average
        if self.average is not False and n_seen >= start:
            n_averaged += 1
            # Averaging linear models in user units averages their predictions.
            average = (coef, intercept) if average is None else tuple(
                mean + (new - mean) / n_averaged
                for mean, new in zip(average, (coef, intercept), strict=True))
        self._stream_ = stream._replace(
            n_seen=n_seen, iterate=(coef, intercept), average=average,
            n_averaged=n_averaged)
        return average if average is not None else (coef, intercept)

    def _decision(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        return X @ self.coef_.T + self.intercept_

    def _set_result(self, result):
        self.n_iter_ = result.n_iter
        self.loss_curve_ = result.loss_curve


class GradLinearRegression(RegressorMixin, _LinearGradientModel, BaseEstimator):
    """Linear regression fitted by gradient-based optimisation with JAX.

    Read more in the :ref:`User Guide <standardization>`.

    The data are standardised (with sample weights) before fitting and the
    solution is mapped back exactly to the original units, so `coef_` and
    `intercept_` are directly comparable with
    :class:`~sklearn.linear_model.LinearRegression`.

    Parameters
    ----------
    loss : {"squared_error", "huber", "absolute_error"} or callable, \
            default="squared_error"
        Per-sample loss. A callable ``loss(y_true, y_pred)`` written with
        ``jax.numpy`` returns per-sample (or elementwise) losses; it receives
        standardised targets and predictions when ``standardize=True``, and
        1-D arrays when `y` is 1-D.
    alpha : float, default=0.0
        L2 penalty ``0.5 * alpha * ||w||^2`` on the standardised
        coefficients, added to the sum of weighted losses. With squared error
        the minimiser is :class:`~sklearn.linear_model.Ridge` fitted on
        standardised X.
    epsilon : float, default=1.35
        Threshold of the Huber loss, in standardised residual units.
    fit_intercept : bool, default=True
        Whether to fit an intercept. Without one the data are scaled but not
        centred.
    standardize : bool, default=True
        Whether to optimise in standardised units. With False, the loss and
        the penalty are on the raw data.
    solver : {"gd", "momentum", "nesterov", "rmsprop", "adam", "lbfgs"}, \
            default="adam"
        Optimiser. "lbfgs" ignores `learning_rate` and needs full batches.
    learning_rate : float, default=0.05
        Constant step size of the first-order solvers.
    max_iter : int, default=10000
        Maximum number of iterations (epochs with mini-batches).
    tol : float, default=1e-9
        Convergence tolerance on the largest gradient component of the
        standardised objective (on the epoch loss with mini-batches).
    batch_size : int, default=None
        None for full-batch steps, else the size of shuffled mini-batches.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    average : bool or int, default=False
        For `partial_fit`: show the average of the iterates (Polyak-Ruppert
        averaging, in user units) instead of the last one; an int starts
        averaging once that many samples have been seen. Averaging removes
        most of the noise that constant steps leave on a stream. `fit` is
        not affected.
    stream_size : float, default=None
        For `partial_fit`: the total sample weight of one pass over the
        streamed data set (its number of rows without sample weights). The
        penalty is relative to it, as in `fit` on the whole data set, however
        many passes the stream makes. None: relative to the weight seen so
        far, which suits a single pass. `fit` is not affected.
    random_state : int, RandomState instance or None, default=None
        Seeds the mini-batch shuffling.
    verbose : int, default=0
        Print progress while fitting when positive.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients in the units of X and y.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept in the units of y.
    n_iter_ : int
        Number of iterations run.
    loss_curve_ : ndarray of shape (`n_iter_`,)
        Objective (standardised units) at the start of each iteration, the
        point whose gradient the step used; the first entry is the starting
        objective.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, if X has string column names.

    See Also
    --------
    sklearn.linear_model.LinearRegression : Closed-form least squares.
    sklearn.linear_model.SGDRegressor : Stochastic gradient descent regression.

    Examples
    --------
    >>> import numpy as np
    >>> from gradest import GradLinearRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = 1.8 * X[:, 0] + 32
    >>> reg = GradLinearRegression(solver="lbfgs").fit(X, y)
    >>> print(np.round(reg.coef_, 6), round(reg.intercept_, 6))
    [1.8] 32.0
    """

    _parameter_constraints: dict = {
        **_LinearGradientModel._linear_constraints,
        "loss": [StrOptions({"squared_error", "huber", "absolute_error"}), callable],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, loss="squared_error", alpha=0.0, epsilon=1.35,
                 fit_intercept=True, standardize=True, solver="adam",
                 learning_rate=0.05, max_iter=10000, tol=1e-9, batch_size=None,
                 warm_start=False, average=False, stream_size=None,
                 random_state=None, verbose=0):
        self.loss = loss
        self.alpha = alpha
        self.epsilon = epsilon
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.warm_start = warm_start
        self.average = average
        self.stream_size = stream_size
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y, sample_weight=None):
        """Fit the linear model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight equals repeating the row.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        previous = self._current_model() if self.warm_start else None
        self.__dict__.pop("_stream_", None)
        return self._fit(X, y, sample_weight, previous=previous, streaming=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_update
    def partial_fit(self, X, y, sample_weight=None):
        """Take one epoch of steps on a new chunk of data.

        The first call fixes ``n_features_in_`` (and the number of targets) and
        continues from the model of an earlier `fit`, if any. The
        standardisation statistics are weighted running means and variances,
        updated with every chunk (Chan, Golub and LeVeque's merge); before the
        steps, the current model is mapped exactly into the units of the
        updated statistics, and the solver's state (momentum, Adam's moments)
        is kept from call to call. The L2 penalty is divided by `stream_size`
        if set, so that every pass over a data set of that weight targets the
        objective of `fit`; else by the total sample weight seen so far, as
        for one pass (after k passes over the same rows it is then k times
        weaker than in `fit`). With `average`, `coef_` is the running average of the
        iterates. Each call is one epoch over the chunk: one
        step with ``batch_size=None``, else shuffled mini-batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, previous=self._previous_iterate(),
                         streaming=True)

    def _fit(self, X, y, sample_weight, *, previous, streaming):
        first = not (streaming and hasattr(self, "_stream_"))
        X, y = validate_data(self, X, y, dtype=_FLOAT_DTYPES, multi_output=True,
                             y_numeric=True, reset=first)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                             ensure_non_negative=True)
        Y = np.asarray(y, dtype=X.dtype).reshape(X.shape[0], -1)
        if previous is not None and previous[0].shape != (X.shape[1], Y.shape[1]):
            if not first:
                raise ValueError(
                    f"y has {Y.shape[1]} target(s), but earlier partial_fit calls "
                    f"had {previous[0].shape[1]}.")
            previous = None
        squeeze = callable(self.loss) and y.ndim == 1
        objective = _LinearObjective(self.loss, squeeze=squeeze)
        coef, intercept = self._fit_linear(
            X, Y, sample_weight, objective=objective, scale_targets=True,
            penalty_strength=self.alpha, hyper={"epsilon": self.epsilon},
            previous=previous, streaming=streaming)
        if y.ndim == 1:
            self.coef_, self.intercept_ = coef[:, 0], float(intercept[0])
        else:
            self.coef_, self.intercept_ = coef.T, intercept
        return self

    def _current_model(self):
        if not hasattr(self, "coef_"):
            return None
        coef = np.atleast_2d(self.coef_).T
        return coef, np.atleast_1d(self.intercept_).astype(coef.dtype)

    def predict(self, X):
        """Predict with the linear model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predicted values.
        """
        return self._decision(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class GradLogisticRegression(ClassifierMixin, _LinearGradientModel, BaseEstimator):
    """Logistic regression (binary or multinomial) fitted by gradient descent in JAX.

    Read more in the :ref:`User Guide <standardization>`.

    The features are standardised (with sample weights) before fitting and
    the solution is mapped back exactly to the original units; the minimiser
    equals :class:`~sklearn.linear_model.LogisticRegression` with the same
    `C` fitted on standardised features.

    Parameters
    ----------
    C : float, default=1.0
        Inverse strength of the L2 penalty ``0.5 * ||w||^2 / C`` on the
        standardised coefficients, added to the sum of weighted log-losses.
        ``np.inf`` means no penalty.
    fit_intercept : bool, default=True
        Whether to fit intercepts.
    standardize : bool, default=True
        Whether to optimise in standardised units.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights.
    solver : {"gd", "momentum", "nesterov", "rmsprop", "adam", "lbfgs"}, \
            default="adam"
        Optimiser. "lbfgs" ignores `learning_rate` and needs full batches.
    learning_rate : float, default=0.05
        Constant step size of the first-order solvers.
    max_iter : int, default=10000
        Maximum number of iterations (epochs with mini-batches).
    tol : float, default=1e-9
        Convergence tolerance on the largest gradient component of the
        standardised objective (on the epoch loss with mini-batches).
    batch_size : int, default=None
        None for full-batch steps, else the size of shuffled mini-batches.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    average : bool or int, default=False
        For `partial_fit`: show the average of the iterates (Polyak-Ruppert
        averaging, in user units) instead of the last one; an int starts
        averaging once that many samples have been seen. Averaging removes
        most of the noise that constant steps leave on a stream. `fit` is
        not affected.
    stream_size : float, default=None
        For `partial_fit`: the total sample weight of one pass over the
        streamed data set (its number of rows without sample weights). The
        penalty is relative to it, as in `fit` on the whole data set, however
        many passes the stream makes. None: relative to the weight seen so
        far, which suits a single pass. `fit` is not affected.
    random_state : int, RandomState instance or None, default=None
        Seeds the mini-batch shuffling.
    verbose : int, default=0
        Print progress while fitting when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients in the units of X (one row for two classes).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    n_iter_ : int
        Number of iterations run.
    loss_curve_ : ndarray of shape (`n_iter_`,)
        Objective at the start of each iteration, the point whose gradient
        the step used; the first entry is the starting objective.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, if X has string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The same model by quasi-Newton solvers.

    Examples
    --------
    >>> import numpy as np
    >>> from gradest import GradLogisticRegression
    >>> X = np.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15],
    ...               [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
    >>> y = np.array([True, True, False, True])
    >>> clf = GradLogisticRegression(solver="lbfgs").fit(X, y)
    >>> clf.predict(X)
    array([ True,  True, False,  True])
    """

    _parameter_constraints: dict = {
        **_LinearGradientModel._linear_constraints,
        "C": [Interval(Real, 0, None, closed="right")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, *, C=1.0, fit_intercept=True, standardize=True,
                 class_weight=None, solver="adam", learning_rate=0.05,
                 max_iter=10000, tol=1e-9, batch_size=None, warm_start=False,
                 average=False, stream_size=None, random_state=None, verbose=0):
        self.C = C
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.class_weight = class_weight
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.warm_start = warm_start
        self.average = average
        self.stream_size = stream_size
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels, of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight equals repeating the row.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        previous = self._current_model() if self.warm_start else None
        self.__dict__.pop("_stream_", None)
        X, y = validate_data(self, X, y, dtype=_FLOAT_DTYPES)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes, "
                f"but the data contain only one class: {classes[0]!r}.")
        return self._fit(X, y, sample_weight, classes, previous=previous,
                         streaming=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_update
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Take one epoch of steps on a new chunk of data.

        The first call fixes ``classes_`` (from `classes`, or from an earlier
        `fit`) and ``n_features_in_``. The feature statistics are weighted
        running means and variances updated with every chunk; the current
        model is mapped exactly into the updated units before the steps, and
        the solver's state is kept between calls. The penalty is divided by
        `stream_size` if set, so that every pass over a data set of that
        weight targets the objective of `fit`; else by the total sample weight
        seen so far, as for one pass (after k passes over the same rows it is
        then k times weaker than in `fit`). With `average`, `coef_` is the
        running average of the iterates. Each call is one epoch over the
        chunk: one step with ``batch_size=None``, else shuffled mini-batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : array-like of shape (n_samples,)
            Its labels, all among `classes`.
        classes : array-like of shape (n_classes,), default=None
            Every class of the stream; required on the first call unless the
            model was fitted before.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the whole data set; pass a dict of "
                "class weights to partial_fit.")
        first = not hasattr(self, "_stream_")
        if classes is not None:
            classes = np.unique(classes)
            if hasattr(self, "classes_") and not first and not np.array_equal(
                    classes, self.classes_):
                raise ValueError(
                    f"classes={classes.tolist()} differs from the classes of the "
                    f"first partial_fit call, {self.classes_.tolist()}.")
        elif hasattr(self, "classes_"):
            classes = self.classes_
        else:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes, got {classes!r}.")
        X, y = validate_data(self, X, y, dtype=_FLOAT_DTYPES, reset=first)
        check_classification_targets(y)
        unseen = np.setdiff1d(y, classes)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that are not in classes "
                f"{classes.tolist()}.")
        return self._fit(X, y, sample_weight, classes,
                         previous=self._previous_iterate(), streaming=True)

    def _fit(self, X, y, sample_weight, classes, *, previous, streaming):
        codes = np.searchsorted(classes, y)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                             ensure_non_negative=True)
        if self.class_weight is not None:
            per_class = compute_class_weight(self.class_weight, classes=classes, y=y)
            sample_weight = sample_weight * per_class[codes].astype(X.dtype)
        weighted_classes = np.unique(codes[sample_weight > 0])
        if not streaming and len(weighted_classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes with "
                "positive weight, but only the class "
                f"{classes[weighted_classes[0]]!r} has positive sample_weight.")

        if len(classes) == 2:
            Y = codes[:, None].astype(X.dtype)
        else:
            Y = np.eye(len(classes), dtype=X.dtype)[codes]
        if previous is not None and previous[0].shape != (X.shape[1], Y.shape[1]):
            previous = None
        penalty = 0.0 if np.isinf(self.C) else 1.0 / self.C
        coef, intercept = self._fit_linear(
            X, Y, sample_weight, objective=_LinearObjective("log_loss"),
            scale_targets=False, penalty_strength=penalty, hyper={},
            previous=previous, streaming=streaming)
        self.classes_ = classes
        self.coef_, self.intercept_ = coef.T, intercept
        return self

    def _current_model(self):
        if not hasattr(self, "coef_"):
            return None
        return self.coef_.T, self.intercept_

    def decision_function(self, X):
        """Logits: of the second class for two classes, else of every class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            Decision values.
        """
        scores = self._decision(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted labels.
        """
        scores = self.decision_function(X)
        codes = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[codes]

    def predict_log_proba(self, X):
        """Log of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of `classes_`.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return -np.logaddexp(0, np.stack([scores, -scores], axis=1))
        shifted = scores - scores.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of `classes_`.
        """
        return np.exp(self.predict_log_proba(X))
