"""The linear models are identified as scikit-learn's and exact at the edges.

Multinomial intercepts sum to zero whatever the solver; columns of any
magnitude keep their coefficients; float32 fits are as accurate as float32
allows; wide data are fitted as documented; intercepts keep the input dtype.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression

import gradest.linear_model._logistic as logistic_module
from gradest import GradLinearRegression, GradLogisticRegression
from gradest._moments import compute_moments, merge_moments

DIABETES = load_diabetes(return_X_y=True)
IRIS = load_iris(return_X_y=True)


# --- multinomial identification ---------------------------------------------------


def _multinomial_hessian(coef, intercept, X, penalty):
    """Hessian of the mean multinomial log-loss plus the penalty (closed form)."""
    logits = X @ coef.T + intercept
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    X1 = np.column_stack([X, np.ones(len(X))])
    n_classes, n_columns = len(intercept), X1.shape[1]
    hessian = np.zeros((n_classes * n_columns,) * 2)
    for x, p in zip(X1, proba, strict=True):
        hessian += np.kron(np.diag(p) - np.outer(p, p), np.outer(x, x))
    hessian /= len(X)
    # Parameters ordered class by class, each [coef..., intercept]; the
    # intercepts are not penalised.
    hessian += penalty * np.diag(np.tile(np.r_[np.ones(X.shape[1]), 0.0], n_classes))
    return hessian


IRIS_SOLVERS = [("gd", 1.0), ("momentum", 0.05), ("nesterov", 0.05), ("adam", 0.05),
                ("lbfgs", 0.05)]


@pytest.mark.parametrize(("solver", "learning_rate"), IRIS_SOLVERS)
def test_multinomial_parameters_are_scikit_learns_for_every_solver(
        solver, learning_rate):
    X, y = IRIS
    mean, std = X.mean(axis=0), X.std(axis=0)
    Xs = (X - mean) / std
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12,
                             max_iter=1000).fit(Xs, y)
    model = GradLogisticRegression(solver=solver, learning_rate=learning_rate,
                                   max_iter=20000).fit(X, y)
    assert model.intercept_.sum() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(model.coef_.sum(axis=0), 0.0, atol=1e-12)
    # In standardised units: coef * std, and the intercept at the mean.
    coef = model.coef_ * std
    intercept = model.intercept_ + model.coef_ @ mean
    # The loop stops with every gradient component below tol = 1e-9; away
    # from the optimum by at most |grad| / (smallest curvature), the common
    # intercept shift (zero curvature, removed by the centring) aside.
    curvatures = np.linalg.eigvalsh(
        _multinomial_hessian(ref.coef_, ref.intercept_, Xs, 1.0 / len(X)))
    assert curvatures[0] < 1e-10 * curvatures[-1]
    bound = 2 * np.sqrt(curvatures.size) * 1e-9 / curvatures[1]
    np.testing.assert_allclose(coef, ref.coef_, atol=bound)
    np.testing.assert_allclose(intercept, ref.intercept_, atol=bound)


@pytest.mark.parametrize("solver", ["adam", "rmsprop"])
def test_centring_multinomial_parameters_leaves_predictions_unchanged(
        solver, monkeypatch):
    X, y = IRIS
    with warnings.catch_warnings():
        # Constant-step RMSprop does not reach tol; the identity holds anyway.
        warnings.simplefilter("ignore", ConvergenceWarning)
        centred = GradLogisticRegression(solver=solver, max_iter=2000).fit(X, y)
        monkeypatch.setattr(logistic_module, "_symmetric_multinomial",
                            lambda coef, intercept, **kwargs: (coef, intercept))
        raw = GradLogisticRegression(solver=solver, max_iter=2000).fit(X, y)
    # The fit drifts along the shifts that centring removes.
    assert abs(raw.intercept_.sum()) > 1e-3
    assert centred.intercept_.sum() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(centred.predict_proba(X), raw.predict_proba(X),
                               rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(centred.predict(X), raw.predict(X))


def test_unpenalized_multinomial_coefficients_sum_to_zero():
    X, y = IRIS
    with warnings.catch_warnings():
        # Without a penalty the iris classes are nearly separable and the
        # optimum lies far out; only the identification matters here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GradLogisticRegression(C=np.inf, max_iter=300).fit(X, y)
    np.testing.assert_allclose(model.coef_.sum(axis=0), 0.0, atol=1e-9)
    assert model.intercept_.sum() == pytest.approx(0.0, abs=1e-9)


# --- columns of any magnitude ----------------------------------------------------


@pytest.mark.parametrize("factor", [1e300, 1e-300])
def test_column_of_extreme_magnitude_keeps_its_coefficient(factor):
    X, y = DIABETES
    plain = GradLinearRegression(solver="lbfgs").fit(X, y)
    scaled_X = X.copy()
    scaled_X[:, 2] *= factor
    scaled = GradLinearRegression(solver="lbfgs").fit(scaled_X, y)
    # Scaling a column by a constant changes the standardised problem only
    # by rounding, so both fits stop at the same point up to the tolerance.
    assert scaled.coef_[2] * factor == pytest.approx(plain.coef_[2], rel=1e-6)
    others = np.arange(X.shape[1]) != 2
    np.testing.assert_allclose(scaled.coef_[others], plain.coef_[others], rtol=1e-6)
    assert scaled.intercept_ == pytest.approx(plain.intercept_, rel=1e-9)
    np.testing.assert_allclose(scaled.predict(scaled_X), plain.predict(X),
                               rtol=1e-9)


def test_moments_of_huge_and_tiny_columns_are_finite_and_exact():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 2)) + 3.0
    weights = rng.uniform(0.5, 2.0, size=200)
    for factor in [1e300, 1e-300]:
        moments = compute_moments(base * factor, weights)
        reference = compute_moments(base, weights)
        # The variance in the column's own units, where it is representable.
        variance = moments.m2 / moments.weight * (moments.scale / factor) ** 2
        np.testing.assert_allclose(
            variance, reference.m2 / reference.weight * reference.scale**2,
            rtol=1e-12)
        np.testing.assert_allclose(moments.mean / factor, reference.mean,
                                   rtol=1e-12)


def test_streamed_moments_across_magnitudes_equal_those_of_all_rows():
    # Blocks whose largest values differ by 600 orders of magnitude: the
    # merge brings both to one power-of-two scale without rounding.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    X[:30, 0] *= 1e-300
    X[30:, 0] *= 1e300
    weights = np.ones(60)
    merged = merge_moments(compute_moments(X[:30], weights[:30]),
                           compute_moments(X[30:], weights[30:]))
    whole = compute_moments(X, weights)
    np.testing.assert_array_equal(merged.scale, whole.scale)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-12)
    assert np.all(np.isfinite(merged.m2)) and np.all(merged.m2 > 0)


def test_float32_moments_are_accumulated_in_float64():
    rng = np.random.default_rng(2)
    X = (1e4 + rng.normal(size=(200_000, 2))).astype(np.float32)
    moments = compute_moments(X, np.ones(len(X), np.float32))
    exact = X.astype(np.float64)
    # The float64 statistics of the float32 values, not float32 sums of them
    # (which are off by about float32's eps times a growth factor in n).
    np.testing.assert_allclose(moments.mean, exact.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(moments.m2 / moments.weight * moments.scale**2,
                               exact.var(axis=0), rtol=1e-10)


# --- float32 ------------------------------------------------------------------------


def test_default_float32_fit_is_as_accurate_as_float32_allows():
    X, y = DIABETES
    reference = LinearRegression().fit(X, y)
    model = GradLinearRegression().fit(X.astype(np.float32), y.astype(np.float32))
    assert model.coef_.dtype == np.float32
    # What is measured: the worst coefficient error relative to the largest
    # coefficient, against the float64 least-squares solution.
    error = (np.max(np.abs(model.coef_ - reference.coef_))
             / np.max(np.abs(reference.coef_)))
    # What float32 allows, to first order, in standardised units (the
    # columns of diabetes share one scale, so the ratio is the same there):
    # the loop stops with every gradient component below one float32 eps
    # (plus rounding noise measured below a quarter of that), and storing
    # the standardised X and y in float32 (relative error u = eps / 2)
    # moves the gradient at the optimum by at most u |X|^T (|r| + |X| |w| +
    # |y|) / n. The inverse Hessian (the correlation matrix here; condition
    # number ~470) turns both into coefficient errors.
    eps = float(np.finfo(np.float32).eps)
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    ys = (y - y.mean()) / y.std()
    hessian = Xs.T @ Xs / len(X)
    w = np.linalg.solve(hessian, Xs.T @ ys / len(X))
    residual = Xs @ w - ys
    data_shift = np.abs(Xs).T @ (np.abs(residual) + np.abs(Xs) @ np.abs(w)
                                 + np.abs(ys)) / len(X)
    inverse_norm = np.abs(np.linalg.inv(hessian)).sum(axis=1).max()
    bound = inverse_norm * (1.25 * eps + 0.5 * eps * data_shift.max())
    assert error <= bound / np.max(np.abs(w))
    # The goal (scikit-learn's own float32 fit is 9e-7 off; before the
    # tolerance floor followed the measured rounding noise, 1.3e-3).
    assert error <= 1e-4


# --- the intercept's type ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_scalar_intercept_has_the_type_of_linear_regressions(dtype, fit_intercept):
    X, y = DIABETES
    X, y = X[:100].astype(dtype), y[:100].astype(dtype)
    reference = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    model = GradLinearRegression(solver="lbfgs", fit_intercept=fit_intercept).fit(X, y)
    assert type(model.intercept_) is type(reference.intercept_)
    assert np.ndim(model.intercept_) == 0
    assert model.predict(X).dtype == dtype


# --- wide data ---------------------------------------------------------------------


def _wide_problem(column_scales, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 60))
    X = (X - X.mean(axis=0)) / X.std(axis=0) * column_scales + 5.0
    y = X[:, :4] @ np.array([2.0, -1.0, 0.5, 3.0]) + rng.normal(size=30)
    return X, y


def _standardised_min_norm(X, y):
    """Minimum-norm least squares in standardised units, mapped to X's units."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    Xs = (X - mean) / std
    # Centred, Xs has one singular value at rounding level: cut it off.
    coef = np.linalg.lstsq(Xs, (y - y.mean()) / y.std(), rcond=1e-10)[0]
    coef *= y.std() / std
    return coef, y.mean() - mean @ coef, Xs


