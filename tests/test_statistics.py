"""Least squares on sufficient statistics against the rows and closed forms."""

import warnings

import jax
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

import gradest.linear_model._fit as fit_module
from gradest import GradLinearRegression
from gradest._engine import Problem, Settings, minimize
from gradest._moments import compute_moments
from gradest._penalties import PENALTIES
from gradest._scaling import fit_standardization, identity_standardization, standardize
from gradest.linear_model._objective import LinearObjective
from gradest.linear_model._statistics import (
    row_moments,
    statistics_problem,
    use_statistics,
)

EPS = np.finfo(np.float64).eps
DIABETES = load_diabetes(return_X_y=True)


def _problem_data(n_samples=600, n_features=6, n_outputs=2, seed=0):
    """Correlated features far from zero, weighted rows, several targets."""
    rng = np.random.default_rng(seed)
    mixing = np.eye(n_features) + rng.normal(size=(n_features, n_features)) / np.sqrt(
        2 * n_features)
    X = rng.normal(size=(n_samples, n_features)) @ mixing + rng.uniform(
        -5, 5, n_features)
    Y = (X @ rng.normal(size=(n_features, n_outputs)) + 3.0
         + rng.normal(size=(n_samples, n_outputs)))
    weights = rng.uniform(0, 3, n_samples)
    return X, Y, weights


def _both_problems(X, Y, weights, center, scale):
    """The rows as the data path standardises them, and their statistics."""
    if scale:
        x_stats = fit_standardization(X, weights, center=center, scale=True)
        y_stats = fit_standardization(Y, weights, center=center, scale=True)
    else:
        x_stats = identity_standardization(X.shape[1], X.dtype)
        y_stats = identity_standardization(Y.shape[1], Y.dtype)
    rows = (standardize(X, x_stats, center=center), standardize(Y, y_stats,
                                                                 center=center))
    statistics = statistics_problem(row_moments(X, Y, weights), x_stats, y_stats,
                                    center_x=center, center_y=center)
    return rows, statistics


def _value_and_grad(objective, params, data, weights, hyper):
    with jax.enable_x64(True):
        value, grad = jax.value_and_grad(objective)(params, data, weights, hyper)
    return float(value), jax.tree.map(np.asarray, grad)


@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True),
                                          (False, False)])
def test_statistics_objective_and_gradient_equal_those_of_the_rows(
        intercept, center, scale):
    X, Y, weights = _problem_data()
    rows, (objective, data, placeholder) = _both_problems(X, Y, weights, center,
                                                             scale)
    rng = np.random.default_rng(1)
    params = {"coef": rng.normal(size=(X.shape[1], Y.shape[1]))}
    if intercept:
        params["intercept"] = rng.normal(size=Y.shape[1])
    hyper = {}
    value, grad = _value_and_grad(LinearObjective("squared_error"), params, rows,
                                  weights, hyper)
    stats_value, stats_grad = _value_and_grad(objective, params, data, placeholder,
                                              hyper)
    # Both sides sum n terms of size up to |residual|^2 (value) and
    # |x| |residual| (gradient): rounding of a few eps * sqrt(n) of those
    # sizes, on top of the same quantities.
    residuals = rows[0] @ params["coef"] + params.get("intercept", 0) - rows[1]
    size_value = np.max(np.sum(residuals**2, axis=1))
    size_grad = np.max(np.abs(rows[0])) * np.max(np.abs(residuals)) + 1
    slack = 16 * EPS * np.sqrt(len(X))
    assert abs(stats_value - value) <= slack * size_value
    for name in params:
        np.testing.assert_allclose(stats_grad[name], grad[name], rtol=0,
                                   atol=slack * size_grad)


@pytest.mark.parametrize("solver,intercept", [("gd", True), ("momentum", True),
                                              ("adam", False)])
