"""GradLinearRegression and GradLogisticRegression against independent references."""

import pickle
import subprocess
import sys
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    QuantileRegressor,
    Ridge,
)
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from gradest import GradLinearRegression, GradLogisticRegression

DIABETES = load_diabetes(return_X_y=True)
CANCER = load_breast_cancer(return_X_y=True)
IRIS = load_iris(return_X_y=True)

# Seed 003: eleven points (Anscombe's first quartet), least squares 0.50009, 3.00009.
ELEVEN_X = np.array([10.0, 8.0, 13.0, 9.0, 11.0, 14.0, 6.0, 4.0, 12.0, 7.0, 5.0])
ELEVEN_Y = np.array([8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68])
# Seed 004: four samples, logistic regression without intercept.
FOUR_X = np.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15],
                   [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
FOUR_Y = np.array([True, True, False, True])


def standardized_logistic_reference(X, y, C=1.0, sample_weight=None):
    """scikit-learn's LogisticRegression on standardised X, mapped back to X's units."""
    scaler = StandardScaler().fit(X, sample_weight=sample_weight)
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=100_000).fit(
        scaler.transform(X), y, sample_weight=sample_weight)
    coef = ref.coef_ / scaler.scale_
    intercept = ref.intercept_ - coef @ scaler.mean_
    return coef, intercept


def fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


# --- accuracy with defaults -------------------------------------------------


def test_defaults_match_linear_regression_on_diabetes():
    X, y = DIABETES
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = GradLinearRegression().fit(X, y)
    ref = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-4)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-4)
    assert len(model.loss_curve_) == model.n_iter_


def test_defaults_reach_logistic_optimum_on_breast_cancer():
    X, y = CANCER
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = GradLogisticRegression().fit(X, y)
    Xs = StandardScaler().fit_transform(X)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(Xs, y)
    assert abs(log_loss(y, model.predict_proba(X))
               - log_loss(y, ref.predict_proba(Xs))) < 1e-3


@pytest.mark.parametrize("solver", ["gd", "momentum", "nesterov", "rmsprop", "adam"])
def test_learning_rate_matters_to_first_order_solvers(solver):
    X, y = DIABETES
    slow = fit_quietly(GradLinearRegression(solver=solver, learning_rate=1e-4,
                                            max_iter=50), X, y)
    fast = fit_quietly(GradLinearRegression(solver=solver, learning_rate=1e-1,
                                            max_iter=50), X, y)
    assert not np.allclose(slow.coef_, fast.coef_, rtol=1e-2)


def test_the_default_full_batch_solver_ignores_learning_rate():
    # "auto" is L-BFGS on full batches of a built-in loss, as documented:
    # it sets its own steps, so every learning rate gives the same fit.
    X, y = CANCER
    slow = GradLogisticRegression(learning_rate=1e-4).fit(X, y)
    fast = GradLogisticRegression(learning_rate=1e-1).fit(X, y)
    np.testing.assert_array_equal(slow.coef_, fast.coef_)


# --- lbfgs: closed-form and lbfgs references, extreme feature scales ----------


@pytest.mark.parametrize("scale", [1.0, 1e8, 1e-8])
def test_lbfgs_matches_least_squares_at_any_feature_scale(scale):
    X, y = DIABETES
    X = X * scale + 3.0 * scale
    model = GradLinearRegression(solver="lbfgs").fit(X, y)
    ref = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 1e8, 1e-8])
def test_lbfgs_matches_logistic_regression_at_any_feature_scale(scale):
    X, y = CANCER
    X = X * scale
    model = GradLogisticRegression(solver="lbfgs").fit(X, y)
    coef, intercept = standardized_logistic_reference(X, y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-4)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-4)


