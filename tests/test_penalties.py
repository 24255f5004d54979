"""L1 and elastic-net penalties: the registry, proximal steps, and the minimisers
against scikit-learn's Lasso, ElasticNet and LogisticRegression."""

import warnings

import jax
import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize
from scipy.special import expit, logsumexp
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression
from sklearn.preprocessing import StandardScaler

from gradest import GradLinearRegression, GradLogisticRegression
from gradest._penalties import PENALTIES
from gradest.linear_model import _fit as fit_module

DIABETES = load_diabetes(return_X_y=True)
CANCER = load_breast_cancer(return_X_y=True)
WINE = load_wine(return_X_y=True)
TOL = 1e-9  # the estimators' default


def _smallest_curvature(Xs, support):
    """Smallest eigenvalue of the mean Gram matrix of standardised X on a support.

    The objective is that strongly convex on the support of a Lasso
    minimiser, so a point whose subdifferential residual is at most `tol`
    lies within ``tol / curvature`` of the minimiser there.
    """
    gram = Xs.T @ Xs / len(Xs)
    return np.linalg.eigvalsh(gram[np.ix_(support, support)])[0]


# --- the registry ------------------------------------------------------------

@pytest.mark.parametrize("name", ["l2", "l1", "elasticnet", None])
def test_prox_satisfies_its_optimality_condition(name):
    # v = prox(w, step) minimises g(v) + |v - w|^2 / (2 step), so that
    # (w - v) / step is a subgradient of g at v: the residual of the
    # objective whose smooth part has gradient (v - w) / step is zero.
    spec = PENALTIES[name]
    hyper = {"l1_strength": 0.3, "l2_strength": 0.7}
    w = np.array([-2.0, -0.25, 0.0, 0.1, 0.29, 1.5])
    step = 0.5
    with jax.enable_x64(True):
        v = np.asarray(spec.prox(w, step, hyper))
        residual = np.asarray(spec.residual(v, (v - w) / step, hyper))
    np.testing.assert_allclose(residual, 0, atol=1e-15)
    if not spec.smooth:
        # Soft thresholding zeroes every |w| <= step * l1 exactly.
        assert np.all(v[np.abs(w) <= step * hyper["l1_strength"]] == 0)


def test_l1_residual_vanishes_at_a_lasso_optimum_where_the_gradient_does_not():
    X, y = DIABETES
    Xs = StandardScaler().fit_transform(X)
    target = (y - y.mean()) / y.std()
    alpha = 0.5 / y.std()
    lasso = Lasso(alpha=alpha, tol=1e-14, max_iter=10**6).fit(Xs, target)
    w = lasso.coef_
    grad = Xs.T @ (Xs @ w - target) / len(Xs)
    with jax.enable_x64(True):
        residual = np.asarray(PENALTIES["l1"].residual(
            w, grad, {"l1_strength": alpha}))
    assert np.max(np.abs(grad)) > 0.5 * alpha
    assert np.max(np.abs(residual)) < 1e-10


# --- regression: Lasso and ElasticNet ------------------------------------------

def _lasso_reference(estimator_class, X, y, sample_weight=None, **params):
    scaler = StandardScaler().fit(X, sample_weight=sample_weight)
    Xs = scaler.transform(X)
    ref = estimator_class(tol=1e-14, max_iter=10**6, **params).fit(
        Xs, y, sample_weight=sample_weight)
    return Xs, scaler, ref


# gd: below 2 / (largest eigenvalue of the standardised Gram matrix, 4.4).
@pytest.mark.parametrize(("solver", "learning_rate"),
                         [("auto", 0.05), ("gd", 0.3), ("momentum", 0.05),
                          ("adam", 0.05)])
@pytest.mark.parametrize("alpha", [0.1, 0.5, 2.0])
def test_l1_equals_lasso_on_standardized_diabetes(solver, learning_rate, alpha):
    X, y = DIABETES
    Xs, scaler, ref = _lasso_reference(Lasso, X, y, alpha=alpha)
    model = GradLinearRegression(penalty="l1", alpha=alpha, solver=solver,
                                 learning_rate=learning_rate,
                                 max_iter=100000).fit(X, y)
    support = ref.coef_ != 0
    assert 0 < support.sum() < X.shape[1]
    # Exact zeros, where Lasso has them.
    np.testing.assert_array_equal(model.coef_ != 0, support)
    bound = 4 * TOL * y.std() / _smallest_curvature(Xs, support)
    assert bound <= 1e-6 * np.max(np.abs(ref.coef_))
    np.testing.assert_allclose(model.coef_ * scaler.scale_, ref.coef_, rtol=0,
                               atol=bound)
    intercept = ref.intercept_ - np.sum(ref.coef_ * scaler.mean_ / scaler.scale_)
    np.testing.assert_allclose(
        model.intercept_, intercept, rtol=0,
        atol=bound * np.sum(np.abs(scaler.mean_ / scaler.scale_)))


def test_l1_on_rows_equals_l1_on_statistics(monkeypatch):
    X, y = DIABETES
    on_statistics = GradLinearRegression(penalty="l1", alpha=0.5).fit(X, y)
    monkeypatch.setattr(fit_module, "use_statistics", lambda *args: False)
    on_rows = GradLinearRegression(penalty="l1", alpha=0.5).fit(X, y)
    np.testing.assert_array_equal(on_rows.coef_ != 0, on_statistics.coef_ != 0)
    Xs, _, ref = _lasso_reference(Lasso, X, y, alpha=0.5)
    bound = 4 * TOL * y.std() / _smallest_curvature(Xs, ref.coef_ != 0)
    np.testing.assert_allclose(on_rows.coef_ * X.std(axis=0),
                               on_statistics.coef_ * X.std(axis=0), rtol=0,
                               atol=2 * bound)


@pytest.mark.parametrize("l1_ratio", [0.2, 0.7])
def test_elasticnet_equals_elasticnet_with_sample_weights(l1_ratio):
    X, y = DIABETES
    weights = np.random.default_rng(0).integers(0, 4, len(y)).astype(float)
    Xs, scaler, ref = _lasso_reference(ElasticNet, X, y, sample_weight=weights,
                                       alpha=0.1, l1_ratio=l1_ratio)
    model = GradLinearRegression(penalty="elasticnet", alpha=0.1,
                                 l1_ratio=l1_ratio).fit(X, y, sample_weight=weights)
    support = ref.coef_ != 0
    np.testing.assert_array_equal(model.coef_ != 0, support)
    # The L2 term adds alpha * (1 - l1_ratio) to the curvature.
    positive = weights > 0
    curvature = (_smallest_curvature(Xs[positive] * np.sqrt(
        weights[positive] / weights[positive].mean())[:, None], support)
        + 0.1 * (1 - l1_ratio))
    bound = 4 * TOL * y.std() / curvature
    assert bound <= 1e-6 * np.max(np.abs(ref.coef_))
    np.testing.assert_allclose(model.coef_ * scaler.scale_, ref.coef_, rtol=0,
                               atol=bound)


def test_l1_with_several_targets_is_a_lasso_per_target():
    # Each target has its own spread: alpha is in its units, as for Lasso.
    X, y = DIABETES
    Y = np.column_stack([y, 0.01 * y[::-1] + X[:, 0]])
    _, scaler, ref = _lasso_reference(Lasso, X, Y, alpha=0.005)
    model = GradLinearRegression(penalty="l1", alpha=0.005).fit(X, Y)
    np.testing.assert_array_equal(model.coef_ != 0, ref.coef_ != 0)
    np.testing.assert_allclose(model.coef_ * scaler.scale_, ref.coef_,
                               rtol=1e-6, atol=1e-6 * np.abs(ref.coef_).max())


