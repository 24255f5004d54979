"""GradLinearRegression: least squares, robust, quantile, GLM or custom losses,
with L2, L1 or elastic-net penalties."""

from functools import partial
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

from .._base import atomic
from .._losses import check_targets, link_of, loss_hyper, loss_names
from .._penalties import PenaltyTerms, penalty_spec
from ._fit import LINEAR_CONSTRAINTS, LinearGradientModel
from ._objective import LinearObjective
from ._streaming import StreamingMixin
from ._targets import RegressionTargetsMixin
from ._underdetermined import warn_if_underdetermined

__all__ = ["GradLinearRegression"]


class GradLinearRegression(RegressorMixin, StreamingMixin, RegressionTargetsMixin,
                           LinearGradientModel, BaseEstimator):
    """Linear regression fitted by gradient-based optimisation with JAX.

    Read more in the :ref:`User Guide <standardization>`.

    The data are standardised (with sample weights) before fitting and the
    solution is mapped back exactly to the original units, so `coef_` and
    `intercept_` are directly comparable with
    :class:`~sklearn.linear_model.LinearRegression`. The targets are
    standardised only for the losses whose minimiser follows them (see
    `standardize_targets`).

    Parameters
    ----------
    loss : {"squared_error", "huber", "absolute_error", "quantile", "poisson", \
            "gamma", "tweedie"} or callable, default="squared_error"
        Per-sample loss. "huber" is the robust loss of
        :class:`~sklearn.linear_model.HuberRegressor`, fitted with a scale
        `scale_` of the residuals (Owen's concomitant scale); constant steps
        may hover near its minimiser when the noise is small next to the
        spread of y (a ConvergenceWarning), which "lbfgs" reaches.
        "quantile" is the pinball loss of
        :class:`~sklearn.linear_model.QuantileRegressor` at `quantile`. It
        and "absolute_error" are not smooth: "lbfgs" minimises smooth
        surrogates of shrinking width instead, each from the last one's
        minimiser. "poisson",
        "gamma" and "tweedie" (of `power`) are half the deviances of
        :class:`~sklearn.linear_model.PoissonRegressor`,
        :class:`~sklearn.linear_model.GammaRegressor` and
        :class:`~sklearn.linear_model.TweedieRegressor` with a log link:
        the model is the log of the mean, `predict` returns the mean, the
        targets must lie in the family's domain (y >= 0 for Poisson, y > 0
        for Gamma) and are never centred or scaled. See :ref:`glm`. A callable
        ``loss(y_true, y_pred)`` written with ``jax.numpy`` returns
        per-sample (or elementwise) losses; it receives targets and
        predictions in the units of `y` (standardised only with
        ``standardize_targets=True``), and 1-D arrays when `y` is 1-D.
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        Penalty on the coefficients of standardised X (never on the
        intercept), with the meaning of `alpha` of the scikit-learn estimator
        of the same penalty (see :ref:`penalties`). "l1" and "elasticnet" set
        coefficients exactly to zero; they are minimised by proximal steps
        (see `solver`). None: no penalty, whatever `alpha`.
    alpha : float, default=0.0
        Strength of the penalty. "l2": the penalty ``0.5 * alpha * ||w||^2``
        on the coefficients of standardised X (and y, where it is
        standardised), added to the sum of weighted losses; with squared
        error the minimiser is :class:`~sklearn.linear_model.Ridge` fitted on
        standardised data. scikit-learn's GLMs penalise the mean loss
        instead: for them ``alpha`` here is their ``alpha`` times the total
        sample weight (see :ref:`glm`). "l1" and "elasticnet": ``alpha *
        l1_ratio * ||w||_1 + 0.5 * alpha * (1 - l1_ratio) * ||w||^2`` added
        to the weighted mean loss, with the coefficients in the units of y;
        with squared error the minimiser is
        :class:`~sklearn.linear_model.Lasso`
        (:class:`~sklearn.linear_model.ElasticNet`) fitted on standardised X.
    l1_ratio : float, default=0.5
        With ``penalty="elasticnet"``: the share of `alpha` that goes to the
        L1 term, in [0, 1], as in :class:`~sklearn.linear_model.ElasticNet`.
        Ignored by the other penalties ("l1" is ``l1_ratio=1``).
    power : float, default=1.5
        Power of the Tweedie distribution of ``loss="tweedie"``: 0 Normal, 1
        Poisson, in (1, 2) compound Poisson-Gamma, 2 Gamma, 3 inverse
        Gaussian. The targets must be non-negative for powers in (0, 2) and
        positive from 2 on, as in :class:`~sklearn.linear_model.TweedieRegressor`.
        Traced, so that a search over powers compiles once.
    quantile : float, default=0.5
        The quantile that ``loss="quantile"`` predicts, in (0, 1).
    epsilon : float, default=1.35
        Threshold of the Huber loss, in units of the jointly estimated scale
        `scale_`, as in :class:`~sklearn.linear_model.HuberRegressor`: the
        residuals beyond ``epsilon * scale_`` count linearly. Smaller is more
        robust; at least 1, below which the scale can shrink to 0.
    fit_intercept : bool, default=True
        Whether to fit an intercept. Without one the data are scaled but not
        centred.
    %(standardize)s
    standardize_targets : {"auto"} or bool, default="auto"
        Whether `standardize` applies to `y` too. "auto": for the built-in
        losses that are location and scale equivariant (their minimiser on
        ``a * y + b`` is the same affine map of the one on y, so the solution
        maps back exactly: all but the GLM families), not for a callable,
        which may mean y in its own units (a Poisson likelihood needs
        counts). True standardises the targets of a callable too: its losses
        are then of standardised residuals; it is an error with "poisson",
        "gamma" and "tweedie", whose targets are never centred or scaled.
        Only X is standardised otherwise, and `learning_rate` counts in the
        units of y. See :ref:`standardization_targets`.
    %(solver)s
    %(learning_rate)s
    %(learning_rate_schedule)s
    %(power_t)s
    %(warmup_fraction)s
    %(max_iter)s
    %(tol)s
    %(batch_size)s
    %(shuffle)s
    %(early_stopping_regressor)s
    %(validation_fraction)s
    %(n_iter_no_change)s
    %(warm_start)s
    %(average_regressor)s
    %(stream_size)s
    %(random_state)s
    %(verbose)s
    %(callbacks)s

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients in the units of X and y.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept in the units of y.
    scale_ : float or ndarray of shape (n_targets,)
        With ``loss="huber"`` only: the scale of the residuals fitted with the
        model, in the units of y (that of the last iterate with
        `partial_fit`).
    n_iter_ : int
        Number of iterations run.
    loss_curve_ : ndarray of shape (`n_iter_`,)
        Objective (standardised units) at the start of each iteration, the
        point whose gradient the step used; the first entry is the starting
        objective.
    %(history_)s
    %(validation_scores_)s
    %(best_validation_score_)s
    %(best_iter_)s
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, if X has string column names.

    See Also
    --------
    sklearn.linear_model.LinearRegression : Closed-form least squares.
    sklearn.linear_model.SGDRegressor : Stochastic gradient descent regression.

    Notes
    -----
    With ``alpha=0`` and fewer samples (of positive weight, one fewer with an
    intercept) than features, or with collinear features, many coefficient
    vectors fit equally well: they predict the same on the training data but
    differ on new data. :class:`~sklearn.linear_model.LinearRegression`
    returns the one of minimum norm in the units of X. With squared error,
    ``solver`` "gd", "momentum", "nesterov" and "lbfgs" started from zero
    (not from a `warm_start`) keep their iterates in the row space of the
    standardised data and return the one of minimum norm in standardised
    units: LinearRegression's solution when all features have the same
    standard deviation, another one otherwise. "adam" and "rmsprop" scale
    each coordinate of their steps separately, leave the row space and return
    yet another. `fit` warns when there are too few samples; ``alpha > 0``
    makes the solution unique. See :ref:`standardization_wide`.

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
        # Below 1 the scale may shrink to 0 (every residual an outlier, an
        # absolute-error fit): HuberRegressor's bound too.
        "epsilon": [Interval(Real, 1, None, closed="left")],
        # Any real power, as TweedieRegressor: for 0 < p < 1 no distribution
        # exists, but the deviance still scores means consistently.
        "power": [Interval(Real, None, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
        "standardize_targets": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(self, *, loss="squared_error", penalty="l2", alpha=0.0,
                 l1_ratio=0.5, power=1.5, quantile=0.5, epsilon=1.35,
                 fit_intercept=True, standardize="auto", standardize_targets="auto",
                 solver="auto",
                 learning_rate=0.05, learning_rate_schedule="constant",
                 power_t=0.25, warmup_fraction=0.1, max_iter=10000, tol=1e-9,
                 batch_size=None, shuffle=True, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=5, warm_start=False,
                 average=False, stream_size=None, random_state=None, verbose=0,
                 callbacks=None):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.power = power
        self.quantile = quantile
        self.epsilon = epsilon
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.standardize_targets = standardize_targets
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.power_t = power_t
        self.warmup_fraction = warmup_fraction
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.warm_start = warm_start
        self.average = average
        self.stream_size = stream_size
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def fit(self, X, y, sample_weight=None):
        """Fit the linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
    @atomic
    def partial_fit(self, X, y, sample_weight=None):
        """Learn from a new chunk of data.

        The first call fixes ``n_features_in_`` (and the number of targets) and
        continues from the model of an earlier `fit`, if any: with squared
        error from the statistics of fit's rows, so that ``fit(A)`` then
        ``partial_fit(B)`` fits A and B together (a warning says when fit kept
        none). What a call does depends on the loss (see
        :ref:`scaling_streaming`):

        - Squared error (up to 2048 features): exact streaming least squares.
          Each call merges the chunk's sufficient statistics (weighted means
          and cross-products of X and y, in float64) into those of the chunks
          before, and solves the least-squares problem of every row seen so
          far with `solver` (any solver, "lbfgs" included), starting from the
          model so far. One pass over a data set, in any chunking, ends where
          `fit` on all of it does, up to `tol`; rows passed twice count twice,
          as a weight of 2 would. `batch_size` and `average` do not apply.
        - The other losses: one epoch of steps on the chunk (one step with
          ``batch_size=None``, else shuffled mini-batches), with the solver's
          state (momentum, Adam's moments) kept from call to call. The
          standardisation statistics are weighted running means and
          variances, updated with every chunk (Chan, Golub and LeVeque's
          merge); before the steps, the current model is mapped exactly into
          the units of the updated statistics. With `average`, `coef_` is the
          running average of the iterates.

        The L2 penalty ("l1" and "elasticnet" are added to the mean loss and
        need no such care) is divided by `stream_size` if set, so that every pass
        over a data set of that weight targets the objective of `fit`; else
        by the total sample weight seen so far, as for one pass (after k
        passes over the same rows it is then k times weaker than in `fit`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        X, y = self._validate_training(X, y, multi_output=True, y_numeric=True,
                                       reset=first)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                             ensure_non_negative=True)
        Y = np.asarray(y, dtype=X.dtype).reshape(X.shape[0], -1)
        hyper = loss_hyper(self.loss, {"epsilon": self.epsilon, "power": self.power,
                                       "quantile": self.quantile})
        check_targets(self.loss, Y, hyper)
        scale_targets = self._scales_targets()
        if previous is not None and previous[0].shape != (X.shape[1], Y.shape[1]):
            if not first:
                raise ValueError(
                    f"y has {Y.shape[1]} target(s), but earlier partial_fit calls "
                    f"had {previous[0].shape[1]}.")
            previous = None
        squeeze = callable(self.loss) and y.ndim == 1
        objective = LinearObjective(self.loss, squeeze=squeeze)
        previous = self._with_scale(previous, objective)
        # fit warns, once the solver that runs is known, when the rows cannot
        # determine the coefficients.
        fit_path = self._update_stream if streaming else partial(
            self._fit_once,
            check_solver=partial(warn_if_underdetermined, self, X, sample_weight))
        coef, intercept = fit_path(
            X, Y, sample_weight, objective=objective,
            scale_targets=scale_targets, penalty=self._penalty_terms(),
            hyper=hyper, previous=previous)
        if y.ndim == 1:
            # As LinearRegression: a scalar of X's dtype, 0.0 without intercept.
            self.coef_ = coef[:, 0]
            self.intercept_ = intercept[0] if self.fit_intercept else 0.0
            if objective.estimates_scale:
                self.scale_ = self.scale_[0]
        else:
            self.coef_, self.intercept_ = coef.T, intercept
        return self

    def _penalty_terms(self) -> PenaltyTerms:
        """`alpha` as scikit-learn's regressors mean it for this penalty.

        Ridge's alpha multiplies a sum of squared errors, Lasso's and
        ElasticNet's their mean (and is in the units of y).
        """
        spec = penalty_spec(self.penalty)
        l1, l2 = spec.split(self.alpha, self.l1_ratio)
        return PenaltyTerms(spec, l1, l2, per_weight=spec.sums_losses)

    def _current_model(self):
        if not hasattr(self, "coef_"):
            return None
        coef = np.atleast_2d(self.coef_).T
        return coef, np.atleast_1d(self.intercept_).astype(coef.dtype)

    def predict(self, X):
        """Predict with the linear model, on the scale of the targets.

        For the log-link families ("poisson", "gamma", "tweedie") this is the
        predicted mean ``exp(X @ coef_.T + intercept_)``, as the
        predictions of scikit-learn's GLMs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predicted values.
        """
        return link_of(self.loss).inverse(self._decision(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags
