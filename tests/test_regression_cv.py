"""GradLinearRegressionCV against GridSearchCV, LassoCV and separate fits."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LassoCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler

from gradest import GradLinearRegression, GradLinearRegressionCV
from gradest.linear_model import alpha_max


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def test_lasso_search_matches_lasso_cv_and_grid_search(diabetes):
    X, y = diabetes
    folds = list(KFold(5).split(X))
    search = GradLinearRegressionCV(penalty="l1", alphas=10, cv=folds).fit(X, y)
    # The grid starts at the data's alpha_max, as LassoCV's.
    assert search.alphas_[0] == pytest.approx(alpha_max(X, y), rel=1e-12)
    np.testing.assert_allclose(search.alphas_[-1] / search.alphas_[0], 1e-3)
    grid = GridSearchCV(GradLinearRegression(penalty="l1"),
                        {"alpha": list(search.alphas_)}, cv=folds).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               grid.cv_results_["mean_test_score"], rtol=0, atol=1e-6)
    assert search.alpha_ == grid.best_params_["alpha"]
    # LassoCV spaces the same grid on the standardised columns.
    lasso = LassoCV(alphas=10, cv=folds).fit(StandardScaler().fit_transform(X), y)
    np.testing.assert_allclose(search.alphas_, lasso.alphas_, rtol=1e-10)
    # The held-out MSE of every member is GridSearchCV's, member by member
    # (each fold standardised on its own training rows, as a separate fit).
    mse = GridSearchCV(GradLinearRegression(penalty="l1"),
                       {"alpha": list(search.alphas_)}, cv=folds,
                       scoring="neg_mean_squared_error").fit(X, y)
    for f in range(5):
        np.testing.assert_allclose(search.mse_path_[:, f],
                                   -mse.cv_results_[f"split{f}_test_score"], rtol=1e-6)


def test_elastic_net_grid_has_an_alpha_row_per_l1_ratio(diabetes):
    X, y = diabetes
    search = GradLinearRegressionCV(penalty="elasticnet", l1_ratios=[0.2, 0.9],
                                    alphas=4, cv=3).fit(X, y)
    assert search.alphas_.shape == (2, 4)
    for row, ratio in zip(search.alphas_, [0.2, 0.9], strict=True):
        assert row[0] == pytest.approx(alpha_max(X, y, l1_ratio=ratio), rel=1e-12)
    assert len(search.cv_results_["params"]) == 8
    assert search.l1_ratio_ in (0.2, 0.9)


def test_each_weighted_member_equals_its_own_fit(diabetes):
    # Huber with sample weights: every fold's member is the fit on the
    # fold's weighted training rows.
    X, y = diabetes
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    search = GradLinearRegressionCV(loss="huber", alphas=[0.1, 10.0], cv=folds).fit(
        X, y, sample_weight=weights)
    for f, (train, _) in enumerate(folds):
        for c, params in enumerate(search.cv_results_["params"]):
            own = GradLinearRegression(loss="huber", **params).fit(
                X[train], y[train], sample_weight=weights[train])
            path = search.coefs_paths_[f, c, 0]
            np.testing.assert_allclose(path[:-1], own.coef_, rtol=1e-6,
                                       atol=1e-6 * np.abs(own.coef_).max())
            assert path[-1] == pytest.approx(own.intercept_, rel=1e-6)


def test_sparse_input_equals_dense(diabetes):
    X, y = diabetes
    kwargs = dict(penalty="l1", alphas=3, cv=3, standardize=True)
    dense = GradLinearRegressionCV(**kwargs).fit(X, y)
    sparse = GradLinearRegressionCV(**kwargs).fit(sp.csr_matrix(X), y)
    assert sparse.alpha_ == dense.alpha_
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-6,
                               atol=1e-6 * np.abs(dense.coef_).max())


def test_refit_false_predicts_with_the_fold_mean(diabetes):
    X, y = diabetes
    search = GradLinearRegressionCV(alphas=[0.1, 1.0], cv=3, refit=False).fit(X, y)
    mean = search.coefs_paths_[:, search.best_index_, 0].mean(axis=0)
    np.testing.assert_allclose(search.coef_, mean[:-1])
    np.testing.assert_allclose(search.predict(X), X @ mean[:-1] + mean[-1])


def test_a_count_of_alphas_needs_alpha_max(diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match="alpha_max"):
        GradLinearRegressionCV(loss="huber", penalty="l1", alphas=5).fit(X, y)


def test_candidates_share_their_folds_statistics(diabetes, monkeypatch):
    # Least squares: each fold's statistics are computed once for all of its
    # candidates (and once more for the refit), not once per member.
    import gradest.linear_model._statistics as statistics

    calls = []
    original = statistics._row_moments

    def counted(*args):
        calls.append(args[0].shape)
        return original(*args)

    monkeypatch.setattr(statistics, "_row_moments", counted)
    X, y = diabetes
    GradLinearRegressionCV(alphas=[0.1, 1.0, 10.0, 100.0], cv=3).fit(X, y)
    assert len(calls) == 3 + 1