@pytest.mark.parametrize(("learning_rate", "batch_size"),
                         [(0.1, None), (0.5, None), (0.3, 442)])
def test_gd_with_l1_takes_ista_steps(learning_rate, batch_size):
    # gd followed by soft thresholding of step learning_rate is ISTA; a
    # plain NumPy loop on the standardised data is the reference. One
    # mini-batch of all the rows takes the same steps, on the rows rather
    # than on their statistics.
    X, y = DIABETES
    alpha, n_steps = 0.5, 25
    Xs = StandardScaler().fit_transform(X)
    target = (y - y.mean()) / y.std()
    threshold = learning_rate * alpha / y.std()
    w = np.zeros(X.shape[1])
    for _ in range(n_steps):
        w = w - learning_rate * Xs.T @ (Xs @ w - target) / len(y)
        w = np.sign(w) * np.maximum(np.abs(w) - threshold, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GradLinearRegression(penalty="l1", alpha=alpha, solver="gd",
                                     learning_rate=learning_rate,
                                     batch_size=batch_size,
                                     max_iter=n_steps).fit(X, y)
    assert model.n_iter_ == n_steps
    np.testing.assert_array_equal(model.coef_ != 0, w != 0)
    np.testing.assert_allclose(model.coef_, w * y.std() / X.std(axis=0),
                               rtol=1e-10, atol=1e-10 * np.abs(w).max())


def test_partial_fit_with_l1_streams_the_lasso_exactly():
    X, y = DIABETES
    streamed = GradLinearRegression(penalty="l1", alpha=0.5)
    for rows in np.array_split(np.arange(len(y)), 5):
        streamed.partial_fit(X[rows], y[rows])
    fitted = GradLinearRegression(penalty="l1", alpha=0.5).fit(X, y)
    np.testing.assert_array_equal(streamed.coef_ != 0, fitted.coef_ != 0)
    np.testing.assert_allclose(streamed.coef_, fitted.coef_, rtol=1e-6,
                               atol=1e-6 * np.abs(fitted.coef_).max())


def test_huber_with_l1_is_equivariant_in_the_units_of_y():
    # The Huber loss with its scale grows as |y|, and so does alpha * |w|_1
    # with w in the units of y: scaling y scales the minimiser.
    X, y = DIABETES
    small = GradLinearRegression(loss="huber", penalty="l1", alpha=0.2).fit(X, y)
    large = GradLinearRegression(loss="huber", penalty="l1", alpha=0.2).fit(X, 1e3 * y)
    assert 0 < np.count_nonzero(small.coef_) < X.shape[1]
    np.testing.assert_array_equal(large.coef_ != 0, small.coef_ != 0)
    np.testing.assert_allclose(large.coef_, 1e3 * small.coef_, rtol=1e-5,
                               atol=1e-5 * np.abs(1e3 * small.coef_).max())


def test_lbfgs_refuses_a_nonsmooth_penalty_and_leaves_the_model():
    X, y = DIABETES
    model = GradLinearRegression(solver="lbfgs").fit(X, y)
    coef = model.coef_.copy()
    with pytest.raises(ValueError, match="solver='lbfgs' needs a differentiable"):
        model.set_params(penalty="l1", alpha=0.5).fit(X, y)
    np.testing.assert_array_equal(model.coef_, coef)


def test_no_penalty_ignores_alpha():
    X, y = DIABETES
    free = GradLinearRegression(penalty=None, alpha=10.0, solver="lbfgs").fit(X, y)
    plain = GradLinearRegression(alpha=0.0, solver="lbfgs").fit(X, y)
    np.testing.assert_allclose(free.coef_, plain.coef_, rtol=1e-6)


# --- classification ----------------------------------------------------------

def _logistic_objective(Xs, y, C, l1_ratio, coef, intercept):
    """LogisticRegression's objective with an unpenalised intercept."""
    z = Xs @ coef + intercept
    loss = np.sum(np.logaddexp(0, z) - y * z)
    return C * loss + l1_ratio * np.abs(coef).sum() + 0.5 * (1 - l1_ratio) * coef @ coef


def _standardized_binary(model, scaler):
    coef = model.coef_[0] * scaler.scale_
    return coef, model.intercept_[0] + model.coef_[0] @ scaler.mean_


@pytest.mark.parametrize("C", [0.05, 1.0])
def test_l1_reaches_liblinear_objective_on_breast_cancer(C):
    X, y = CANCER
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    # liblinear penalises the intercept as a coefficient of a constant
    # feature `intercept_scaling`; at 1e4 that penalty is |b| / 1e4.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegression(l1_ratio=1.0, C=C, solver="liblinear", tol=1e-12,
                                 intercept_scaling=1e4, max_iter=10**5).fit(Xs, y)
    model = GradLogisticRegression(penalty="l1", C=C).fit(X, y)
    np.testing.assert_array_equal(model.coef_ != 0, ref.coef_ != 0)
    ours = _logistic_objective(Xs, y, C, 1.0, *_standardized_binary(model, scaler))
    theirs = _logistic_objective(Xs, y, C, 1.0, ref.coef_[0], ref.intercept_[0])
    assert abs(ours - theirs) <= 1e-6 * theirs
    # liblinear stops at its own tolerance: gradest is not above it.
    assert ours <= theirs * (1 + 1e-12)


def _split_lbfgsb_reference(Xs, y, C, l1_ratio):
    """The elastic-net logistic minimiser by L-BFGS-B on w = u - v, u, v >= 0.

    A smooth bound-constrained problem whose minimiser is that of the
    nonsmooth one: an independent route to it.
    """
    p = Xs.shape[1]

    def fun(theta):
        u, v, b = theta[:p], theta[p:2 * p], theta[-1]
        w = u - v
        z = Xs @ w + b
        residual = expit(z) - y
        value = (C * np.sum(np.logaddexp(0, z) - y * z)
                 + l1_ratio * np.sum(u + v) + 0.5 * (1 - l1_ratio) * w @ w)
        grad_w = C * Xs.T @ residual + (1 - l1_ratio) * w
        return value, np.concatenate([grad_w + l1_ratio, -grad_w + l1_ratio,
                                      [C * residual.sum()]])

    bounds = [(0, None)] * (2 * p) + [(None, None)]
    result = scipy_minimize(fun, np.zeros(2 * p + 1), jac=True, method="L-BFGS-B",
                            bounds=bounds,
                            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10**5})
    theta = result.x
    return theta[:p] - theta[p:2 * p], theta[-1]


def test_elasticnet_logistic_reaches_the_split_variable_optimum():
    X, y = CANCER
    C, l1_ratio = 0.1, 0.6
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    ref_coef, ref_intercept = _split_lbfgsb_reference(Xs, y, C, l1_ratio)
    model = GradLogisticRegression(penalty="elasticnet", C=C,
                                   l1_ratio=l1_ratio).fit(X, y)
    coef, intercept = _standardized_binary(model, scaler)
    ours = _logistic_objective(Xs, y, C, l1_ratio, coef, intercept)
    theirs = _logistic_objective(Xs, y, C, l1_ratio, ref_coef, ref_intercept)
    assert abs(ours - theirs) <= 1e-6 * theirs
    # L-BFGS-B leaves bound variables at their bounds: its support is exact
    # up to coefficients below its tolerance.
    np.testing.assert_array_equal(coef != 0, np.abs(ref_coef) > 1e-8)


def test_l1_below_the_smallest_c_gives_the_null_model():
    # At w = 0 with the best intercept, the loss gradient is X's'(p - y);
    # below C = 1 / max|X's'(p - y)| no coefficient can leave 0.
    X, y = CANCER
    Xs = StandardScaler().fit_transform(X)
    c_min = 1 / np.max(np.abs(Xs.T @ (y.mean() - y)))
    null = GradLogisticRegression(penalty="l1", C=0.99 * c_min).fit(X, y)
    assert np.all(null.coef_ == 0)
    np.testing.assert_allclose(null.intercept_, np.log(y.mean() / (1 - y.mean())),
                               rtol=1e-8)
    assert np.count_nonzero(
        GradLogisticRegression(penalty="l1", C=1.05 * c_min).fit(X, y).coef_) == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multinomial_l1_matches_saga_on_wine(dtype):
    X, y = WINE
    C = 0.05
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegression(l1_ratio=1.0, C=C, solver="saga", tol=1e-12,
                                 max_iter=10**5).fit(Xs, y)
    model = GradLogisticRegression(penalty="l1", C=C).fit(X.astype(dtype), y)
    assert model.coef_.dtype == dtype and model.intercept_.dtype == dtype
    Y = np.eye(3)[y]

    def objective(coef, intercept):
        Z = Xs @ coef.T + intercept
        return C * np.sum(logsumexp(Z, axis=1) - np.sum(Z * Y, axis=1)) + np.abs(
            coef).sum()

    ours = objective(model.coef_.astype(float) * scaler.scale_,
                     model.intercept_ + model.coef_.astype(float) @ scaler.mean_)
    theirs = objective(ref.coef_, ref.intercept_)
    np.testing.assert_array_equal(model.coef_ != 0, ref.coef_ != 0)
    # float32: the objective in float32 rounding, a few eps of its size.
    rtol = 1e-6 if dtype == np.float64 else 64 * np.finfo(np.float32).eps
    assert abs(ours - theirs) <= rtol * theirs


def test_logistic_partial_fit_with_l1_takes_proximal_steps_to_the_fit():
    # One chunk of all the rows, again and again: proximal gradient steps
    # on the whole objective (ISTA), which end at fit's minimiser.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.logistic(size=300) > 0).astype(int)
    C = 0.02
    fitted = GradLogisticRegression(penalty="l1", C=C).fit(X, y)
    assert 0 < np.count_nonzero(fitted.coef_) < X.shape[1]
    streamed = GradLogisticRegression(penalty="l1", C=C, solver="gd",
                                      learning_rate=2.0, stream_size=len(y))
    for _ in range(300):
        streamed.partial_fit(X, y, classes=[0, 1])
    np.testing.assert_array_equal(streamed.coef_ != 0, fitted.coef_ != 0)
    np.testing.assert_allclose(streamed.coef_, fitted.coef_, rtol=1e-6,
                               atol=1e-6 * np.abs(fitted.coef_).max())


def test_l1_logistic_integer_weights_equal_repeated_rows():
    X, y = CANCER
    weights = np.random.default_rng(1).integers(0, 3, len(y))
    weighted = GradLogisticRegression(penalty="l1", C=0.1).fit(
        X, y, sample_weight=weights.astype(float))
    repeated = GradLogisticRegression(penalty="l1", C=0.1).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights))
    np.testing.assert_array_equal(weighted.coef_ != 0, repeated.coef_ != 0)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6,
                               atol=1e-6 * np.abs(repeated.coef_).max())


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_float32_regression_with_l1_stays_float32(penalty):
    X, y = DIABETES
    double = GradLinearRegression(penalty=penalty, alpha=0.5).fit(X, y)
    single = GradLinearRegression(penalty=penalty, alpha=0.5).fit(
        X.astype(np.float32), y.astype(np.float32))
    assert single.coef_.dtype == np.float32
    assert isinstance(single.intercept_, np.float32)
    np.testing.assert_array_equal(single.coef_ != 0, double.coef_ != 0)
    # The statistics are float64 either way; the float32 data are the
    # float64 data rounded (6e-8 relative), an error the inverse curvature on
    # the support (1 / 0.057) amplifies: 1e-5 leaves a margin of 10.
    np.testing.assert_allclose(single.coef_, double.coef_, rtol=0,
                               atol=1e-5 * np.abs(double.coef_).max())
