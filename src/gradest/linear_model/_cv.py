"""GradLogisticRegressionCV: a search over C, l1_ratio and learning_rate, batched.

The estimator states the member grid (folds x candidates), fits every member
through :func:`._members.fit_members` (one compiled loop, the folds of a
candidate batched together), scores each on its held-out rows, chooses the
best candidate and refits it on all rows. Nothing of the minimisation lives
here.
"""

from itertools import product
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .._engine import AUTO, SOLVERS, solver_spec
from .._penalties import penalty_names
from ._fit import FLOAT_DTYPES, SPARSE_FORMATS
from ._logistic import GradLogisticRegression
from ._members import fit_members

__all__ = ["GradLogisticRegressionCV"]


class GradLogisticRegressionCV(ClassifierMixin, BaseEstimator):
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
              else np.asarray(self.Cs, dtype=float).ravel())
        axes = {"C": Cs}
        if self.penalty == "elasticnet":
            axes["l1_ratio"] = (np.array([0.5]) if self.l1_ratios is None
                                else np.asarray(self.l1_ratios, dtype=float).ravel())
        axes["learning_rate"] = (
            np.array([self.learning_rate]) if self.learning_rates is None
            else np.asarray(self.learning_rates, dtype=float).ravel())
        for name, values in axes.items():
            if values.size == 0 or not np.all(np.isfinite(values) & (values > 0)) \
                    or (name == "l1_ratio" and np.any(values > 1)):
                raise ValueError(f"The grid of {name} must hold positive finite "
                                 f"values{' at most 1' if name == 'l1_ratio' else ''}"
                                 f", got {values!r}.")
        if axes["learning_rate"].size > 1 and (
                self.solver == AUTO or not solver_spec(self.solver).uses_learning_rate):
            # Every candidate would be the same fit, and the search would
            # silently pick the first of equal scores.
            chosen = (" (L-BFGS, FISTA or the proximal Newton method here)"
                      if self.solver == AUTO else "")
            raise ValueError(
                f"learning_rates={axes['learning_rate'].tolist()} searches the step "
                f"size of a first-order solver, but solver={self.solver!r}{chosen} "
                "sets its own steps; pass solver='adam', 'gd', 'momentum', "
                "'nesterov' or 'rmsprop'.")
        names = sorted(axes)
        candidates = [dict(zip(names, map(float, values), strict=True))
                      for values in product(*(axes[name] for name in names))]
        return Cs, candidates

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
        Cs, candidates = self._grid()
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y))
        base = self._base()
        members, fits, lanes = [], [], []
        for train, _ in folds:
            for c, params in enumerate(candidates):
                members.append(clone(base).set_params(**params))
                fits.append((X[train], y[train], sample_weight[train]))
                lanes.append(c)
        fitted = fit_members(members, fits, lanes)
        scorer = check_scoring(base, self.scoring)
        n_folds, n_candidates = len(folds), len(candidates)
        scores = np.full((n_folds, n_candidates), np.nan)
        n_classes = len(self.classes_)
        n_rows = 1 if n_classes == 2 else n_classes
        paths = np.full((n_folds, n_candidates, n_rows, X.shape[1] + 1), np.nan)
        n_iter = np.zeros((n_folds, n_candidates), dtype=np.int64)
        for k, model in enumerate(fitted):
            f, c = divmod(k, n_candidates)
            if isinstance(model, Exception) or len(model.classes_) != n_classes:
                continue
            test = folds[f][1]
            scores[f, c] = scorer(model, X[test], y[test])
            paths[f, c] = np.hstack([model.coef_, model.intercept_[:, None]])
            n_iter[f, c] = model.n_iter_
        if np.all(np.isnan(scores)):
            first = next((m for m in fitted if isinstance(m, Exception)), None)
            raise ValueError(f"Every fit of {type(self).__name__} failed; the first "
                             f"error: {first}") from first
        self.Cs_, self.scores_ = Cs, scores
        self.coefs_paths_, self.n_iter_ = paths, n_iter
        self.cv_results_ = _cv_results(candidates, scores)
        self.best_index_ = int(np.argmin(self.cv_results_["rank_test_score"]))
        best = candidates[self.best_index_]
        self.C_, self.learning_rate_ = best["C"], best["learning_rate"]
        self.l1_ratio_ = best.get("l1_ratio")
        model = clone(base).set_params(**best)
        if self.refit:
            model.fit(X, y, sample_weight)
        else:
            # The fold mean, as LogisticRegressionCV(refit=False).
            mean = np.nanmean(paths[:, self.best_index_], axis=0)
            model.classes_, model.n_features_in_ = self.classes_, X.shape[1]
            model.coef_, model.intercept_ = mean[:, :-1].astype(X.dtype), \
                mean[:, -1].astype(X.dtype)
        self.best_estimator_ = model
        self.coef_, self.intercept_ = model.coef_, model.intercept_
        return self

    def _checked(self, X):
        check_is_fitted(self)
        return validate_data(self, X, accept_sparse=SPARSE_FORMATS,
                             dtype=FLOAT_DTYPES, reset=False)

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _cv_results(candidates: list[dict], scores: np.ndarray) -> dict:
    """``cv_results_`` shaped like GridSearchCV's (the test scores)."""
    results: dict = {"params": candidates}
    for name in candidates[0]:
        results[f"param_{name}"] = np.ma.MaskedArray(
            [c[name] for c in candidates], mask=False, dtype=object)
    for f, row in enumerate(scores):
        results[f"split{f}_test_score"] = row
    with np.errstate(invalid="ignore"):
        mean = scores.mean(axis=0)
        results["mean_test_score"] = mean
        results["std_test_score"] = scores.std(axis=0)
    # As GridSearchCV: a failed candidate ranks last.
    order = np.where(np.isnan(mean), -np.inf, mean)
    ranks = np.empty(len(mean), dtype=np.int32)
    ranks[:] = [1 + np.sum(order > value) for value in order]
    results["rank_test_score"] = ranks
    return results