def test_lbfgs_multinomial_matches_logistic_regression():
    X, y = IRIS
    model = GradLogisticRegression(solver="lbfgs", C=10.0).fit(X, y)
    coef, intercept = standardized_logistic_reference(X, y, C=10.0)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_unpenalized_logistic_matches_reference():
    X, y = IRIS[0][:100, :2], IRIS[1][:100] == 0
    X = X + np.random.default_rng(0).normal(scale=0.5, size=X.shape)
    model = GradLogisticRegression(solver="lbfgs", C=np.inf).fit(X, y)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-4)


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_alpha_equals_ridge_on_standardized_data(alpha):
    X, y = DIABETES
    weights = np.random.default_rng(0).integers(1, 4, size=len(y)).astype(float)
    model = GradLinearRegression(solver="lbfgs", alpha=alpha).fit(
        X, y, sample_weight=weights)
    scaler = StandardScaler().fit(X, sample_weight=weights)
    ridge = Ridge(alpha=alpha).fit(scaler.transform(X), y, sample_weight=weights)
    np.testing.assert_allclose(model.coef_, ridge.coef_ / scaler.scale_, rtol=1e-6)
    np.testing.assert_allclose(
        model.predict(X), ridge.predict(scaler.transform(X)), rtol=1e-8)


def test_no_intercept_matches_least_squares_through_origin():
    X, y = DIABETES
    model = GradLinearRegression(solver="lbfgs", fit_intercept=False).fit(X, y)
    ref = LinearRegression(fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-6)
    assert model.intercept_ == 0.0


def test_unstandardized_fit_reaches_same_solution():
    X, y = DIABETES
    model = GradLinearRegression(solver="lbfgs", standardize=False, tol=1e-12).fit(
        X, y)
    np.testing.assert_allclose(model.coef_, LinearRegression().fit(X, y).coef_,
                               rtol=1e-5)


def test_multi_output_regression():
    X, y = DIABETES
    Y = np.column_stack([y, -2 * y + 7, X[:, 0]])
    model = GradLinearRegression(solver="lbfgs").fit(X, Y)
    ref = LinearRegression().fit(X, Y)
    assert model.coef_.shape == (3, X.shape[1])
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-6,
                               atol=1e-8)


def test_constant_column_gets_zero_coefficient_and_no_nan():
    X, y = DIABETES
    X = np.column_stack([X, np.full(len(y), 5.1), np.zeros(len(y))])
    model = GradLinearRegression(solver="lbfgs").fit(X, y)
    assert np.all(np.isfinite(model.coef_))
    np.testing.assert_array_equal(model.coef_[-2:], 0.0)
    ref = LinearRegression().fit(X[:, :-2], y)
    np.testing.assert_allclose(model.coef_[:-2], ref.coef_, rtol=1e-6)


# --- the seeds' examples -----------------------------------------------------


def test_eleven_points_of_seed_003():
    model = GradLinearRegression().fit(ELEVEN_X[:, None], ELEVEN_Y)
    assert round(model.coef_[0], 5) == 0.50009
    assert round(model.intercept_, 5) == 3.00009


def test_celsius_intercept_is_least_squares_not_the_seeds_formula():
    rng = np.random.default_rng(1)
    celsius = np.arange(-5, 15, 0.05)
    fahrenheit = celsius * 9 / 5 + 32 + rng.normal(0, 3, celsius.size)
    model = GradLinearRegression().fit(celsius[:, None], fahrenheit)
    slope, intercept = np.polyfit(celsius, fahrenheit, 1)
    assert model.coef_[0] == pytest.approx(slope, rel=1e-6)
    assert model.intercept_ == pytest.approx(intercept, rel=1e-6)
    # The seed's formula drops the standardised slope from the last term.
    x_mean, y_mean = celsius.mean(), fahrenheit.mean()
    x_std, y_std = celsius.std(), fahrenheit.std()
    seed_intercept = y_mean + 0.0 * y_std - x_mean * y_std / x_std
    assert abs(seed_intercept - intercept) > 0.1


