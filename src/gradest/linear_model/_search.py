"""The cross-validated search shared by the CV estimators: grid, members, choice.

A CV estimator states its base estimator, its grid of candidates and its
folds; :class:`SearchMixin` fits every fold x candidate as one member of a
batched minimisation (:func:`._members.fit_members`), scores each member on
its held-out rows, records ``cv_results_`` shaped like ``GridSearchCV``'s,
chooses the best candidate and refits it (or averages its folds).
"""

from itertools import product

import numpy as np
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.utils.validation import check_is_fitted, validate_data

from .._engine import AUTO, solver_spec
from ._fit import FLOAT_DTYPES, SPARSE_FORMATS
from ._members import fit_members

__all__ = ["SearchMixin", "grid_axis", "grid_candidates"]


def grid_axis(name: str, values, *, default: float | None = None,
              at_most_one: bool = False) -> np.ndarray:
    """The grid of one hyperparameter as a float array, checked (None: the
    single `default`)."""
    values = np.asarray([default] if values is None else values, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values) & (values > 0)) \
            or (at_most_one and np.any(values > 1)):
        raise ValueError(f"The grid of {name} must hold positive finite "
                         f"values{' at most 1' if at_most_one else ''}, "
                         f"got {values!r}.")
    return values


def grid_candidates(axes: dict, solver: str) -> list[dict]:
    """Every combination of the axes, in ``ParameterGrid`` order (names sorted).

    Several learning rates with a solver that sets its own steps would make
    every candidate the same fit, and the search would silently pick the first
    of equal scores: a ValueError says so.
    """
    rates = axes.get("learning_rate")
    if rates is not None and rates.size > 1 and (
            solver == AUTO or not solver_spec(solver).uses_learning_rate):
        chosen = (" (L-BFGS, FISTA or the proximal Newton method here)"
                  if solver == AUTO else "")
        raise ValueError(
            f"learning_rates={rates.tolist()} searches the step size of a "
            f"first-order solver, but solver={solver!r}{chosen} sets its own "
            "steps; pass solver='adam', 'gd', 'momentum', 'nesterov' or "
            "'rmsprop'.")
    names = sorted(axes)
    return [dict(zip(names, map(float, values), strict=True))
            for values in product(*(axes[name] for name in names))]


class SearchMixin:
    """The shared search (uses ``scoring``, ``refit``)."""

    def _search(self, X, y, sample_weight, folds, base, candidates) -> None:
        """Fit, score and choose; sets the search's fitted attributes.

        Sets ``scores_``, ``coefs_paths_``, ``n_iter_``, ``cv_results_``,
        ``best_index_``, ``best_params_``, ``best_estimator_``, ``coef_`` and
        ``intercept_``; a member whose fit failed (or whose fold lacks a
        class) scores NaN and ranks last.
        """
        members, fits, lanes = [], [], []
        for train, _ in folds:
            # One copy of the fold's rows for all candidates, which then share
            # what depends on the rows alone (least-squares statistics).
            rows = (X[train], y[train], sample_weight[train])
            for c, params in enumerate(candidates):
                members.append(clone(base).set_params(**params))
                fits.append(rows)
                lanes.append(c)
        fitted = fit_members(members, fits, lanes)
        scorer = check_scoring(base, self.scoring)
        n_folds, n_candidates = len(folds), len(candidates)
        scores = np.full((n_folds, n_candidates), np.nan)
        paths = np.full((n_folds, n_candidates, *self._path_shape(X, y)), np.nan)
        n_iter = np.zeros((n_folds, n_candidates), dtype=np.int64)
        for k, model in enumerate(fitted):
            f, c = divmod(k, n_candidates)
            if isinstance(model, Exception) or not self._usable(model):
                continue
            test = folds[f][1]
            scores[f, c] = scorer(model, X[test], y[test])
            paths[f, c] = self._coefficients(model)
            n_iter[f, c] = np.max(model.n_iter_)
        if np.all(np.isnan(scores)):
            first = next((m for m in fitted if isinstance(m, Exception)), None)
            raise ValueError(f"Every fit of {type(self).__name__} failed; the first "
                             f"error: {first}") from first
        self.scores_, self.coefs_paths_, self.n_iter_ = scores, paths, n_iter
        self.cv_results_ = _cv_results(candidates, scores)
        self.best_index_ = int(np.argmin(self.cv_results_["rank_test_score"]))
        self.best_params_ = candidates[self.best_index_]
        model = clone(base).set_params(**self.best_params_)
        if self.refit:
            model.fit(X, y, sample_weight)
        else:
            # The fold mean, as scikit-learn's CV estimators with refit=False.
            self._set_mean_model(model, np.nanmean(paths[:, self.best_index_], axis=0),
                                 X, y)
        self.best_estimator_ = model
        self.coef_, self.intercept_ = model.coef_, model.intercept_

    def _checked(self, X):
        check_is_fitted(self)
        return validate_data(self, X, accept_sparse=SPARSE_FORMATS,
                             dtype=FLOAT_DTYPES, reset=False)

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