def test_solver_takes_the_same_steps_on_statistics_as_on_rows(solver, intercept):
    # Adam divides by the gradient's size: a component that is zero in exact
    # arithmetic (the intercept on centred data) would amplify rounding, so
    # it is compared without one.
    X, Y, weights = _problem_data()
    rows, (objective, data, placeholder) = _both_problems(
        X, Y, weights, center=True, scale=True)
    params = {"coef": np.zeros((X.shape[1], Y.shape[1]))}
    if intercept:
        params["intercept"] = np.zeros(Y.shape[1])
    settings = Settings(solver=solver, learning_rate=0.05, max_iter=20,
                        fixed_steps=True, record_history=True)
    hyper = {"l2_strength": 0.01}
    on_rows = minimize(Problem(LinearObjective("squared_error"), params, rows,
                               weights, hyper, penalty=PENALTIES["l2"]), settings)
    on_stats = minimize(Problem(objective, params, data, placeholder, hyper,
                                penalty=PENALTIES["l2"]), settings)
    # Gradients differ by rounding (eps * sqrt(n) relative); each step can
    # grow a difference by at most the condition number of the Hessian.
    gram = data[0]
    kappa = np.linalg.cond(gram)
    rtol = settings.max_iter * kappa * 16 * EPS * np.sqrt(len(X))
    for name in params:
        np.testing.assert_allclose(on_stats.history[name], on_rows.history[name],
                                   rtol=rtol, atol=rtol)
    np.testing.assert_allclose(on_stats.loss_curve, on_rows.loss_curve, rtol=rtol)
    assert on_stats.n_iter == on_rows.n_iter == settings.max_iter


def _rows_only(monkeypatch):
    monkeypatch.setattr(fit_module, "use_statistics", lambda *args: False)


def test_fit_on_statistics_records_the_fit_on_rows(monkeypatch):
    # Without an intercept (see above) every fitted attribute of a default
    # adam fit agrees: the same iterations, the same objective values.
    X, Y, weights = _problem_data()
    y = Y[:, 0]
    settings = dict(fit_intercept=False, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        on_stats = GradLinearRegression(**settings).fit(X, y, sample_weight=weights)
        _rows_only(monkeypatch)
        on_rows = GradLinearRegression(**settings).fit(X, y, sample_weight=weights)
    assert on_stats.n_iter_ == on_rows.n_iter_
    kappa = np.linalg.cond(X.T @ X)
    rtol = settings["max_iter"] * kappa * 16 * EPS * np.sqrt(len(X))
    np.testing.assert_allclose(on_stats.loss_curve_, on_rows.loss_curve_, rtol=rtol)
    np.testing.assert_allclose(on_stats.coef_, on_rows.coef_, rtol=rtol)


def _standardized_tolerance(X, weights, tol=1e-9):
    """Bound on the standardised coefficients' error when |gradient| <= tol."""
    Xs = StandardScaler().fit_transform(X, sample_weight=weights)
    gram = (Xs * weights[:, None]).T @ Xs / weights.sum()
    return np.sqrt(X.shape[1] + 1) * tol / np.linalg.eigvalsh(gram)[0]


def test_default_fit_equals_linear_regression_with_weights_and_targets():
    X, Y, weights = _problem_data(n_samples=5000, n_features=20, n_outputs=3)
    model = GradLinearRegression().fit(X, Y, sample_weight=weights)
    ref = LinearRegression().fit(X, Y, sample_weight=weights)
    # An error e in standardised units is e * std(y) / std(x) in user units.
    bound = _standardized_tolerance(X, weights) + 1e3 * EPS
    scale = Y.std(axis=0)[:, None] / X.std(axis=0)[None, :]
    assert np.all(np.abs(model.coef_ - ref.coef_) <= bound * scale)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-6,
                               atol=1e-6 * Y.std())


@pytest.mark.parametrize("settings", [{"fit_intercept": False},
                                      {"standardize": False, "tol": 1e-12}])
