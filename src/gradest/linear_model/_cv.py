"""GradLogisticRegressionCV: a search over C, l1_ratio and learning_rate, batched.

The estimator states its base estimator, the grid of candidates and the
folds; the search itself (every fold x candidate one member of one batched
minimisation, scored, chosen and refitted) is :class:`._search.SearchMixin`'s.
Nothing of the minimisation lives here.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data

from .._engine import AUTO, SOLVERS
from .._penalties import penalty_names
from ._fit import FLOAT_DTYPES, SPARSE_FORMATS
from ._logistic import GradLogisticRegression
from ._search import SearchMixin, grid_axis, grid_candidates

__all__ = ["GradLogisticRegressionCV"]


class GradLogisticRegressionCV(SearchMixin, ClassifierMixin, BaseEstimator):
    """Logistic regression with C, l1_ratio and learning_rate chosen by CV.

    Read more in the :ref:`User Guide <searching>`.

    Every fold times every candidate is one member of a single batched fit:
    the members share one compiled loop (``jax.vmap`` over the folds of a
    candidate), and each ends exactly where its own
    :class:`GradLogisticRegression` fit on the fold's training rows would.

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        Inverse penalty strengths; an int gives that many values spaced
        logarithmically between 1e-4 and 1e4, as
        :class:`~sklearn.linear_model.LogisticRegressionCV`.
    l1_ratios : array-like of float or None, default=None
        With ``penalty="elasticnet"``, the L1 weights to try (None: the
        single `l1_ratio` 0.5). Ignored by the other penalties.
    learning_rates : array-like of float or None, default=None
        Learning rates to try, with a first-order `solver` (None: the single
        `learning_rate`). Several with a solver that sets its own steps
        ("lbfgs", "fista", "prox-newton", or "auto", which is one of them
        here) raise a ValueError: every candidate would be the same fit.
    cv : int, cross-validation splitter or iterable, default=None
        As in :func:`~sklearn.model_selection.check_cv`: None means 5
        stratified folds.
    scoring : str, callable or None, default=None
        Score of a fitted member on its held-out rows (None: accuracy).
    refit : bool, default=True
        Refit the best candidate on all rows; else the coefficients are the
        mean over the folds of the best candidate's.
    n_jobs : int or None, default=None
        Accepted for compatibility with scikit-learn's CV classes, and
        ignored: the members already run as one batched program using every
        core, and process workers would each import JAX and compile the loop
        again (see :ref:`searching`).
    penalty, fit_intercept, standardize, class_weight, solver, learning_rate, \
