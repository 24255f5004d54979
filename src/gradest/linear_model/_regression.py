"""GradLinearRegression: least squares, robust, quantile, GLM or custom losses,
with L2, L1 or elastic-net penalties."""

import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

from .._base import atomic
from .._engine import is_sparse, resolve_solver
from .._losses import (
    check_targets,
    is_equivariant,
    link_of,
    loss_hyper,
    loss_names,
    scales_targets,
)
from .._penalties import PenaltyTerms, penalty_spec
from ._fit import LINEAR_CONSTRAINTS, LinearGradientModel
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
    standardize : bool, default=True
        Whether to optimise in standardised units. With False, the loss and
        the penalty are on the raw data.
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
    solver : {"auto", "gd", "momentum", "nesterov", "rmsprop", "adam", \
            "lbfgs", "fista", "prox-newton"}, default="auto"
        Optimiser. "auto": "prox-newton" for "l1" and "elasticnet"
        penalties on full batches of a smooth convex loss with one output
        column, "fista" for other full-batch problems with those
        penalties, "adam" otherwise. "lbfgs", "fista" and "prox-newton"
        ignore `learning_rate` and need full batches; "lbfgs" needs a
        differentiable objective (not "l1" or "elasticnet"). "fista" is
        accelerated proximal gradient descent with backtracking;
        "prox-newton" a proximal Newton method on working sets
        (coordinate descent on the Hessian of a few coefficients). With "l1"
        and "elasticnet", the first-order solvers follow each step with the
        penalty's proximal map (soft thresholding) of step `learning_rate`.
    learning_rate : float, default=0.05
        Constant step size of the first-order solvers.
    learning_rate_schedule : {"constant", "invscaling", "adaptive", "cosine", \
            "warmup_cosine"}, default="constant"
        How the step size of the first-order solvers changes during `fit`,
        from `learning_rate` (see :ref:`training_schedules`): "invscaling"
        ``learning_rate / t ** power_t`` at the t-th step, as
        :class:`~sklearn.linear_model.SGDRegressor`; "adaptive" divides it by 5
        whenever the objective (the validation score, with early stopping) has
        not improved by `tol` for `n_iter_no_change` iterations, and stops
        once it is at most 1e-6; "cosine" decays it to 0 over the `max_iter`
        iterations; "warmup_cosine" first rises linearly from 0 over a
        `warmup_fraction` of them. A step is a mini-batch step with
        `batch_size`. Ignored by "lbfgs"; the stochastic steps of `partial_fit`
        are constant.
    power_t : float, default=0.25
        Exponent of the "invscaling" schedule.
    warmup_fraction : float, default=0.1
        Fraction of the steps that "warmup_cosine" spends warming up.
    max_iter : int, default=10000
        Maximum number of iterations (epochs with mini-batches).
    tol : float, default=1e-9
        Convergence tolerance on the largest gradient component of the
        standardised objective (on the epoch loss with mini-batches; the
        improvement the validation score must make with `early_stopping`).
        With "l1" and "elasticnet", on the largest distance of the negative
        gradient of the loss to the penalty's subdifferential, which is 0
        exactly at the minimiser.
    batch_size : int, default=None
        None for full-batch steps, else the size of shuffled mini-batches.
    shuffle : bool, default=True
        Shuffle the rows before each epoch of mini-batches (seeded by
        `random_state`); False takes them in order.
    early_stopping : bool, default=False
        Hold out a `validation_fraction` of the training rows, score
        the model on them (R^2, as `score`) after every iteration
        (epoch), stop once the score has not improved by `tol` for
        `n_iter_no_change` iterations and keep the best-scoring parameters,
        as :class:`~sklearn.neural_network.MLPRegressor` does (see
        :ref:`training_early_stopping`). Stopping so is a normal end, not a
        ConvergenceWarning. `partial_fit` is not affected.
    validation_fraction : float, default=0.1
        Fraction of the rows held out with `early_stopping`.
    n_iter_no_change : int, default=5
        Iterations (epochs) without improvement by `tol` after which training
        stops: of the epoch loss with mini-batches (full batches stop by the
        gradient test), of the validation score with `early_stopping`. The
        "adaptive" schedule divides the learning rate instead, until it is
        at most 1e-6.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    average : bool or int, default=False
        For `partial_fit` with a loss other than squared error (which
        streams exactly): show the average of the iterates (Polyak-Ruppert
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
        Seeds the mini-batch shuffling and the validation split.
    verbose : int, default=0
        Print progress while fitting when positive.
    callbacks : list of callable, default=None
        Each called as ``callback(history)`` between compiled chunks of
        iterations (about every 0.2 s), with the history so far (a dict like
        `history_`); one returning True stops the fit there, with the current
        parameters and without a warning. See :ref:`training_callbacks`.

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
    history_ : dict of str to ndarray
        One entry per iteration (epoch with mini-batches; per call's epoch,
        appended, with `partial_fit`): "loss" (as `loss_curve_`),
        "validation_score" (NaN without early stopping), "learning_rate"
        (the rate of the iteration's last step; NaN for "lbfgs") and "time"
        (seconds since the fit began, measured between compiled chunks and
        spread evenly over their iterations). ``pandas.DataFrame(history_)``
        is a table of them. See :ref:`training_history`.
    validation_scores_ : ndarray of shape (`n_iter_`,) or None
        With `early_stopping`, the validation score after each iteration;
        else None.
    best_validation_score_ : float or None
        With `early_stopping`, the best validation score, that of the
        returned parameters; else None.
    best_iter_ : int or None
        With `early_stopping`, the iteration (1-based) of the best
        validation score, whose parameters are returned; else None.
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
                 fit_intercept=True, standardize=True, standardize_targets="auto",
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

    def _warn_if_underdetermined(self, X, sample_weight):
        """Warn when the data cannot determine the coefficients (no penalty).

        Only the certain case, too few rows, is detected: collinear columns
        would need a factorisation of X.
        """
        if any(strength > 0 for strength in self._penalty_terms()[1:3]):
            return
        n_free = int(np.count_nonzero(sample_weight)) - int(self.fit_intercept)
        if n_free >= X.shape[1]:
            return
        n_varying = X.shape[1]
        if self.fit_intercept:
            # Columns constant on the weighted rows get coefficient 0 anyway.
            rows = X[sample_weight > 0]
            if is_sparse(rows):
                # Varying: the column's largest and smallest values differ.
                spread = rows.max(axis=0) - rows.min(axis=0)
                n_varying = int(spread.count_nonzero())
            else:
                n_varying = int(np.count_nonzero(np.any(rows != rows[:1], axis=0)))
        if n_free >= n_varying:
            return
        # The solver that runs, "auto" resolved.
        solver = resolve_solver(self.solver,
                                smooth=self._penalty_terms().spec.smooth,
                                full_batch=self.batch_size is None)
        warnings.warn(
            f"{type(self).__name__}: {n_free + int(self.fit_intercept)} samples "
            f"of positive weight cannot determine {n_varying} coefficients, and "
            "with alpha=0 many coefficient vectors fit them equally well; "
            f"solver={solver!r} returns one of them, LinearRegression the "
            "one of minimum norm in the units of X. Set alpha > 0 for a unique "
            "solution, or solver='lbfgs' for the minimum-norm solution in "
            "standardised units (LinearRegression's when all features have the "
            "same standard deviation).", UserWarning, stacklevel=2)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def partial_fit(self, X, y, sample_weight=None):
        """Learn from a new chunk of data.

        The first call fixes ``n_features_in_`` (and the number of targets) and
        continues from the model of an earlier `fit`, if any. What a call does
        depends on the loss (see :ref:`scaling_streaming`):

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
        if not streaming:
            self._warn_if_underdetermined(X, sample_weight)
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
        fit_path = self._update_stream if streaming else self._fit_once
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

    def _scales_targets(self) -> bool:
        """Whether the targets are standardised along with X."""
        if not scales_targets(self.loss):
            if self.standardize_targets != "auto" and self.standardize_targets:
                raise ValueError(
                    f"standardize_targets=True does not apply to loss={self.loss!r}: "
                    "its targets are in the units of its distribution (a log "
                    "link models their mean) and are never centred or scaled. "
                    "Use standardize_targets='auto' or False.")
            return False
        if self.standardize_targets == "auto":
            return is_equivariant(self.loss)
        return bool(self.standardize_targets)

    def _with_scale(self, previous, objective):
        """`previous` with the fitted scale appended, to start the scale from.

        Drops a stale ``scale_`` when the loss has no scale.
        """
        if not objective.estimates_scale:
            self.__dict__.pop("scale_", None)
            return previous
        if previous is None or not hasattr(self, "scale_"):
            return previous
        scale = np.atleast_1d(self.scale_).astype(previous[0].dtype)
        if scale.shape != previous[1].shape:
            return previous
        return (*previous[:2], scale)

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
