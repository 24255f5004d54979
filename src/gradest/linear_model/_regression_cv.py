"""GradLinearRegressionCV: a search over alpha, l1_ratio and learning_rate, batched.

The regressor's counterpart of :mod:`._cv`: it states the base
:class:`GradLinearRegression`, the grid (a count of alphas spaced from the
data's own ``alpha_max`` for the Lasso and the elastic net, as ``LassoCV``
and ``ElasticNetCV``) and the folds; :class:`._search.SearchMixin` runs the
search.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, validate_data

from .._engine import AUTO, SOLVERS
from .._losses import link_of, loss_names
from .._penalties import penalty_names
from ._fit import FLOAT_DTYPES, SPARSE_FORMATS
from ._path import alpha_max
from ._regression import GradLinearRegression
from ._search import SearchMixin, grid_axis, grid_candidates

__all__ = ["GradLinearRegressionCV"]


class GradLinearRegressionCV(SearchMixin, RegressorMixin, BaseEstimator):
    """Linear regression with alpha, l1_ratio and learning_rate chosen by CV.

    Read more in the :ref:`User Guide <searching>`.

    Every fold times every candidate is one member of a single batched fit
    (``jax.vmap`` over the folds of a candidate), each ending exactly where
    its own :class:`GradLinearRegression` fit on the fold's training rows
    would; least squares runs on each fold's sufficient statistics.

    Parameters
    ----------
    alphas : int or array-like of float, default=10
        Penalty strengths to try. An int gives that many: for ``"l1"`` and
        ``"elasticnet"`` with squared error, spaced logarithmically from the
        data's ``alpha_max`` (the smallest penalty with every coefficient 0,
        see :func:`gradest.linear_model.alpha_max`, for each l1_ratio) down to
        ``eps * alpha_max``, as :class:`~sklearn.linear_model.LassoCV`; else
        spaced logarithmically from 1e-4 to 1e4.
    l1_ratios : array-like of float or None, default=None
        With ``penalty="elasticnet"``, the L1 weights to try (None: the
        single `l1_ratio` 0.5). Ignored by the other penalties.
    learning_rates : array-like of float or None, default=None
        Learning rates to try, with a first-order `solver` (None: the single
        `learning_rate`); several with a solver that sets its own steps
        raise a ValueError.
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` of a count of alphas spaced from alpha_max.
    cv : int, cross-validation splitter or iterable, default=None
        As in :func:`~sklearn.model_selection.check_cv`: None means 5 folds.
    scoring : str, callable or None, default=None
        Score of a fitted member on its held-out rows (None: its ``score``,
        the R^2 of the mean).
    refit : bool, default=True
        Refit the best candidate on all rows; else the coefficients are the
        mean over the folds of the best candidate's.
    n_jobs : int or None, default=None
        Accepted for compatibility with scikit-learn's CV classes, and
        ignored: the members already run as one batched program.
    loss, penalty, power, quantile, epsilon, fit_intercept, standardize, \
solver, learning_rate, max_iter, tol, random_state
        As in :class:`GradLinearRegression`, for every member.

    Attributes
    ----------
    alpha_ : float
        The chosen alpha.
    l1_ratio_ : float or None
        The chosen l1_ratio (None unless ``penalty="elasticnet"``).
    learning_rate_ : float
        The chosen learning rate.
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratios, n_alphas)
        The grid of alpha (one row per l1_ratio when spaced from each one's
        alpha_max).
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients of the chosen model.
    intercept_ : float or ndarray of shape (n_targets,)
        Its intercept.
    mse_path_ : ndarray of shape (n_candidates, n_folds)
        The held-out mean squared error of every member, in the order of
        ``cv_results_["params"]`` (NaN where its fit failed).
    scores_ : ndarray of shape (n_folds, n_candidates)
        The score of every member.
    coefs_paths_ : ndarray of shape (n_folds, n_candidates, n_targets, n_features + 1)
        Every member's coefficients, its intercepts last.
    n_iter_ : ndarray of shape (n_folds, n_candidates)
        Iterations of every member's fit.
    cv_results_ : dict of ndarray
        As :class:`~sklearn.model_selection.GridSearchCV`'s: ``params``,
        ``param_<name>``, ``split<k>_test_score``, ``mean_test_score``,
        ``std_test_score`` and ``rank_test_score``.
    best_index_ : int
        The chosen candidate's index into `cv_results_`.
    best_params_ : dict
        The chosen candidate.
    best_estimator_ : GradLinearRegression
        The model that predicts (the refit one, or the fold mean).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, if X has string column names.

    See Also
    --------
    sklearn.linear_model.LassoCV : The Lasso's search by coordinate descent.
    sklearn.linear_model.RidgeCV : Ridge's search, by leave-one-out.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from gradest import GradLinearRegressionCV
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = GradLinearRegressionCV(penalty="l1", alphas=5, cv=3).fit(X, y)
    >>> reg.alpha_ in reg.alphas_
    True
    """

    _parameter_constraints: dict = {
        "alphas": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None],
        "learning_rates": ["array-like", None],
        "eps": [Interval(Real, 0, 1, closed="neither")],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "refit": ["boolean"],
        "n_jobs": [Integral, None],
        "loss": [StrOptions(loss_names("regression"))],
        "penalty": [StrOptions(penalty_names()), None],
        "power": [Interval(Real, None, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
        "epsilon": [Interval(Real, 1, None, closed="left")],
        "fit_intercept": ["boolean"],
        "standardize": [StrOptions({"auto"}), "boolean"],
        "solver": [StrOptions({*SOLVERS, AUTO})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, alphas=10, l1_ratios=None, learning_rates=None, eps=1e-3,
                 cv=None, scoring=None, refit=True, n_jobs=None,
                 loss="squared_error", penalty="l2", power=1.5, quantile=0.5,
                 epsilon=1.35, fit_intercept=True, standardize="auto", solver="auto",
                 learning_rate=0.05, max_iter=10000, tol=1e-9, random_state=None):
        self.alphas = alphas
        self.l1_ratios = l1_ratios
        self.learning_rates = learning_rates
        self.eps = eps
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.loss = loss
        self.penalty = penalty
        self.power = power
        self.quantile = quantile
        self.epsilon = epsilon
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _base(self) -> GradLinearRegression:
        return GradLinearRegression(
            loss=self.loss, penalty=self.penalty, power=self.power,
            quantile=self.quantile, epsilon=self.epsilon,
            fit_intercept=self.fit_intercept, standardize=self.standardize,
            solver=self.solver, learning_rate=self.learning_rate,
            max_iter=self.max_iter, tol=self.tol, random_state=self.random_state)

    def _grid(self, X, y, sample_weight) -> tuple[np.ndarray, list[dict]]:
        """The grid of alpha and the candidates."""
        ratios = [None]
        if self.penalty == "elasticnet":
            ratios = grid_axis("l1_ratio", self.l1_ratios, default=0.5,
                               at_most_one=True)
        rates = grid_axis("learning_rate", self.learning_rates,
                          default=self.learning_rate)
        sparse_path = self.penalty in ("l1", "elasticnet")
        if not isinstance(self.alphas, Integral):
            alphas = grid_axis("alpha", self.alphas)
            per_ratio = [alphas] * len(ratios)
        elif sparse_path:
            if self.loss != "squared_error":
                raise ValueError(
                    f"alphas={self.alphas} (a count) spaces the grid from alpha_max, "
                    "which is known for loss='squared_error' only; pass the alphas "
                    f"to try for loss={self.loss!r}.")
            per_ratio = []
            for ratio in ratios:
                top = alpha_max(X, y, sample_weight=sample_weight,
                                l1_ratio=1.0 if ratio is None else ratio,
                                fit_intercept=self.fit_intercept,
                                standardize=self.standardize)
                per_ratio.append(np.geomspace(top, top * self.eps, self.alphas))
        else:
            per_ratio = [np.logspace(-4, 4, self.alphas)] * len(ratios)
        candidates = []
        for ratio, alphas in zip(ratios, per_ratio, strict=True):
            axes = {"alpha": alphas, "learning_rate": rates}
            if ratio is not None:
                axes["l1_ratio"] = np.array([ratio])
            candidates += grid_candidates(axes, self.solver)
        distinct = isinstance(self.alphas, Integral) and len(ratios) > 1 and sparse_path
        return (np.vstack(per_ratio) if distinct else per_ratio[0]), candidates

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit every fold x candidate, choose the best and refit it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, respected inside every fold (the scores
            are unweighted, as GridSearchCV's by default).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = validate_data(self, X, y, accept_sparse=SPARSE_FORMATS,
                             dtype=FLOAT_DTYPES, multi_output=True, y_numeric=True)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        self.alphas_, candidates = self._grid(X, y, sample_weight)
        folds = list(check_cv(self.cv, y, classifier=False).split(X, y))
        self._search(X, y, sample_weight, folds, self._base(), candidates)
        best = self.best_params_
        self.alpha_, self.learning_rate_ = best["alpha"], best["learning_rate"]
        self.l1_ratio_ = best.get("l1_ratio")
        # The held-out MSE of every member, from its coefficients.
        self.mse_path_ = np.full((len(candidates), len(folds)), np.nan)
        Y, mean_of = y.reshape(len(y), -1), link_of(self.loss).inverse
        for f, (_, test) in enumerate(folds):
            for c in range(len(candidates)):
                path = self.coefs_paths_[f, c]
                if np.all(np.isfinite(path)):
                    prediction = mean_of(np.asarray(X[test] @ path[:, :-1].T)
                                         + path[:, -1])
                    self.mse_path_[c, f] = np.mean((Y[test] - prediction) ** 2)
        return self

    @staticmethod
    def _path_shape(X, y) -> tuple:
        return (1 if y.ndim == 1 else y.shape[1], X.shape[1] + 1)

    @staticmethod
    def _usable(model) -> bool:
        return True

    @staticmethod
    def _coefficients(model) -> np.ndarray:
        return np.hstack([np.atleast_2d(model.coef_),
                          np.atleast_1d(model.intercept_)[:, None]])

    @staticmethod
    def _set_mean_model(model, mean, X, y) -> None:
        # The shapes of a fit on y: 1-D coefficients for 1-D y.
        model.n_features_in_ = X.shape[1]
        if y.ndim == 1:
            model.coef_ = mean[0, :-1].astype(X.dtype)
            model.intercept_ = X.dtype.type(mean[0, -1])
        else:
            model.coef_ = mean[:, :-1].astype(X.dtype)
            model.intercept_ = mean[:, -1].astype(X.dtype)

    def predict(self, X):
        """Predictions of the chosen model."""
        X = self._checked(X)
        return self.best_estimator_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
