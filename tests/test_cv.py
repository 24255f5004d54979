"""GradLogisticRegressionCV and the batched fits beneath it, against separate fits.

The references are independent: scikit-learn's GridSearchCV over the same
folds, and GradLogisticRegression fitted on each fold's rows one at a time.
The batched loop runs the same iterations as a separate fit, so members agree
to a few ulps of the coefficients; the tolerances below leave room for the
rounding of sums that XLA may order differently once batched.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold

from gradest import GradLogisticRegression, GradLogisticRegressionCV
from gradest.linear_model._members import fit_members

# Relative agreement of a batched member with its separate fit, in float64:
# both run the same iterations from the same start, so only the order of
# floating-point sums may differ (about 1e-16 per step, over up to 1e4 steps).
MEMBER_RTOL = 1e-9


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_learning_rate_search_matches_grid_search(cancer):
    # The workflow: 5 learning rates x 5 folds.
    X, y = cancer
    rates = [0.01, 0.02, 0.05, 0.1, 0.2]
    folds = list(StratifiedKFold(5).split(X, y))
    # Adam: a learning rate is a hyperparameter of a first-order solver.
    search = GradLogisticRegressionCV(Cs=[1.0], learning_rates=rates, cv=folds,
                                      max_iter=3000, solver="adam").fit(X, y)
    grid = GridSearchCV(GradLogisticRegression(max_iter=3000, solver="adam"),
                        {"learning_rate": rates}, cv=folds).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               grid.cv_results_["mean_test_score"], rtol=0, atol=1e-6)
    assert search.learning_rate_ == grid.best_params_["learning_rate"]
    np.testing.assert_array_equal(search.cv_results_["rank_test_score"],
                                  grid.cv_results_["rank_test_score"])
    for f in range(5):
        np.testing.assert_allclose(search.cv_results_[f"split{f}_test_score"],
                                   grid.cv_results_[f"split{f}_test_score"], atol=1e-6)
    refit = GradLogisticRegression(learning_rate=search.learning_rate_,
                                   max_iter=3000, solver="adam").fit(X, y)
    assert _relative(search.coef_, refit.coef_) < MEMBER_RTOL


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_each_member_equals_its_separate_fit(cancer, penalty):
    X, y = cancer
    rng = np.random.default_rng(0)
    weight = rng.uniform(0.5, 2.0, len(y))
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    search = GradLogisticRegressionCV(
        Cs=[0.05, 1.0], cv=folds, penalty=penalty, class_weight="balanced",
        solver="lbfgs" if penalty == "l2" else "auto").fit(X, y, sample_weight=weight)
    for f, (train, _) in enumerate(folds):
        for c, C in enumerate(search.Cs_):
            # sample_weight and class_weight inside every fold, as a fit on
            # the fold's rows alone sees them.
            alone = GradLogisticRegression(
                C=C, penalty=penalty, class_weight="balanced",
                solver=search.solver).fit(X[train], y[train], weight[train])
            path = search.coefs_paths_[f, c]
            assert _relative(path[:, :-1], alone.coef_) < MEMBER_RTOL
            np.testing.assert_allclose(path[:, -1], alone.intercept_,
                                       rtol=MEMBER_RTOL, atol=1e-12)
            assert search.n_iter_[f, c] == alone.n_iter_


def test_folds_as_weights_equal_folds_as_rows(cancer):
    # A fold is a 0/1 weight vector: a member fitted on all rows with the
    # held-out rows weighted zero equals the member fitted on its rows.
    X, y = cancer
    train = np.arange(len(y)) % 4 != 0
    mask = train.astype(float)
    members = [GradLogisticRegression(solver="lbfgs", C=C) for C in (0.1, 1.0)
               for _ in range(2)]
    fits = [(X, y, mask), (X[train], y[train], None)] * 2
    as_weights, as_rows, *rest = fit_members(members, fits)
    assert _relative(as_weights.coef_, as_rows.coef_) < 1e-7
    assert _relative(rest[0].coef_, rest[1].coef_) < 1e-7


def test_sparse_input_equals_dense(cancer):
    X, y = cancer
    X = X[:, :10] / X[:, :10].max(axis=0)
    X[X < 0.4] = 0.0
    # Standardised explicitly ("auto" leaves sparse columns as they are).
    kwargs = dict(Cs=[0.1, 1.0], cv=3, solver="lbfgs", standardize=True)
    dense = GradLogisticRegressionCV(**kwargs).fit(X, y)
    sparse = GradLogisticRegressionCV(**kwargs).fit(sp.csr_matrix(X), y)
    assert sparse.C_ == dense.C_
    assert _relative(sparse.coefs_paths_, dense.coefs_paths_) < 1e-6
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cv_results_shaped_like_grid_search(cancer):
    X, y = cancer
    search = GradLogisticRegressionCV(Cs=3, cv=2, refit=False, max_iter=300,
                                      penalty="elasticnet", l1_ratios=[0.2, 0.8],
                                      learning_rates=[0.1]).fit(X, y)
    grid = ParameterGrid({"C": np.logspace(-4, 4, 3), "l1_ratio": [0.2, 0.8],
                          "learning_rate": [0.1]})
    assert [{k: float(v) for k, v in p.items()} for p in grid] == \
        search.cv_results_["params"]
    assert list(search.cv_results_["param_l1_ratio"]) == [0.2, 0.8] * 3
    assert search.scores_.shape == (2, 6)
    assert search.coefs_paths_.shape == (2, 6, 1, X.shape[1] + 1)
    best = search.best_index_
    np.testing.assert_allclose(search.coef_[0],
                               search.coefs_paths_[:, best, 0, :-1].mean(axis=0))


@pytest.mark.parametrize("solver", ["auto", "lbfgs"])
def test_learning_rates_with_a_solver_that_sets_its_own_steps_raise(cancer, solver):
    # Every candidate would be the same fit: a search that cannot choose.
    X, y = cancer
    with pytest.raises(ValueError, match="sets its own steps"):
        GradLogisticRegressionCV(learning_rates=[0.01, 0.1], solver=solver).fit(X, y)


def test_bad_grid_raises(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="learning_rate"):
        GradLogisticRegressionCV(learning_rates=[0.1, -1.0]).fit(X, y)
