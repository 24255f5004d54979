"""gradest.linear_model.path against scikit-learn's lasso_path and enet_path.

With ``standardize=False`` and no intercept gradest's L1 / elastic net
objective is scikit-learn's (the weighted mean squared error over 2 plus the
penalty), so the paths must agree to the solvers' tolerance: the lasso
coefficients are Lipschitz in the data with a constant set by the
conditioning of the active columns, here below 1e3, and both solvers stop
within 1e-9 of the optimum's gradient.
"""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, enet_path, lasso_path

from gradest import GradLinearRegression
from gradest.linear_model import alpha_max, path


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = X - X.mean(axis=0)
    return X, y - y.mean()


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 1.0), ("elasticnet", 0.5)])
def test_path_matches_sklearn(diabetes, penalty, l1_ratio):
    X, y = diabetes
    params = dict(penalty=penalty, l1_ratio=l1_ratio, fit_intercept=False,
                  standardize=False, tol=1e-12)
    alphas, coefs, _ = path(X, y, n_alphas=8, eps=1e-2, **params)
    reference = (lasso_path if penalty == "l1" else enet_path)
    kwargs = {} if penalty == "l1" else {"l1_ratio": l1_ratio}
    ref_alphas, ref_coefs, _ = reference(X, y, alphas=alphas, tol=1e-12,
                                         max_iter=100000, **kwargs)
    np.testing.assert_allclose(alphas, ref_alphas)
    assert coefs.shape == ref_coefs.shape
    assert _relative(coefs, ref_coefs) < 1e-6


def test_alpha_max_zeroes_every_coefficient(diabetes):
    X, y = load_diabetes(return_X_y=True)
    top = alpha_max(X, y)
    # scikit-learn's own alpha_max on standardised X (Lasso's convention).
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(top, np.max(np.abs(Xs.T @ (y - y.mean()))) / len(y),
                               rtol=1e-12)
    just_above = GradLinearRegression(penalty="l1", alpha=top * 1.001).fit(X, y)
    below = Lasso(alpha=top * 0.99, tol=1e-12).fit(Xs, y)
    assert np.all(just_above.coef_ == 0)
    assert np.any(below.coef_ != 0)


def test_path_equals_separate_fits_for_another_loss(diabetes):
    X, y = load_diabetes(return_X_y=True)
    alphas, coefs, intercepts = path(X, y, alphas=[1e-2, 1.0], loss="huber",
                                     penalty="l2", solver="lbfgs")
    # Each member stops where its gradient is within tol=1e-9; the batched
    # sums round in another order, so the two stopping points differ by up to
    # tol times the conditioning of the standardised problem (below 1e3).
    for k, alpha in enumerate(alphas):
        alone = GradLinearRegression(loss="huber", penalty="l2", alpha=alpha,
                                     solver="lbfgs").fit(X, y)
        assert _relative(coefs[:, k], alone.coef_) < 1e-6
        np.testing.assert_allclose(intercepts[k], alone.intercept_, rtol=1e-6)


def test_path_needs_alphas_without_alpha_max(diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match="needs alphas"):
        path(X, y, penalty="l2")
