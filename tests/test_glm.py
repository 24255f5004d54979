"""GLM families and quantile regression against scikit-learn's estimators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn._loss.loss import HalfTweedieLoss
from sklearn.linear_model import (
    GammaRegressor,
    PoissonRegressor,
    QuantileRegressor,
    TweedieRegressor,
)
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from gradest import GradLinearRegression
from gradest._engine.data import precision
from gradest._engine.loop import run_chunk
from gradest._families import gamma_deviance, poisson_deviance, tweedie_deviance
from gradest._losses import LOSSES

N_SAMPLES, N_FEATURES = 400, 5


def _glm_data(family, seed=0):
    """Features of mixed scales and locations, and targets of `family`'s law."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((N_SAMPLES, N_FEATURES))
         * rng.uniform(0.5, 3.0, N_FEATURES) + rng.uniform(-2.0, 2.0, N_FEATURES))
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    mean = np.exp(0.3 + Z @ rng.uniform(-0.4, 0.4, N_FEATURES))
    y = {"poisson": lambda: rng.poisson(mean).astype(float),
         "gamma": lambda: rng.gamma(2.0, mean / 2.0),
         # Compound Poisson-Gamma: exact zeros and positive amounts.
         "tweedie": lambda: rng.poisson(mean) * rng.gamma(2.0, 0.5, N_SAMPLES),
         }[family]()
    return X, y, rng.uniform(0.0, 3.0, N_SAMPLES)


REFERENCES = {
    "poisson": PoissonRegressor,
    "gamma": GammaRegressor,
    "tweedie": lambda **kw: TweedieRegressor(power=1.5, link="log", **kw),
}


def _sklearn_in_user_units(family, X, y, sample_weight, alpha):
    """scikit-learn's GLM on (weighted) standardised X, mapped back to X's units.

    Newton-Cholesky to tol=1e-12 is the most accurate of its solvers (its
    lbfgs, stopped by scipy's ftol, agrees to about 1e-8).
    """
    scaler = StandardScaler().fit(X, sample_weight=sample_weight)
    ref = REFERENCES[family](alpha=alpha, solver="newton-cholesky", tol=1e-12,
                             max_iter=1000)
    ref.fit(scaler.transform(X), y, sample_weight=sample_weight)
    coef = ref.coef_ / scaler.scale_
    return coef, ref.intercept_ - coef @ scaler.mean_, ref.predict(scaler.transform(X))


@pytest.mark.parametrize("family", ["poisson", "gamma", "tweedie"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_log_link_families_match_sklearn(family, weighted, alpha):
    X, y, weights = _glm_data(family)
    sample_weight = weights if weighted else None
    coef, intercept, predictions = _sklearn_in_user_units(family, X, y,
                                                          sample_weight, alpha)
    total_weight = weights.sum() if weighted else N_SAMPLES
    # scikit-learn penalises the mean loss, gradest the sum of the losses.
    model = GradLinearRegression(loss=family, power=1.5, solver="lbfgs",
                                 alpha=alpha * total_weight)
    model.fit(X, y, sample_weight=sample_weight)
    # Both solvers stop at gradients of about 1e-9 of a well-conditioned
    # standardised objective (measured: 1e-8 at worst), 100 times inside.
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-6,
                               atol=1e-6 * np.abs(coef).max())
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.predict(X), predictions, rtol=1e-6)


def test_poisson_predicts_means_that_balance_the_counts():
    # The canonical link's score equations: at the optimum the weighted
    # residuals y - mu sum to 0 (intercept) and are orthogonal to each column,
    # which needs predict to return mu, not log(mu).
    X, y, weights = _glm_data("poisson")
    model = GradLinearRegression(loss="poisson", solver="lbfgs")
    model.fit(X, y, sample_weight=weights)
    residuals = weights * (y - model.predict(X))
    np.testing.assert_allclose(model.predict(X),
                               np.exp(X @ model.coef_ + model.intercept_))
    assert abs(residuals.sum()) < 1e-6 * weights @ y
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    assert np.abs(Z.T @ residuals).max() < 1e-6 * weights @ y