def test_four_samples_of_seed_004_reproduce_published_losses():
    # The seed minimises the summed log-loss without intercept by gradient
    # descent with step 0.01 for 100 steps from zero: 2.77258872224 -> 1.06727067579.
    # Our objective is the mean over the 4 samples, so the step is 4 * 0.01.
    model = GradLogisticRegression(
        C=np.inf, fit_intercept=False, standardize=False, solver="gd",
        learning_rate=0.04, max_iter=100)
    with pytest.warns(ConvergenceWarning):
        model.fit(FOUR_X, FOUR_Y)
    assert model.n_iter_ == 100
    # loss_curve_ holds the objective before each step; the first is the
    # seed's initial loss, and the seed's trained loss is that of the result.
    assert 4 * model.loss_curve_[0] == pytest.approx(2.77258872224, rel=1e-11)
    trained = 4 * log_loss(FOUR_Y, model.predict_proba(FOUR_X))
    assert trained == pytest.approx(1.06727067579, rel=1e-11)
    assert model.predict(FOUR_X).tolist() == FOUR_Y.tolist()


# --- sample weights, invariances and dtypes ----------------------------------


@pytest.mark.parametrize("Estimator,data", [
    (GradLinearRegression, DIABETES), (GradLogisticRegression, IRIS)])
def test_integer_sample_weight_equals_repeating_rows(Estimator, data):
    X, y = data
    weights = np.random.default_rng(0).integers(0, 4, size=len(y))
    weighted = Estimator(solver="lbfgs").fit(X, y, sample_weight=weights)
    repeated = Estimator(solver="lbfgs").fit(np.repeat(X, weights, axis=0),
                                             np.repeat(y, weights))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_,
                               rtol=1e-6, atol=1e-9)


def test_class_weight_balanced_equals_sample_weight():
    X, y = IRIS[0][:120], IRIS[1][:120]
    balanced = GradLogisticRegression(class_weight="balanced").fit(X, y)
    weights = compute_sample_weight("balanced", y)
    explicit = GradLogisticRegression().fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(balanced.coef_, explicit.coef_, rtol=1e-10)


@pytest.mark.parametrize("Estimator,data", [
    (GradLinearRegression, DIABETES), (GradLogisticRegression, CANCER)])
def test_predictions_invariant_to_affine_rescaling(Estimator, data):
    X, y = data
    rng = np.random.default_rng(3)
    scale = rng.choice([-1, 1], X.shape[1]) * 10.0 ** rng.uniform(-3, 3, X.shape[1])
    shift = rng.uniform(-100, 100, X.shape[1])
    plain = Estimator().fit(X, y)
    moved = Estimator().fit(X * scale + shift, y)
    method = "predict" if Estimator is GradLinearRegression else "predict_proba"
    np.testing.assert_allclose(getattr(moved, method)(X * scale + shift),
                               getattr(plain, method)(X), rtol=1e-6, atol=1e-9)


def test_float32_input_is_fitted_in_float32():
    X, y = DIABETES
    model64 = GradLinearRegression().fit(X, y)
    model32 = GradLinearRegression().fit(X.astype(np.float32), y.astype(np.float32))
    assert model32.coef_.dtype == np.float32
    assert model64.coef_.dtype == np.float64
    # Collinear columns leave the coefficients only as precise as float32
    # allows (condition number ~500); predictions are better determined.
    np.testing.assert_allclose(model32.coef_, model64.coef_, rtol=5e-2)
    prediction32 = model32.predict(X.astype(np.float32))
    assert prediction32.dtype == np.float32
    np.testing.assert_allclose(prediction32, model64.predict(X), rtol=2e-3)


def test_float64_fit_does_not_enable_x64_globally():
    X, y = DIABETES
    fit_quietly(GradLinearRegression(max_iter=3), X, y)
    assert jnp.zeros(1).dtype == jnp.float32


def test_fitted_attributes_are_numpy():
    model = GradLogisticRegression().fit(*IRIS)
    for name in ("coef_", "intercept_", "loss_curve_", "classes_"):
        assert type(getattr(model, name)) is np.ndarray
    assert isinstance(model.n_iter_, int)


# --- divergence, convergence and progress ------------------------------------


def test_divergence_raises_naming_learning_rate_and_leaves_unfitted():
    X, y = DIABETES
    model = GradLinearRegression(solver="gd", learning_rate=100.0)
    with pytest.raises(ValueError, match="learning_rate"):
        model.fit(X, y)
    assert not hasattr(model, "coef_")
    assert not hasattr(model, "n_features_in_")
    model.set_params(learning_rate=0.1, solver="adam").fit(X, y)
    previous = model.coef_.copy()
    model.set_params(learning_rate=100.0, solver="gd")
    with pytest.raises(ValueError, match="smaller learning_rate"):
        model.fit(X, y)
    # A failed refit keeps the previous model (see test_state_faithful.py).
    np.testing.assert_array_equal(model.coef_, previous)


