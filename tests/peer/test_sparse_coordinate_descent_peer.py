"""Ports of scikit-learn 1.9.1's ``test_sparse_coordinate_descent.py``.

Same mapping as tests/peer/test_coordinate_descent_peer.py.

Counts: 13 upstream tests; 5 ported (all pass, 0 xfail); 8 not portable:

- test_sparse_coef: scikit-learn's ``sparse_coef_`` attribute.
- test_enet_multitarget, test_same_multiple_output_sparse_dense: gradest
  fits one target.
- test_path_parameters, test_same_output_sparse_dense_lasso_and_enet_cv:
  no path / CV estimators.
- test_sparse_enet_coordinate_descent: scikit-learn's convergence message.
- test_sparse_read_only_buffer: scikit-learn's Cython buffer handling.
- test_enet_toy_list_input: a list-of-lists X with precompute / dual gap
  checks of the same toy problem as test_enet_toy_explicit_sparse_input.

The ``positive=True`` rows of test_sparse_enet_not_as_toy_dataset are not
portable (no ``positive=``).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from gradest import GradLinearRegression

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*can lower the objective no further:sklearn.exceptions.ConvergenceWarning"
)


def _enet(alpha, l1_ratio=1.0, **params):
    penalty = "l1" if l1_ratio == 1.0 else "elasticnet"
    params = {"standardize": False, "solver": "prox-newton", "tol": 1e-10,
              "max_iter": 5000, **params}
    return GradLinearRegression(penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
                                **params)


def make_sparse_data(n_samples=100, n_features=100, n_informative=10, seed=42):
    # upstream's helper: an ill-posed problem, 50 % zeros in X
    rng = np.random.RandomState(seed)
    w = rng.randn(n_features)
    w[n_informative:] = 0.0
    X = rng.randn(n_samples, n_features)
    X[rng.uniform(size=(n_samples, n_features)) > 0.5] = 0.0
    return sp.csc_matrix(X), X @ w


# upstream: test_lasso_zero (sparse zeros give zero coefficients).
def test_lasso_zero():
    X = sp.csc_matrix((3, 1))
    clf = _enet(0.1).fit(X, [0.0, 0.0, 0.0])
    assert_allclose(clf.coef_, [0.0])


# upstream: test_enet_toy_explicit_sparse_input (y = x on sparse X;
# decimal 6 and 3 against upstream's values).
@pytest.mark.parametrize("alpha, l1_ratio, coef, decimal", [
    (1e-8, 1.0, 1.0, 6), (0.5, 0.3, 0.50819, 3)])
def test_enet_toy_explicit_sparse_input(alpha, l1_ratio, coef, decimal):
    X = sp.csc_matrix(np.array([[-1.0], [0.0], [1.0]]))
    y = [-1.0, 0.0, 1.0]
    clf = _enet(alpha, l1_ratio).fit(X, y)
    assert_allclose(clf.coef_, [coef], atol=1.5 * 10.0 ** -decimal)


# upstream: test_sparse_enet_not_as_toy_dataset (positive=False rows:
# held-out R^2 > 0.85, sparse == dense to decimal 5, fewer than 2 x 10 nonzeros).
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_sparse_enet_not_as_toy_dataset(fit_intercept):
    X, y = make_sparse_data()
    n = X.shape[0] // 2
    s_clf = _enet(0.1, 0.8, fit_intercept=fit_intercept).fit(X[n:], y[n:])
    d_clf = _enet(0.1, 0.8, fit_intercept=fit_intercept).fit(X[n:].toarray(), y[n:])
    assert s_clf.score(X[:n], y[:n]) > 0.85
    assert d_clf.score(X[:n].toarray(), y[:n]) > 0.85
    assert_allclose(s_clf.coef_, d_clf.coef_, atol=1.5e-5)
    assert_allclose(s_clf.intercept_, d_clf.intercept_, atol=1.5e-5)
    assert np.sum(s_clf.coef_ != 0.0) < 2 * 10


# upstream: test_sparse_lasso_not_as_toy_dataset (R^2 > 0.85, sparse ==
# dense, and exactly the 10 informative features are nonzero).
def test_sparse_lasso_not_as_toy_dataset():
    X, y = make_sparse_data()
    n = X.shape[0] // 2
    s_clf = _enet(0.1, fit_intercept=False).fit(X[n:], y[n:])
    d_clf = _enet(0.1, fit_intercept=False).fit(X[n:].toarray(), y[n:])
    assert s_clf.score(X[:n], y[:n]) > 0.85
    assert_allclose(s_clf.coef_, d_clf.coef_, atol=1.5e-5)
    assert np.sum(s_clf.coef_ != 0.0) == 10


# upstream: test_sparse_dense_equality (weighted, with an intercept:
# sparse and dense fits agree to rtol 1e-6 upstream).
def test_sparse_dense_equality():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 15)
    X[rng.uniform(size=X.shape) > 0.4] = 0.0
    y = X @ rng.randn(15) + 2.0 + 0.1 * rng.randn(40)
    sw = rng.uniform(0.5, 2.0, 40)
    dense = _enet(0.05, 0.5).fit(X, y, sample_weight=sw)
    sparse = _enet(0.05, 0.5).fit(sp.csr_matrix(X), y, sample_weight=sw)
    assert_allclose(sparse.coef_, dense.coef_, rtol=1e-6, atol=1e-9)
    assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-6)
