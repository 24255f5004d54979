"""Losses that keep their meaning off the happy path: outliers, counts, raw units.

Each test compares GradLinearRegression with an independent reference:
scikit-learn's HuberRegressor, PoissonRegressor and LinearRegression.
"""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import HuberRegressor, LinearRegression, PoissonRegressor

from gradest import GradLinearRegression
from gradest._losses import LOSSES, loss_names

N_SAMPLES, NOISE = 300, 0.5
TRUE_COEF = np.array([1.5, -2.0, 0.5])


def _gross_outliers():
    """A line with noise of std 0.5 and 10 % of the targets shifted by +40."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_SAMPLES, 3))
    y = X @ TRUE_COEF + 1.0 + rng.normal(scale=NOISE, size=N_SAMPLES)
    y[: N_SAMPLES // 10] += 40.0
    return X, y


def _huber_reference(X, y):
    return HuberRegressor(alpha=0.0, max_iter=100_000, tol=1e-12).fit(X, y)


def _poisson_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 5))
    coef = np.array([0.3, -0.2, 0.4, 0.1, -0.3])
    return X, rng.poisson(np.exp(X @ coef + 0.5)).astype(float)


def poisson_nll(y_true, y_pred):
    """Poisson negative log-likelihood with a log link, up to a constant."""
    return jnp.exp(y_pred) - y_true * y_pred


def half_squared_error(y_true, y_pred):
    return 0.5 * (y_true - y_pred) ** 2


@pytest.mark.parametrize("standardize_targets", ["auto", False])
def test_huber_matches_huber_regressor(standardize_targets):
    # Both minimise the same strictly convex objective (Owen's concomitant
    # scale) to a gradient tolerance of 1e-9 or below, so they agree far
    # closer than 1e-4; the old threshold, in units of a std the outliers
    # inflate, was 0.7 off.
    X, y = _gross_outliers()
    ref = _huber_reference(X, y)
    model = GradLinearRegression(loss="huber", solver="lbfgs",
                                 standardize_targets=standardize_targets).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-4)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-4)
    np.testing.assert_allclose(model.scale_, ref.scale_, rtol=1e-4)


def test_huber_with_default_solver_is_as_robust_as_huber_regressor():
    # Adam with constant steps hovers near the minimiser; it must stay well
    # inside the statistical error of the estimate itself, noise / sqrt(n).
    X, y = _gross_outliers()
    ref = _huber_reference(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GradLinearRegression(loss="huber").fit(X, y)
    standard_error = NOISE / np.sqrt(N_SAMPLES)
    assert np.abs(model.coef_ - ref.coef_).max() < 2 * standard_error
    assert abs(model.intercept_ - ref.intercept_) < 2 * standard_error
    # The scale's own relative error is about 1 / sqrt(2 n).
    assert abs(model.scale_ / ref.scale_ - 1) < 1 / np.sqrt(2 * N_SAMPLES)


def test_huber_is_equivariant_in_raw_units():
    # Without any standardisation the optimiser sees y itself, so only a
    # threshold that scales with the fitted scale gives the same line for
    # y and 1000 * y + 5 (a fixed threshold in the units of y does not).
    X, y = _gross_outliers()
    kwargs = {"loss": "huber", "solver": "lbfgs", "standardize": False}
    model = GradLinearRegression(**kwargs).fit(X, y)
    scaled = GradLinearRegression(**kwargs).fit(X, 1000.0 * y + 5.0)
    np.testing.assert_allclose(scaled.coef_, 1000.0 * model.coef_, rtol=1e-6)
    np.testing.assert_allclose(scaled.intercept_, 1000.0 * model.intercept_ + 5.0,
                               rtol=1e-6)
    np.testing.assert_allclose(scaled.scale_, 1000.0 * model.scale_, rtol=1e-6)


def test_huber_warm_start_and_partial_fit_carry_the_scale():
    X, y = _gross_outliers()
    ref = _huber_reference(X, y)
    model = GradLinearRegression(loss="huber", solver="lbfgs", warm_start=True)
    model.fit(X, y).fit(X, y)
    assert model.n_iter_ <= 2  # started at the minimiser, scale included
    np.testing.assert_allclose(model.scale_, ref.scale_, rtol=1e-4)

    stream = GradLinearRegression(loss="huber", learning_rate=0.01)
    for _ in range(2000):
        stream.partial_fit(X, y)
    standard_error = NOISE / np.sqrt(N_SAMPLES)
    assert np.abs(stream.coef_ - ref.coef_).max() < 2 * standard_error
    assert abs(stream.scale_ / ref.scale_ - 1) < 1 / np.sqrt(2 * N_SAMPLES)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_callable_poisson_loss_matches_poisson_regressor(solver):
    # A likelihood means its targets in the user's units: standardised counts
    # are no counts (the fit went to coefficients near 1e18).
    X, y = _poisson_data()
    ref = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-12,
                           max_iter=1000).fit(X, y)
    model = GradLinearRegression(loss=poisson_nll, solver=solver).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-4)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-4)


def test_callable_squared_error_far_from_zero_with_default_learning_rate():
    # Targets left in the user's units: the intercept starts at the mean of y,
    # not 20 000 default steps away from it.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    y = X @ TRUE_COEF + 1000.0 + rng.normal(scale=NOISE, size=200)
    ref = LinearRegression().fit(X, y)
    model = GradLinearRegression(loss=half_squared_error).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-9)


def test_standardize_targets_true_standardises_a_callable_loss():
    # Targets of spread 1e6: in the user's units the default steps of 0.05
    # could not reach the coefficients; standardised, they do.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    y = 1e6 * (X @ TRUE_COEF + rng.normal(scale=NOISE, size=200))
    ref = LinearRegression().fit(X, y)
    model = GradLinearRegression(loss=half_squared_error,
                                 standardize_targets=True).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(model.intercept_, ref.intercept_,
                               atol=1e-6 * y.std())


@pytest.mark.parametrize("loss", ["squared_error", "huber"])
def test_equivariant_losses_fit_the_same_with_raw_targets(loss):
    # What the registry's `equivariant` promises: standardising the targets
    # changes the units of the optimisation, not the minimiser.
    assert LOSSES[loss].equivariant
    X, y = _gross_outliers()
    ref = (LinearRegression().fit(X, y) if loss == "squared_error"
           else _huber_reference(X, y))
    for standardize_targets in (True, False):
        model = GradLinearRegression(loss=loss, solver="lbfgs",
                                     standardize_targets=standardize_targets)
        model.fit(X, y)
        np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-4)


def test_registry_marks_which_regression_targets_are_standardised():
    equivariant = {name for name in loss_names("regression")
                   if LOSSES[name].equivariant}
    assert equivariant == {"squared_error", "huber", "absolute_error", "quantile"}
    assert not LOSSES["epsilon_insensitive"].equivariant
    # A log link models the mean of counts or amounts in their own units.
    never_scaled = {name for name in loss_names("regression")
                    if not LOSSES[name].scalable_targets}
    assert never_scaled == {"poisson", "gamma", "tweedie"}


@pytest.mark.parametrize("params, match", [
    ({"standardize_targets": "yes"}, "standardize_targets"),
    ({"loss": "huber", "epsilon": 0.5}, "epsilon"),
])
def test_invalid_parameters_are_named(params, match):
    X, y = _gross_outliers()
    with pytest.raises(ValueError, match=match):
        GradLinearRegression(**params).fit(X, y)


def _targets_with_weights(loss, n_outputs):
    rng = np.random.default_rng(7)
    n = 400
    weights = rng.uniform(0.2, 3.0, size=n)
    if loss == "log_loss":
        labels = rng.choice(max(n_outputs, 2), size=n, p=None)
        Y = (np.eye(n_outputs)[labels] if n_outputs > 1
             else labels[:, None].astype(float))
    elif loss == "squared_error":
        Y = rng.normal(3.0, 2.0, size=(n, n_outputs))
    else:
        Y = rng.gamma(2.0, 1.5, size=(n, n_outputs))
    return Y, weights


@pytest.mark.parametrize("loss, hyper, n_outputs", [
    ("squared_error", {}, 2), ("log_loss", {}, 1), ("log_loss", {}, 4),
    ("poisson", {}, 1), ("gamma", {}, 1), ("tweedie", {"power": 1.5}, 1),
    ("tweedie", {"power": 3.0}, 1)])
def test_best_constant_is_where_the_weighted_loss_is_flat(loss, hyper, n_outputs):
    # The intercept of a built-in loss starts at its best constant without
    # any evaluation; autodiff's derivative of the weighted mean loss in a
    # constant predictor must vanish there (up to rounding) and not at a
    # neighbouring constant.
    import jax

    from gradest._losses import best_constant, sample_losses, weighted_mean

    Y, weights = _targets_with_weights(loss, n_outputs)
    constant = best_constant(loss, weights @ Y / weights.sum())
    assert constant is not None and constant.shape == (n_outputs,)

    traced = {name: jnp.asarray(value) for name, value in hyper.items()}

    def mean_loss(c):
        predictions = jnp.broadcast_to(c, Y.shape)
        return weighted_mean(sample_losses(loss, jnp.asarray(Y), predictions, traced),
                             jnp.asarray(weights))

    with jax.enable_x64(True):
        slope = np.asarray(jax.grad(mean_loss)(jnp.asarray(constant)))
        # Not a common shift, to which multinomial logits are blind.
        off = constant + 0.1 * np.arange(1, n_outputs + 1)
        slope_off = np.asarray(jax.grad(mean_loss)(jnp.asarray(off)))
    assert np.max(np.abs(slope)) <= 1e-12 * max(1.0, float(np.max(np.abs(Y))))
    assert np.max(np.abs(slope_off)) > 1e-3


def test_built_in_losses_start_without_evaluating_constants():
    # The start needs no compiled evaluation of the candidates (a program of
    # its own, compiled in every new process); a user's callable still
    # compares 0 with the mean.
    from gradest.linear_model import _start as _fit

    X, y = _poisson_data()
    before = _fit._constant_objective._cache_size()
    GradLinearRegression(loss="poisson", solver="lbfgs").fit(X, y)
    assert _fit._constant_objective._cache_size() == before
    model = GradLinearRegression(loss=poisson_nll, solver="lbfgs").fit(X, y)
    assert _fit._constant_objective._cache_size() >= max(before, 1)
    ref = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-5, atol=1e-7)