def test_max_iter_warns_and_records_curve():
    X, y = DIABETES
    with pytest.warns(ConvergenceWarning, match="max_iter=7"):
        model = GradLinearRegression(max_iter=7).fit(X, y)
    assert model.n_iter_ == 7
    assert model.loss_curve_.shape == (7,)
    assert np.all(np.diff(model.loss_curve_) < 0)


def test_verbose_prints_progress(capsys):
    GradLinearRegression(verbose=2, max_iter=600).fit(*DIABETES)
    out = capsys.readouterr().out
    assert "[GradLinearRegression] iter" in out
    assert "loss" in out


def test_warm_start_continues_from_solution():
    X, y = DIABETES
    model = GradLinearRegression(warm_start=True).fit(X, y)
    first = model.coef_.copy()
    model.fit(X, y)
    assert model.n_iter_ <= 2
    np.testing.assert_allclose(model.coef_, first, rtol=1e-6)


def test_mini_batches_reach_solution_and_are_reproducible():
    X, y = DIABETES
    kwargs = dict(batch_size=64, learning_rate=0.005, random_state=0, max_iter=2000)
    first = fit_quietly(GradLinearRegression(**kwargs), X, y)
    again = fit_quietly(GradLinearRegression(**kwargs), X, y)
    np.testing.assert_array_equal(first.coef_, again.coef_)
    ref = LinearRegression().fit(X, y)
    # Constant-step mini-batches hover around the optimum (R^2 0.518).
    assert first.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-2)
    with pytest.raises(ValueError, match="batch_size=None"):
        GradLinearRegression(solver="lbfgs", batch_size=32).fit(X, y)


# --- losses --------------------------------------------------------------------


def _outlier_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = X @ np.array([2.0, -1.0]) + 0.5 + rng.normal(scale=0.3, size=200)
    y[:20] += 30.0
    return X, y


def test_absolute_error_is_median_regression():
    X, y = _outlier_data()
    model = fit_quietly(GradLinearRegression(loss="absolute_error",
                                             learning_rate=0.01), X, y)
    ref = QuantileRegressor(quantile=0.5, alpha=0.0).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=2e-2)


def test_callable_quantile_loss_matches_quantile_regression():
    X, y = _outlier_data()

    def pinball(y_true, y_pred, q=0.8):
        residual = y_true - y_pred
        return jnp.maximum(q * residual, (q - 1) * residual)

    model = fit_quietly(GradLinearRegression(loss=pinball, learning_rate=0.01),
                        X, y)
    ref = QuantileRegressor(quantile=0.8, alpha=0.0).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=2e-2)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=5e-2)


def test_huber_matches_direct_minimisation_and_resists_outliers():
    from scipy.optimize import minimize

    X, y = _outlier_data()
    epsilon = 1.35
    huber = GradLinearRegression(solver="lbfgs", loss="huber", epsilon=epsilon)
    huber.fit(X, y)

    # The same objective in the user's units: the threshold is epsilon times a
    # scale sigma fitted jointly (Owen's concomitant scale).
    def objective(theta):
        sigma = abs(theta[3])
        r = np.abs(y - X @ theta[:2] - theta[2])
        return np.mean(sigma + np.where(r <= epsilon * sigma, r**2 / sigma,
                                        2 * epsilon * r - epsilon**2 * sigma))

    ref = minimize(objective, np.array([0.0, 0.0, 0.0, 1.0]), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
    np.testing.assert_allclose(huber.coef_, ref.x[:2], rtol=1e-4)
    np.testing.assert_allclose(huber.intercept_, ref.x[2], rtol=1e-4)
    squared = GradLinearRegression(solver="lbfgs").fit(X, y)
    assert abs(huber.intercept_ - 0.5) < 0.2 < abs(squared.intercept_ - 0.5)


def test_callable_loss_must_return_per_sample_values():
    with pytest.raises(ValueError, match="one loss per sample"):
        GradLinearRegression(loss=lambda t, p: jnp.mean((t - p) ** 2)).fit(*DIABETES)


# --- scikit-learn integration ---------------------------------------------------


def test_grid_search_over_learning_rate_in_pipeline_with_processes():
    X, y = DIABETES
    pipe = make_pipeline(StandardScaler(),
                         GradLinearRegression(solver="adam", max_iter=200))
    search = GridSearchCV(
        pipe, {"gradlinearregression__learning_rate": [1e-3, 1e-2, 1e-1]},
        cv=3, n_jobs=2, error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert len(set(np.round(scores, 6))) == 3
    assert search.best_params_["gradlinearregression__learning_rate"] == 1e-1


def test_cross_val_score_and_clone():
    X, y = CANCER
    model = GradLogisticRegression(solver="lbfgs")
    scores = cross_val_score(model, X, y, cv=3, n_jobs=2)
    assert scores.mean() > 0.95
    assert clone(model).get_params() == model.get_params()


def test_pickle_round_trip_in_a_fresh_process(tmp_path):
    X, y = IRIS
    model = GradLogisticRegression().fit(X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    np.save(tmp_path / "X.npy", X)
    code = ("import pickle, sys, numpy as np; "
            "m = pickle.load(open(sys.argv[1], 'rb')); "
            "np.save(sys.argv[3], m.predict_proba(np.load(sys.argv[2])))")
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "X.npy"),
                    str(tmp_path / "out.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"),
                                  model.predict_proba(X))


def test_pandas_input_and_set_output_keep_feature_names():
    pd = pytest.importorskip("pandas")
    data = load_diabetes(as_frame=True)
    pipe = make_pipeline(StandardScaler().set_output(transform="pandas"),
                         GradLinearRegression(solver="lbfgs"))
    pipe.fit(data.data, data.target)
    model = pipe[-1]
    assert list(model.feature_names_in_) == list(data.data.columns)
    X = data.data.to_numpy()
    with pytest.warns(UserWarning, match="feature names"):
        GradLinearRegression(solver="lbfgs").fit(data.data, data.target).predict(X)
    assert isinstance(pipe.predict(data.data), np.ndarray)
    assert isinstance(data.data, pd.DataFrame)


def test_string_labels():
    X, y = IRIS
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = GradLogisticRegression(solver="lbfgs").fit(X, names)
    assert model.classes_.tolist() == names[[0, 50, 100]].tolist()
    assert model.score(X, names) > 0.95
    assert model.decision_function(X).shape == (150, 3)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X)),
                               model.predict_proba(X))


# --- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_input_is_rejected(bad):
    X, y = DIABETES[0].copy(), DIABETES[1].copy()
    X[3, 2] = float(bad)
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        GradLinearRegression().fit(X, y)
    X[3, 2] = 0.0
    y[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GradLinearRegression().fit(X, y)


def test_shape_errors_are_clear():
    X, y = DIABETES
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        GradLinearRegression().fit(X, y[:-1])
    with pytest.raises(ValueError, match="Expected 2D array"):
        GradLinearRegression().fit(X[:, 0], y)
    model = GradLinearRegression(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="10 features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="sample_weight"):
        GradLinearRegression().fit(X, y, sample_weight=np.ones(3))


@pytest.mark.parametrize("params,match", [
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"solver": "newton"}, "solver"),
    ({"max_iter": 0}, "max_iter"),
    ({"loss": "hinge"}, "loss"),
    ({"alpha": -1.0}, "alpha"),
])
def test_bad_parameters_are_rejected(params, match):
    with pytest.raises(ValueError, match=match):
        GradLinearRegression(**params).fit(*DIABETES)


def test_single_class_and_wrong_targets_are_rejected():
    X = IRIS[0]
    with pytest.raises(ValueError, match="only one class"):
        GradLogisticRegression().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        GradLogisticRegression().fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="C"):
        GradLogisticRegression(C=0.0).fit(*IRIS)
