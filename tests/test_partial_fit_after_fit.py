"""partial_fit after fit, with squared error, continues fit's problem.

``fit(A)`` then ``partial_fit(B)`` is the least-squares fit of A and B
together (scikit-learn's LinearRegression / Ridge on the stacked rows), not
of B alone; where fit keeps no statistics, partial_fit says so.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import make_regression
from sklearn.linear_model import LinearRegression

from gradest import GradLinearRegression

X, Y = make_regression(600, 8, noise=5.0, bias=3.0, random_state=0)
WEIGHTS = np.random.default_rng(0).uniform(0.5, 2.0, size=600)
A, B1, B2 = slice(0, 400), slice(400, 520), slice(520, 600)


def _assert_close(model, reference):
    # lbfgs stops at a gradient of tol=1e-9 in standardised units on a
    # well-conditioned 8-feature problem: 1e-6 of the largest coefficient
    # leaves orders of magnitude to spare.
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-6 * scale)
    np.testing.assert_allclose(model.intercept_, reference.intercept_,
                               atol=1e-6 * scale)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_partial_fit_after_fit_fits_both_sets_of_rows(alpha):
    model = GradLinearRegression(alpha=alpha, solver="lbfgs")
    model.fit(X[A], Y[A], sample_weight=WEIGHTS[A])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.partial_fit(X[B1], Y[B1], sample_weight=WEIGHTS[B1])
        model.partial_fit(X[B2], Y[B2], sample_weight=WEIGHTS[B2])
    together = GradLinearRegression(alpha=alpha, solver="lbfgs").fit(
        X, Y, sample_weight=WEIGHTS)
    _assert_close(model, together)
    if alpha == 0.0:
        _assert_close(model, LinearRegression().fit(X, Y, sample_weight=WEIGHTS))


def test_a_fit_on_few_rows_keeps_its_statistics_too():
    # 30 rows of 8 features: fit runs on the rows (not the statistics), and
    # still keeps their statistics for partial_fit.
    rows = slice(0, 30)
    model = GradLinearRegression(alpha=0.0, solver="lbfgs").fit(X[rows], Y[rows])
    model.partial_fit(X[B1], Y[B1])
    stacked = np.r_[0:30, 400:520]
    _assert_close(model, LinearRegression().fit(X[stacked], Y[stacked]))


def test_sparse_fit_then_partial_fit_fits_both():
    # 400 rows of 8 features: the sparse fit runs on its statistics, which
    # it keeps.
    model = GradLinearRegression(alpha=0.0, solver="lbfgs")
    model.fit(scipy.sparse.csr_matrix(X[A]), Y[A])
    model.partial_fit(scipy.sparse.csr_matrix(X[B1]), Y[B1])
    _assert_close(model, LinearRegression().fit(X[:520], Y[:520]))


def test_partial_fit_warns_when_fit_kept_no_statistics():
    # With early stopping, fit's training rows are not all of its rows.
    model = GradLinearRegression(early_stopping=True).fit(X[A], Y[A])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.partial_fit(X[B1], Y[B1])
    messages = [w for w in caught if "kept no statistics" in str(w.message)]
    assert len(messages) == 1
    assert messages[0].filename == __file__
