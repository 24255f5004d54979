"""Hyperparameter searches: GradLogisticRegressionCV against separate fits.

Breast cancer, 5 learning rates x 5 folds (the workflow of issue 31):
``GradLogisticRegressionCV`` against ``GridSearchCV(GradLogisticRegression())``
over the same grid and folds, and ``LogisticRegressionCV(Cs=5)`` after
``StandardScaler`` as scikit-learn's own answer. Warm rows run side by side
in this process (the first call of each compiles, then the median of three);
the full run adds first fits in fresh processes and ``GridSearchCV`` with
``n_jobs=2``. Each row notes whether the chosen learning rate and the mean
test scores equal GridSearchCV's.
"""

import time

import numpy as np
from _measure import call_in_subprocess, interleaved_medians, quietly, row

_RATES = [0.01, 0.02, 0.05, 0.1, 0.2]
_CASE = "breast cancer, 5 learning rates x 5 folds"


def _fits(n_jobs: int = 1) -> dict:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from gradest import GradLogisticRegression, GradLogisticRegressionCV

    X, y = load_breast_cancer(return_X_y=True)
    folds = list(StratifiedKFold(5).split(X, y))
    return {
        "cv": lambda: GradLogisticRegressionCV(
            Cs=[1.0], learning_rates=_RATES, cv=folds, solver="adam").fit(X, y),
        "grid": lambda: GridSearchCV(GradLogisticRegression(solver="adam"),
                                     {"learning_rate": _RATES}, cv=folds,
                                     n_jobs=n_jobs).fit(X, y),
        "sklearn": lambda: make_pipeline(
            StandardScaler(), LogisticRegressionCV(Cs=5, cv=folds)).fit(X, y),
    }


def first_fit(which: str, n_jobs: int = 1) -> dict:
    """One fit in this (fresh) process: its wall time, imports excluded."""
    fits = _fits(n_jobs)
    start = time.perf_counter()
    quietly(fits[which])
    return {"seconds": time.perf_counter() - start}


def search(quick: bool) -> list[dict]:
    fits = _fits()
    cv, grid = quietly(fits["cv"]), quietly(fits["grid"])
    same = bool(cv.learning_rate_ == grid.best_params_["learning_rate"] and np.allclose(
        cv.cv_results_["mean_test_score"], grid.cv_results_["mean_test_score"],
        rtol=0, atol=1e-6))
    quiet = {name: (lambda fit=fit: quietly(fit)) for name, fit in fits.items()}
    medians = interleaved_medians(quiet, repeats=1 if quick else 3)
    note = (f"same choice and scores as GridSearchCV to 1e-6: {same}; "
            "loaded 2-core machine")
    rows = [row(_CASE, "warm: GradLogisticRegressionCV vs GridSearchCV n_jobs=1",
                medians["cv"], sklearn_s=medians["grid"],
                sklearn_name="GridSearchCV(GradLogisticRegression)", bound_s=0.3,
                target="<= 0.3 s", met=medians["cv"] <= 0.3, note=note),
            row(_CASE, "warm: GradLogisticRegressionCV vs LogisticRegressionCV(Cs=5)",
                medians["cv"], sklearn_s=medians["sklearn"],
                sklearn_name="StandardScaler + LogisticRegressionCV", note=note)]
    if not quick:
        first = call_in_subprocess("search_first_fit", which="cv")["seconds"]
        for n_jobs in (1, 2):
            grid_first = call_in_subprocess("search_first_fit", which="grid",
                                            n_jobs=n_jobs)["seconds"]
            rows.append(row(_CASE, f"first fit, fresh process, vs GridSearchCV "
                                   f"n_jobs={n_jobs}", first, sklearn_s=grid_first,
                            sklearn_name="GridSearchCV(GradLogisticRegression)",
                            bound_s=1.0, target="<= 1.0 s", met=first <= 1.0,
                            note="imports excluded; loaded 2-core machine"))
    return rows + _lasso_rows(quick)


_LASSO_CASE = "Lasso, 30 alphas x 5 folds"


def _lasso_rows(quick: bool) -> list[dict]:
    """GradLinearRegressionCV against separate fits and LassoCV, side by side.

    make_regression 5,000 x 200 (1,000 x 50 in the quick run), the grid
    spaced from alpha_max as LassoCV's; LassoCV on columns standardised once.
    """
    from sklearn.datasets import make_regression
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.preprocessing import StandardScaler

    from gradest import GradLinearRegression, GradLinearRegressionCV

    shape = (1000, 50) if quick else (5000, 200)
    X, y = make_regression(*shape, n_informative=20, noise=5, random_state=0)
    Xs = StandardScaler().fit_transform(X)
    folds = list(KFold(5).split(X))
    cv = quietly(lambda: GradLinearRegressionCV(penalty="l1", alphas=30,
                                                cv=folds).fit(X, y))
    fits = {
        "cv": lambda: quietly(lambda: GradLinearRegressionCV(
            penalty="l1", alphas=30, cv=folds).fit(X, y)),
        "grid": lambda: quietly(lambda: GridSearchCV(
            GradLinearRegression(penalty="l1"), {"alpha": list(cv.alphas_)},
            cv=folds).fit(X, y)),
        "lasso": lambda: LassoCV(alphas=30, cv=folds).fit(Xs, y),
    }
    medians = interleaved_medians(fits, repeats=1 if quick else 3)
    what = f"{shape[0]:,} x {shape[1]}, warm"
    return [row(_LASSO_CASE, f"{what}: GradLinearRegressionCV vs GridSearchCV",
                medians["cv"], sklearn_s=medians["grid"],
                sklearn_name="GridSearchCV(GradLinearRegression)",
                note="the same scores and choice (tests/test_regression_cv.py)"),
            row(_LASSO_CASE, f"{what}: GradLinearRegressionCV vs LassoCV",
                medians["cv"], sklearn_s=medians["lasso"],
                sklearn_name="StandardScaler + LassoCV",
                note="LassoCV standardises once, gradest per fold")]


SEARCH_CASES = {"search": search}
SEARCH_CALLS = {"search_first_fit": first_fit}