@pytest.mark.parametrize("power", [-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
def test_tweedie_deviance_is_sklearns_half_deviance(power):
    rng = np.random.default_rng(1)
    y = rng.normal(size=60) if power <= 0 else rng.gamma(2.0, 1.0, 60)
    if 0 < power < 2:
        y[:15] = 0.0
    raw = rng.normal(size=60)
    reference = HalfTweedieLoss(power=power)
    expected = reference.loss(y, raw) + reference.constant_to_optimal_zero(y)
    with precision(np.float64):
        got = tweedie_deviance(jnp.asarray(y), jnp.asarray(raw),
                               {"power": jnp.asarray(power)})
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)
        # One expression for every power: its special cases are the families.
        special = {1.0: poisson_deviance, 2.0: gamma_deviance}.get(power)
        if special is not None:
            np.testing.assert_allclose(
                np.asarray(special(jnp.asarray(y), jnp.asarray(raw), {})), expected,
                rtol=1e-12, atol=1e-12)


def test_tweedie_gradient_is_finite_at_the_special_powers():
    # The branch that a traced power does not take must not poison the
    # gradient (0 times infinity) at p = 1 and p = 2.
    y = jnp.array([0.0, 1.0, 3.0])
    for power in (0.0, 1.0, 2.0):
        grad = jax.grad(lambda raw, p=power: jnp.sum(
            tweedie_deviance(jnp.maximum(y, 0.5) if p >= 2 else y, raw,
                             {"power": jnp.asarray(p)})))(jnp.array([0.1, -0.2, 0.3]))
        assert np.all(np.isfinite(np.asarray(grad)))


def _pinball_objective(X, y, coef, intercept, quantile, sample_weight):
    residuals = y - X @ coef - intercept
    losses = np.maximum(quantile * residuals, (quantile - 1) * residuals)
    return np.average(losses, weights=sample_weight)


@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("weighted", [False, True])
def test_quantile_reaches_highs_objective(quantile, weighted):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2000, N_FEATURES)) * rng.uniform(0.5, 3.0, N_FEATURES)
    noise = rng.standard_t(3, size=2000) * (1 + 0.5 * np.abs(X[:, 0]))
    y = 5.0 + X @ rng.standard_normal(N_FEATURES) + noise
    sample_weight = rng.uniform(0.0, 3.0, 2000) if weighted else None
    ref = QuantileRegressor(quantile=quantile, alpha=0.0, solver="highs")
    ref.fit(X, y, sample_weight=sample_weight)
    model = GradLinearRegression(loss="quantile", quantile=quantile, solver="lbfgs")
    model.fit(X, y, sample_weight=sample_weight)
    best = _pinball_objective(X, y, ref.coef_, ref.intercept_, quantile,
                              sample_weight)
    got = _pinball_objective(X, y, model.coef_, model.intercept_, quantile,
                             sample_weight)
    # HiGHS solves the linear programme exactly (up to its 1e-7 tolerances),
    # so gradest may be above it, not below by more than rounding.
    assert -1e-7 * best <= got - best <= 1e-4 * best
    assert model.loss_curve_.shape == (model.n_iter_,)
    assert model.n_iter_ <= model.max_iter


def test_absolute_error_with_lbfgs_reaches_the_median_regression_objective():
    # The same continuation serves every non-smooth loss with a surrogate.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2000, N_FEATURES))
    y = X @ rng.standard_normal(N_FEATURES) + rng.standard_t(2, size=2000)
    ref = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(X, y)
    model = GradLinearRegression(loss="absolute_error", solver="lbfgs").fit(X, y)
    best = _pinball_objective(X, y, ref.coef_, ref.intercept_, 0.5, None)
    got = _pinball_objective(X, y, model.coef_, model.intercept_, 0.5, None)
    assert -1e-7 * best <= got - best <= 1e-4 * best


