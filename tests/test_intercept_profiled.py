"""The intercept is optimised whatever the penalty, and wide fits without
standardisation end at LinearRegression's minimum-norm solution.

With an intercept the columns are centred even when ``standardize=False``:
the unpenalised intercept absorbs a shift of the columns, so the minimiser is
unchanged, and the intercept's optimum no longer depends on the coefficients.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge

from gradest import GradLinearRegression


@pytest.mark.parametrize("shape", [(100, 50), (50, 100)])
@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
def test_a_huge_penalty_leaves_the_intercept_at_the_mean(shape, solver):
    X, y = make_regression(*shape, bias=10, random_state=0)
    with warnings.catch_warnings():
        # The penalty's curvature (1e16) is far beyond what rounding lets the
        # solver resolve for the coefficients (~1e-13): a stall, said so.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GradLinearRegression(alpha=1e16, standardize=False, solver=solver,
                                     learning_rate=1e-17, max_iter=50).fit(X, y)
    ref = Ridge(alpha=1e16).fit(X, y)
    # Ridge's intercept is mean(y) - mean(X) @ coef with coef ~ 1e-13.
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-9)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
def test_wide_unstandardised_fit_is_linear_regressions_minimum_norm(solver):
    # 50 rows, 100 columns: infinitely many interpolating solutions;
    # LinearRegression returns the one of minimum norm of the centred problem.
    X, y = make_regression(50, 100, bias=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GradLinearRegression(alpha=1e-16, standardize=False, solver=solver,
                                     learning_rate=0.5 / np.linalg.norm(X, 2) ** 2 * 50,
                                     tol=1e-10, max_iter=20_000).fit(X, y)
    ref = LinearRegression().fit(X, y)
    scale = np.abs(ref.coef_).max()
    # Before the change the coefficients were up to 3.3 (of ~100) off.
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-6)
