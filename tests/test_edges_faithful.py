"""Cases that were silently wrong, each against its independent reference.

Rows of the "faithful at the edges" table: a first-order UKR fit whose steps
are too long, the pinball loss with default settings, and float32 ridge
without standardisation. (The huge-penalty intercept and the wide
minimum-norm rows are in test_intercept_profiled.py.)
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import QuantileRegressor, Ridge

from gradest import UKR, GradLinearRegression


def _saddle(n=300, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, size=(n, 2))
    return np.c_[z[:, 0], 100 * z[:, 1], 0.01 * (z[:, 0] ** 2 - z[:, 1] ** 2)]


def test_ukr_steps_too_long_are_a_divergence_naming_learning_rate():
    # gd at 1e6 took the objective from 0.0083 to 14.1 over 1,000 steps
    # without exploding; it only warned "did not converge".
    X = _saddle()
    with pytest.raises(ValueError, match="learning_rate"):
        UKR(solver="gd", learning_rate=1e6).fit(X)
    fresh = UKR(solver="gd", learning_rate=1e6)
    with pytest.raises(ValueError):
        fresh.fit(X)
    with pytest.raises(NotFittedError):
        fresh.transform(X)
    # A fitted model refitted with the bad rate keeps what it had.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = UKR(max_iter=50).fit(X)
    before = model.embedding_.copy()
    with pytest.raises(ValueError, match="learning_rate"):
        model.set_params(solver="gd", learning_rate=1e6, max_iter=1000).fit(X)
    np.testing.assert_array_equal(model.embedding_, before)


def test_a_warm_adam_restart_at_the_optimum_is_no_divergence():
    # Adam steps about learning_rate whatever the gradient, so a restart at
    # the optimum rises a little before settling: not a divergence.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = X @ rng.normal(size=5) + 0.1 * rng.normal(size=200)
    model = GradLinearRegression(solver="lbfgs", warm_start=True).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(solver="adam", max_iter=20).fit(X, y)
    assert np.all(np.isfinite(model.coef_))


@pytest.mark.parametrize("quantile", [0.2, 0.5, 0.8])
def test_default_quantile_fit_is_within_1e_4_of_highs(quantile):
    # The 3-feature problem of the loss tests: noise of std 0.5, 10 % of the
    # targets shifted by +40. Before, defaults ended 9.4e-4 above at q=0.8.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 1.0 + rng.normal(scale=0.5, size=300)
    y[:30] += 40.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = GradLinearRegression(loss="quantile", quantile=quantile).fit(X, y)
    ref = QuantileRegressor(quantile=quantile, alpha=0.0, solver="highs").fit(X, y)

    def pinball(prediction):
        r = y - prediction
        return np.mean(np.maximum(quantile * r, (quantile - 1) * r))

    assert pinball(model.predict(X)) <= pinball(ref.predict(X)) * (1 + 1e-4)


def test_float32_unstandardised_ridge_is_as_accurate_as_float32_allows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 30))
    y = X @ rng.normal(size=30) + rng.normal(size=40)
    ref = Ridge(alpha=1.0).fit(X, y)
    model = GradLinearRegression(alpha=1.0, standardize=False, solver="lbfgs").fit(
        X.astype(np.float32), y.astype(np.float32))
    assert model.coef_.dtype == np.float32
    # Ridge's own solvers agree in float32 to ~1e-5 here; the bound
    # is 1e-3 (it was 1.5e-3).
    error = np.linalg.norm(model.coef_ - ref.coef_) / np.linalg.norm(ref.coef_)
    assert error <= 1e-3


def _moves(model, X):
    """Each training row's move under transform, in spans of the embedding,
    and how many land outside the embedding's box widened by 10 %."""
    E, Z = model.embedding_, model.transform(X)
    span = E.max(axis=0) - E.min(axis=0)
    move = np.linalg.norm((Z - E) / span, axis=1)
    outside = np.any((Z < E.min(axis=0) - 0.1 * span)
                     | (Z > E.max(axis=0) + 0.1 * span), axis=1)
    return move, int(outside.sum())


def test_transform_of_iris_training_rows_returns_their_latents():
    # Before: 95th percentile 0.145 spans, 6 of 150 rows outside the box.
    from sklearn.datasets import load_iris

    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = UKR().fit(X)
        move, outside = _moves(model, X)
    assert np.percentile(move, 95) <= 0.05
    assert outside == 0


@pytest.mark.xfail(strict=True, reason=(
    "measured shortfall: on the 800-row S-curve the 95th percentile of the move "
    "is 0.055 spans (0.063 before the projection took the fit's penalty), above "
    "the 0.05 target; none lands outside the box. Starting each training row at "
    "its own latent point gives the same 0.055: the row's own optimum differs "
    "from the fit's, whose latent point also serves its neighbours' "
    "leave-one-out reconstructions"))
def test_transform_of_s_curve_training_rows_returns_their_latents():
    from sklearn.datasets import make_s_curve

    X = make_s_curve(800, random_state=0)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = UKR().fit(X)
        move, outside = _moves(model, X)
    assert outside == 0
    assert np.percentile(move, 95) <= 0.05