@pytest.mark.parametrize("loss, params, y_bad, match", [
    ("poisson", {}, -1.0, r"loss='poisson' needs targets y >= 0"),
    ("gamma", {}, 0.0, r"loss='gamma' needs targets y > 0"),
    ("tweedie", {"power": 1.5}, -0.5, r"loss='tweedie' with power=1.5 needs "
                                      r"targets y >= 0"),
    ("tweedie", {"power": 3.0}, 0.0, r"loss='tweedie' with power=3 needs "
                                     r"targets y > 0"),
])
def test_targets_outside_the_family_domain_are_an_error(loss, params, y_bad, match):
    X, y, _ = _glm_data("gamma")
    y[7] = y_bad
    model = GradLinearRegression(loss=loss, **params)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)
    assert not hasattr(model, "coef_")


def test_tweedie_of_nonpositive_power_accepts_any_real_target():
    X, y, _ = _glm_data("gamma")
    y = y - 1.0
    assert y.min() < 0
    model = GradLinearRegression(loss="tweedie", power=0.0, solver="lbfgs").fit(X, y)
    assert np.all(model.predict(X) > 0)


@pytest.mark.parametrize("loss", ["poisson", "gamma", "tweedie"])
def test_log_link_targets_are_never_standardised(loss):
    assert not LOSSES[loss].scalable_targets
    X, y, _ = _glm_data("gamma")
    with pytest.raises(ValueError, match="standardize_targets=True does not apply"):
        GradLinearRegression(loss=loss, standardize_targets=True).fit(X, y)
    auto = GradLinearRegression(loss=loss, solver="lbfgs").fit(X, y)
    raw = GradLinearRegression(loss=loss, solver="lbfgs",
                               standardize_targets=False).fit(X, y)
    np.testing.assert_array_equal(auto.coef_, raw.coef_)


@pytest.mark.parametrize("loss", ["poisson", "gamma", "tweedie", "quantile"])
def test_float32_stays_float32(loss):
    X, y, _ = _glm_data("gamma")
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    model = GradLinearRegression(loss=loss, solver="lbfgs").fit(X32, y32)
    assert model.coef_.dtype == np.float32
    assert model.predict(X32).dtype == np.float32
    reference = GradLinearRegression(loss=loss, solver="lbfgs").fit(X, y)
    if loss == "quantile":
        # Nearly flat directions of the pinball objective leave the
        # coefficients loosely determined; its value is what both reach.
        # float32 smooths the kink down to 1e-3 of the spread of y.
        objective32 = _pinball_objective(X, y, model.coef_.astype(float),
                                         float(model.intercept_), 0.5, None)
        objective64 = _pinball_objective(X, y, reference.coef_,
                                         reference.intercept_, 0.5, None)
        assert abs(objective32 - objective64) <= 1e-3 * objective64
    else:
        # float32 rounding of a well-conditioned problem: a few 1e-4 at most.
        np.testing.assert_allclose(model.predict(X32), reference.predict(X),
                                   rtol=1e-3)


def test_default_solver_fits_poisson_too():
    X, y, _ = _glm_data("poisson")
    coef, _, _ = _sklearn_in_user_units("poisson", X, y, None, 0.0)
    model = GradLinearRegression(loss="poisson").fit(X, y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-5,
                               atol=1e-5 * np.abs(coef).max())


@pytest.mark.parametrize("loss, grid", [
    ("tweedie", {"power": [1.2, 1.5, 1.8]}),
    ("quantile", {"quantile": [0.25, 0.5, 0.75]}),
])
def test_search_over_the_family_parameter_compiles_once(loss, grid):
    X, y, _ = _glm_data("tweedie")
    name, values = next(iter(grid.items()))
    estimator = GradLinearRegression(loss=loss, solver="lbfgs")
    # One fit compiles the loop for this loss; the search's folds and its
    # refit, at other values of the parameter, must reuse it.
    estimator.set_params(**{name: 0.6 if loss == "quantile" else 1.3})
    estimator.fit(X[: 2 * N_SAMPLES // 3], y[: 2 * N_SAMPLES // 3])
    compiled = run_chunk._cache_size()
    search = GridSearchCV(estimator, grid, cv=3).fit(X, y)
    assert run_chunk._cache_size() == compiled
    assert search.best_params_[name] in values