def _row_space_bound(Xs):
    """How far from the exact solution a gradient of at most 1e-9 can leave lbfgs."""
    eigenvalues = np.linalg.eigvalsh(Xs @ Xs.T / len(Xs))
    smallest = eigenvalues[eigenvalues > 1e-10 * eigenvalues[-1]].min()
    return 2 * np.sqrt(Xs.shape[1]) * 1e-9 / smallest


@pytest.mark.parametrize("scales", ["equal", "mixed"])
def test_wide_lbfgs_fit_is_the_minimum_norm_in_standardised_units(scales):
    column_scales = 3.0 if scales == "equal" else np.geomspace(0.1, 10, 60)
    X, y = _wide_problem(column_scales)
    with pytest.warns(UserWarning, match="minimum norm in the units of X"):
        model = GradLinearRegression(solver="lbfgs").fit(X, y)
    coef, intercept, Xs = _standardised_min_norm(X, y)
    to_standardised = X.std(axis=0) / y.std()
    bound = _row_space_bound(Xs)
    np.testing.assert_array_less(np.abs(model.coef_ - coef) * to_standardised,
                                 bound)
    assert model.intercept_ == pytest.approx(intercept, abs=bound * y.std())
    reference = LinearRegression().fit(X, y)
    X_new = _wide_problem(column_scales, seed=1)[0]
    if scales == "equal":
        # One standard deviation for every column: the same minimum norm.
        np.testing.assert_array_less(
            np.abs(model.coef_ - reference.coef_) * to_standardised, bound)
    else:
        # As documented: the same training fit, other predictions on new data.
        np.testing.assert_allclose(model.predict(X), reference.predict(X),
                                   rtol=1e-6)
        assert np.max(np.abs(model.predict(X_new) - reference.predict(X_new))) > 1


def test_wide_adam_fit_interpolates_but_is_not_the_minimum_norm():
    X, y = _wide_problem(3.0)
    with pytest.warns(UserWarning, match="solver='adam' returns one of them"):
        model = GradLinearRegression(solver="adam").fit(X, y)
    coef, _, _ = _standardised_min_norm(X, y)
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-6)
    assert np.linalg.norm(model.coef_) > 1.01 * np.linalg.norm(coef)


@pytest.mark.parametrize("change", ["alpha", "rows", "constant columns"])
def test_determined_fits_do_not_warn(change):
    X, y = _wide_problem(3.0)
    params = {"solver": "lbfgs"}
    if change == "alpha":
        params["alpha"] = 1.0
    elif change == "rows":
        X, y = X[:, :20], y
    else:
        # 29 varying columns, 30 rows and an intercept: determined.
        X = np.column_stack([X[:, :29], np.ones((30, 31))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        GradLinearRegression(**params).fit(X, y)
