"""GradLinearRegression: least squares, robust or custom losses, with an L2 penalty."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, validate_data

from .._base import atomic_fit, atomic_update
from .._losses import loss_names
from ._fit import FLOAT_DTYPES, LINEAR_CONSTRAINTS, LinearGradientModel
from ._objective import LinearObjective
from ._streaming import StreamingMixin

__all__ = ["GradLinearRegression"]


class GradLinearRegression(RegressorMixin, StreamingMixin, LinearGradientModel,
                           BaseEstimator):
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
        **LINEAR_CONSTRAINTS,
        "loss": [StrOptions(loss_names("regression")), callable],
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
        step with ``batch_size=None``, else shuffled mini-batches. With squared
        error and ``batch_size=None``, a chunk of at least four rows per
        feature takes its step on its sufficient statistics, as `fit` does
        (see :ref:`scaling`): the step on the rows up to rounding, and calls
        on the whole data set take exactly `fit`'s steps.

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
        X, y = validate_data(self, X, y, dtype=FLOAT_DTYPES, multi_output=True,
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
        objective = LinearObjective(self.loss, squeeze=squeeze)
        fit_path = self._update_stream if streaming else self._fit_once
        coef, intercept = fit_path(
            X, Y, sample_weight, objective=objective, scale_targets=True,
            penalty_strength=self.alpha, hyper={"epsilon": self.epsilon},
            previous=previous)
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
