"""gradest's GLM families against glum on weighted elastic-net problems.

glum's ``GeneralizedLinearRegressor`` minimises
``sum_i s_i dev_i / (2 sum_i s_i) + alpha l1_ratio |w|_1
+ alpha (1 - l1_ratio) / 2 |w|_2^2`` (weights normalised to sum 1, half the
deviance), which is gradest's ``penalty="elasticnet"`` objective with the same
``alpha`` and ``l1_ratio`` (docs/penalties.rst), on raw features with
``standardize=False`` and glum's ``scale_predictors=False``.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gradest import GradLinearRegression

glum = pytest.importorskip("glum")

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*can lower the objective no further:sklearn.exceptions.ConvergenceWarning"
)


def _problem(loss, power, seed=0):
    rng = np.random.RandomState(seed)
    n, p = 200, 8
    X = rng.randn(n, p)
    coef = np.array([0.5, -0.4, 0.3, 0.0, 0.0, 0.2, 0.0, -0.1])
    mu = np.exp(X @ coef + 0.3)
    if loss == "poisson":
        y = rng.poisson(mu).astype(float)
    else:
        # compound Poisson-gamma draws: zeros and positive amounts
        counts = rng.poisson(mu)
        y = np.array([rng.gamma(2.0, 0.5, k).sum() for k in counts])
    sw = rng.uniform(0.5, 2.0, n)
    return X, y, sw


@pytest.mark.parametrize("loss, power, family", [
    ("poisson", 1.0, "poisson"),
    ("tweedie", 1.5, "tweedie"),
])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_elastic_net_matches_glum(loss, power, family, l1_ratio):
    X, y, sw = _problem(loss, power)
    alpha = 0.02
    if family == "tweedie":
        from glum import TweedieDistribution

        family = TweedieDistribution(power)
    ref = glum.GeneralizedLinearRegressor(
        family=family, link="log", alpha=alpha, l1_ratio=l1_ratio,
        fit_intercept=True, scale_predictors=False, gradient_tol=1e-10,
        max_iter=1000,
    ).fit(X, y, sample_weight=sw)
    penalty = "elasticnet" if l1_ratio < 1 else "l1"
    est = GradLinearRegression(
        loss=loss, power=power, penalty=penalty, alpha=alpha,
        l1_ratio=l1_ratio, standardize=False, tol=1e-10, max_iter=10000,
    ).fit(X, y, sample_weight=sw)
    # Both stop at a gradient (or subgradient distance) of 1e-10; the
    # penalised Hessian's smallest eigenvalue is >= alpha (1 - l1_ratio) and
    # the data term's ~ mean(mu) x 1, so coefficients agree to ~1e-8; 1e-6
    # leaves room for glum's own stopping rule on the active set.
    assert_allclose(est.coef_, ref.coef_, atol=1e-6)
    assert_allclose(est.intercept_, ref.intercept_, atol=1e-6)
    # the same zeros where the L1 term is on
    if l1_ratio > 0:
        np.testing.assert_array_equal(est.coef_ == 0, np.abs(ref.coef_) < 1e-12)