def test_uncentred_statistics_reach_least_squares(settings):
    X, y = DIABETES
    X = X + 2.0
    # Uncentred least squares is worse conditioned: lbfgs may end stalled at
    # the precision's limit, on the rows as on the statistics.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GradLinearRegression(solver="lbfgs", **settings).fit(X, y)
    ref = LinearRegression(fit_intercept=settings.get("fit_intercept", True)).fit(
        X, y)

    def objective(predictions):
        return 0.5 * np.mean((y - predictions) ** 2)

    # The uncentred statistics give the objective as a difference of the
    # terms of w'Gw / 2 - w'c + mean(y^2) / 2, each rounded: the iterates can
    # be located no better than the rounding of their sum of magnitudes (at
    # the minimiser, for an augmented column of ones), about (p + 1) ulps of
    # it. Uncentred, those terms are 3,000 times the objective's value: the
    # coefficients cancel one another.
    A = np.column_stack([X, np.ones(len(y))])
    w = np.append(ref.coef_, ref.intercept_)
    gram, cross = A.T @ A / len(y), A.T @ y / len(y)
    magnitude = 0.5 * (np.abs(w) @ np.abs(gram) @ np.abs(w)
                       + 2 * np.abs(w) @ np.abs(cross) + np.mean(y**2))
    allowed_gap = (A.shape[1] + 1) * EPS * magnitude
    gap = objective(model.predict(X)) - objective(ref.predict(X))
    assert gap <= allowed_gap
    # For least squares the excess objective is half the mean squared
    # difference of the predictions, which bounds each difference.
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=0,
                               atol=np.sqrt(2 * len(y) * allowed_gap))


def test_float32_fit_on_statistics_is_the_exact_fit_of_the_float32_rows():
    # float32 rows are float64 numbers: the float64 statistics give their
    # least-squares solution to the float64 tolerance, however poorly the
    # problem is conditioned (diabetes' standardised Gram: about 500).
    X, y = DIABETES
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    model = GradLinearRegression().fit(X32, y32)
    assert model.coef_.dtype == np.float32
    ref = LinearRegression().fit(X32.astype(np.float64), y32.astype(np.float64))
    weights = np.ones(len(y))
    bound = _standardized_tolerance(X32.astype(np.float64), weights)
    # Plus the rounding of the result to float32.
    scale = y.std() / X.std(axis=0)
    slack = bound * scale + np.finfo(np.float32).eps * np.abs(ref.coef_)
    assert np.all(np.abs(model.coef_ - ref.coef_) <= slack)


@pytest.mark.parametrize("changes,expected", [
    ({}, True),
    ({"loss": "huber"}, False),
    ({"batch_size": 64}, False),
    ({"loss": lambda t, p: (t - p) ** 2}, False),
])
def test_statistics_path_is_taken_for_full_batch_least_squares(changes, expected,
                                                               monkeypatch):
    calls = []
    original = fit_module.statistics_problem

    def spy(*args, **kwargs):
        calls.append(args[0].weight)
        return original(*args, **kwargs)

    monkeypatch.setattr(fit_module, "statistics_problem", spy)
    X, y = DIABETES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GradLinearRegression(max_iter=3, **changes).fit(X, y)
    assert bool(calls) is expected


def test_few_rows_per_feature_stay_on_the_rows():
    assert use_statistics("squared_error", None, 400, 100)
    assert not use_statistics("squared_error", None, 399, 100)
    assert not use_statistics("squared_error", None, 10**6, 4096)
    assert not use_statistics("huber", None, 10**6, 10)


def test_one_pass_gives_the_moments_of_the_standardisation():
    # Far from zero and in several blocks: the centred merge must keep the
    # variances that a sum of squares about zero would lose.
    X, Y, weights = _problem_data(n_samples=70_000, n_features=3, n_outputs=1)
    X = X + 1e6
    rows = row_moments(X, Y, weights)
    for part, A in ((slice(None, 3), X), (slice(3, None), Y)):
        expected = compute_moments(A, weights)
        got = rows.columns(part)
        assert got.weight == pytest.approx(expected.weight, rel=1e-12)
        assert got.count == expected.count
        np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-12)
        # Sums of squares in the user's units (each side keeps its own scale).
        np.testing.assert_allclose(got.m2 * got.scale**2,
                                   expected.m2 * expected.scale**2, rtol=1e-8)
    centred = X - np.average(X, axis=0, weights=weights)
    np.testing.assert_allclose(rows.moment[:3, :3],
                               (centred * weights[:, None]).T @ centred,
                               rtol=1e-8, atol=1e-8 * rows.moment[0, 0])
