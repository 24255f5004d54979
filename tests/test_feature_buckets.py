"""Feature counts share compiled code: columns of zeros change no result."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning

import gradest.linear_model._fit
from gradest import GradLinearRegression, GradLogisticRegression
from gradest._engine import bucket_columns
from gradest._engine.loop import compiled_count

DIABETES = load_diabetes(return_X_y=True)
CANCER = load_breast_cancer(return_X_y=True)


def fit_quietly(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def test_column_buckets_are_few_and_never_smaller():
    counts = np.arange(1, 3000)
    for n_rows in (100, 569, 200_000):
        buckets = np.array([bucket_columns(int(p), n_rows) for p in counts])
        assert np.all(buckets >= counts)
        # Cheap problems round up to a power of two; large ones pad by 1/8.
        small = n_rows * buckets <= 2**22
        assert np.all(buckets[small] < 2 * counts[small])
        assert np.all(buckets[~small] <= counts[~small] * 9 / 8)
    assert len({bucket_columns(p, 569) for p in range(17, 33)}) == 1


@pytest.mark.parametrize("Estimator,data", [
    (GradLinearRegression, DIABETES), (GradLogisticRegression, CANCER)])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_columns_of_zeros_change_no_result(Estimator, data, solver, monkeypatch):
    X, y = data
    X = X[:, :7] if X.shape[1] > 7 else X[:, :5]
    # Least squares on its sufficient statistics has no padded rows or
    # columns: compare fits on the rows.
    monkeypatch.setattr(gradest.linear_model._fit, "use_statistics",
                        lambda *args: False)
    assert bucket_columns(X.shape[1], 512) > X.shape[1]
    padded = fit_quietly(Estimator(solver=solver, max_iter=2000), X, y)
    monkeypatch.setattr(gradest.linear_model._fit, "bucket_columns",
                        lambda n, *args, **kwargs: n)
    exact = fit_quietly(Estimator(solver=solver, max_iter=2000), X, y)
    assert padded.coef_.shape == exact.coef_.shape
    assert padded.n_iter_ == exact.n_iter_
    # Zero columns only change how the products are blocked: the results
    # differ by rounding times the conditioning of the standardised problem.
    X_std = (X - X.mean(axis=0)) / X.std(axis=0)
    rtol = 100 * np.linalg.cond(X_std.T @ X_std) * np.finfo(np.float64).eps
    scale = np.max(np.abs(exact.coef_))
    np.testing.assert_allclose(padded.coef_, exact.coef_, rtol=rtol,
                               atol=rtol * scale)
    np.testing.assert_allclose(padded.intercept_, exact.intercept_, rtol=rtol,
                               atol=rtol * max(scale, 1.0))


def test_feature_counts_in_one_bucket_share_compiled_code():
    X, y = CANCER
    # Recursive feature elimination from 30 to 17 features: one bucket.
    fit_quietly(GradLogisticRegression(max_iter=50), X[:, :30], y)
    compiled = compiled_count()
    for n_features in range(29, 16, -3):
        fit_quietly(GradLogisticRegression(max_iter=50), X[:, :n_features], y)
    assert compiled_count() == compiled


def test_warm_start_across_padded_columns():
    X, y = DIABETES
    model = GradLinearRegression(solver="lbfgs", warm_start=True).fit(X[:, :5], y)
    first = model.coef_.copy()
    model.fit(X[:, :5], y)
    assert model.n_iter_ <= 2
    np.testing.assert_allclose(model.coef_, first, rtol=1e-7)