max_iter, tol, random_state
        As in :class:`GradLogisticRegression`, for every member.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients of the chosen model.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Its intercepts.
    C_ : float
        The chosen C.
    l1_ratio_ : float or None
        The chosen l1_ratio (None unless ``penalty="elasticnet"``).
    learning_rate_ : float
        The chosen learning rate.
    Cs_ : ndarray of shape (n_Cs,)
        The grid of C.
    scores_ : ndarray of shape (n_folds, n_candidates)
        The score of every member (NaN where its fit failed).
    coefs_paths_ : ndarray of shape (n_folds, n_candidates, n_rows, n_features + 1)
        Every member's coefficients, its intercepts last (n_rows is 1 for two
        classes).
    n_iter_ : ndarray of shape (n_folds, n_candidates)
        Iterations of every member's fit.
    cv_results_ : dict of ndarray
        As :class:`~sklearn.model_selection.GridSearchCV`'s: ``params``,
        ``param_<name>``, ``split<k>_test_score``, ``mean_test_score``,
        ``std_test_score`` and ``rank_test_score``, one entry per candidate
        in the order of ``ParameterGrid`` over the searched names.
    best_index_ : int
        The chosen candidate's index into `cv_results_`.
    best_params_ : dict
        The chosen candidate, ``cv_results_["params"][best_index_]``.
    best_estimator_ : GradLogisticRegression
        The model that predicts (the refit one, or the fold mean).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, if X has string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegressionCV : The same search by separate fits.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from gradest import GradLogisticRegressionCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = GradLogisticRegressionCV(Cs=[0.1, 1.0], cv=3, solver="lbfgs").fit(X, y)
    >>> clf.C_ in (0.1, 1.0)
    True
    """

    _parameter_constraints: dict = {
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None],
        "learning_rates": ["array-like", None],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "refit": ["boolean"],
        "n_jobs": [Integral, None],
        "penalty": [StrOptions(penalty_names()), None],
        "fit_intercept": ["boolean"],
        "standardize": [StrOptions({"auto"}), "boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "solver": [StrOptions({*SOLVERS, AUTO})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, Cs=10, l1_ratios=None, learning_rates=None, cv=None,
                 scoring=None, refit=True, n_jobs=None, penalty="l2",
                 fit_intercept=True, standardize="auto", class_weight=None,
                 solver="auto", learning_rate=0.05, max_iter=10000, tol=1e-9,
                 random_state=None):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.learning_rates = learning_rates
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.class_weight = class_weight
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _base(self) -> GradLogisticRegression:
        return GradLogisticRegression(
            penalty=self.penalty, fit_intercept=self.fit_intercept,
            standardize=self.standardize, class_weight=self.class_weight,
            solver=self.solver, learning_rate=self.learning_rate,
            max_iter=self.max_iter, tol=self.tol, random_state=self.random_state)

    def _grid(self) -> tuple[np.ndarray, list[dict]]:
        """The grid of C and the candidates, in ``ParameterGrid`` order."""
        Cs = (np.logspace(-4, 4, self.Cs) if isinstance(self.Cs, Integral)
              else grid_axis("C", self.Cs))
        axes = {"C": Cs}
        if self.penalty == "elasticnet":
            axes["l1_ratio"] = grid_axis("l1_ratio", self.l1_ratios, default=0.5,
                                         at_most_one=True)
        axes["learning_rate"] = grid_axis("learning_rate", self.learning_rates,
                                          default=self.learning_rate)
        return Cs, grid_candidates(axes, self.solver)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit every fold x candidate, choose the best and refit it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, respected inside every fold (the scores
            are unweighted, as GridSearchCV's by default).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = validate_data(self, X, y, accept_sparse=SPARSE_FORMATS,
                             dtype=FLOAT_DTYPES)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes, but "
                f"the data contain only one class: {self.classes_[0]!r}.")
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        self.Cs_, candidates = self._grid()
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y))
        self._search(X, y, sample_weight, folds, self._base(), candidates)
        best = self.best_params_
        self.C_, self.learning_rate_ = best["C"], best["learning_rate"]
        self.l1_ratio_ = best.get("l1_ratio")
        return self

    def _path_shape(self, X, y) -> tuple:
        n_classes = len(self.classes_)
        return (1 if n_classes == 2 else n_classes, X.shape[1] + 1)

    def _usable(self, model) -> bool:
        # A fold without every class gives a model of another shape.
        return len(model.classes_) == len(self.classes_)

    @staticmethod
    def _coefficients(model) -> np.ndarray:
        return np.hstack([model.coef_, model.intercept_[:, None]])

    def _set_mean_model(self, model, mean, X, y) -> None:
        model.classes_, model.n_features_in_ = self.classes_, X.shape[1]
        model.coef_ = mean[:, :-1].astype(X.dtype)
        model.intercept_ = mean[:, -1].astype(X.dtype)

    def decision_function(self, X):
        """Confidence scores, as :meth:`GradLogisticRegression.decision_function`."""
        X = self._checked(X)
        return self.best_estimator_.decision_function(X)

    def predict(self, X):
        """Class labels of the chosen model."""
        X = self._checked(X)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Class probabilities of the chosen model."""
        X = self._checked(X)
        return self.best_estimator_.predict_proba(X)

    def predict_log_proba(self, X):
        """Log class probabilities of the chosen model."""
        X = self._checked(X)
        return self.best_estimator_.predict_log_proba(X)
