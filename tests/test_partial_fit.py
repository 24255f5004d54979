"""Streaming with partial_fit: state carried between calls, sklearn's conventions.

Squared error streams exactly (each call solves the least-squares problem of
every row so far); the other losses take stochastic steps, whose state is
carried from call to call. The step-by-step tests use the Huber loss, or a
user-written squared error, for the regressor.
"""

import itertools
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import log_loss, mean_squared_error

from gradest import GradLinearRegression, GradLogisticRegression

DIABETES = load_diabetes(return_X_y=True)
CANCER = load_breast_cancer(return_X_y=True)


def _half_squared_error(y_true, y_pred):
    # Squared error as a user-written loss: it streams by steps, not exactly.
    return 0.5 * (y_pred - y_true) ** 2


def _stream(model, X, y, *, chunk, epochs, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), chunk):
            rows = order[start:start + chunk]
            model.partial_fit(X[rows], y[rows], **kwargs)
    return model


@pytest.mark.parametrize("Estimator,data", [
    (GradLinearRegression, DIABETES), (GradLogisticRegression, CANCER)])
def test_calls_on_the_whole_data_continue_one_uninterrupted_run(Estimator, data):
    # Repeating the same rows leaves the statistics unchanged, so k calls of
    # one step each must follow exactly the path of k steps of one fit: the
    # solver state and the model are carried over intact.
    X, y = data
    classifier = Estimator is GradLogisticRegression
    extra = {"classes": np.unique(y)} if classifier else {}
    # Adam: the solver of partial_fit's steps ("auto" there), named so that
    # fit takes the same steps (its own "auto" is L-BFGS).
    streamed = (Estimator(C=np.inf, solver="adam") if classifier
                else Estimator(loss="huber", solver="adam"))
    for _ in range(25):
        streamed.partial_fit(X, y, **extra)
    whole = streamed.get_params()
    with pytest.warns(ConvergenceWarning):
        reference = Estimator(**{**whole, "max_iter": 25}).fit(X, y)
    np.testing.assert_allclose(streamed.coef_, reference.coef_, rtol=1e-9)
    np.testing.assert_allclose(streamed.intercept_, reference.intercept_, rtol=1e-9)
    assert streamed.n_iter_ == 25
    np.testing.assert_allclose(streamed.loss_curve_, reference.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("Estimator,data,penalty", [
    (GradLinearRegression, DIABETES, {"alpha": 50.0, "loss": "huber"}),
    (GradLogisticRegression, CANCER, {"C": 0.5})])
def test_stream_size_gives_every_pass_the_penalty_of_fit(Estimator, data, penalty):
    # Passes over the whole data set with stream_size set must take exactly
    # the penalised steps of fit; without it the penalty weakens pass by pass.
    X, y = data
    extra = {"classes": np.unique(y)} if Estimator is GradLogisticRegression else {}
    penalty = {**penalty, "solver": "adam"}
    sized = Estimator(**penalty, stream_size=len(y))
    unsized = Estimator(**penalty)
    for _ in range(25):
        sized.partial_fit(X, y, **extra)
        unsized.partial_fit(X, y, **extra)
    with pytest.warns(ConvergenceWarning):
        reference = Estimator(**penalty, max_iter=25).fit(X, y)
    np.testing.assert_allclose(sized.coef_, reference.coef_, rtol=1e-9)
    np.testing.assert_allclose(sized.loss_curve_, reference.loss_curve_, rtol=1e-9)
    assert not np.allclose(unsized.coef_, reference.coef_, rtol=1e-3)


def test_streamed_classifier_with_stream_size_approaches_the_penalised_optimum():
    X, y = CANCER
    full = GradLogisticRegression(solver="lbfgs").fit(X, y)
    scale = X.std(axis=0)

    def objective(model):
        coef = model.coef_.ravel() * scale
        return log_loss(y, model.predict_proba(X), normalize=False) + 0.5 * coef @ coef

    epochs = 30
    settings = {"solver": "nesterov", "learning_rate": 0.3,
                "average": epochs * len(y) // 2}
    sized = _stream(GradLogisticRegression(**settings, stream_size=len(y)),
                    X, y, chunk=64, epochs=epochs, classes=[0, 1])
    unsized = _stream(GradLogisticRegression(**settings), X, y, chunk=64,
                      epochs=epochs, classes=[0, 1])
    best = objective(full)
    # 270 steps on chunks of 64: fit itself needs about 300 full-batch
    # steps to come within 1e-3 of this optimum (see docs/scaling.rst).
    assert 0 <= objective(sized) / best - 1 < 3e-3
    assert objective(unsized) / best - 1 > 3e-2


def test_streamed_regression_with_averaging_lands_on_the_full_batch_solution():
    X, y = DIABETES
    full = GradLinearRegression(solver="lbfgs").fit(X, y)
    best = mean_squared_error(y, full.predict(X))
    epochs = 30
    # Constant steps leave the last iterate hovering around the optimum; the
    # average of the second half of the stream's iterates settles on it.
    stepping = {"loss": _half_squared_error, "standardize_targets": True,
                "solver": "momentum", "learning_rate": 0.1}
    last = _stream(GradLinearRegression(**stepping), X, y, chunk=64, epochs=epochs)
    averaged = _stream(
        GradLinearRegression(**stepping, average=epochs * len(y) // 2),
        X, y, chunk=64, epochs=epochs)
    excess_last = mean_squared_error(y, last.predict(X)) / best - 1
    excess_averaged = mean_squared_error(y, averaged.predict(X)) / best - 1
    assert 0 <= excess_averaged < 1e-3 < excess_last
    np.testing.assert_allclose(averaged._stream_.iterate[0][:, 0], last.coef_,
                               rtol=1e-9)


def test_streamed_classifier_keeps_classes_and_learns():
    X, y = CANCER
    labels = np.array(["benign", "malignant"])[y]
    model = _stream(GradLogisticRegression(learning_rate=0.01), X, labels,
                    chunk=64, epochs=5, classes=["malignant", "benign"])
    assert model.classes_.tolist() == ["benign", "malignant"]
    assert model.score(X, labels) > 0.95
    assert log_loss(labels, model.predict_proba(X)) < 0.15


def test_bad_chunks_are_rejected_and_leave_the_model_intact():
    X, y = CANCER
    model = GradLogisticRegression().partial_fit(X[:100], y[:100], classes=[0, 1])
    before = model.coef_.copy(), model.n_iter_
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[100:200, :5], y[100:200])
    with pytest.raises(ValueError, match="not in classes"):
        model.partial_fit(X[100:200], y[100:200] + 1)
    np.testing.assert_array_equal(model.coef_, before[0])
    assert model.n_iter_ == before[1]
    model.partial_fit(X[100:200], y[100:200])
    assert model.n_iter_ == before[1] + 1


def test_first_call_needs_classes_and_first_order_solver():
    X, y = CANCER
    with pytest.raises(ValueError, match="classes must be passed"):
        GradLogisticRegression().partial_fit(X, y)
    with pytest.raises(ValueError, match="first-order solver"):
        GradLinearRegression(solver="lbfgs", loss="huber").partial_fit(*DIABETES)
    with pytest.raises(ValueError, match="balanced"):
        GradLogisticRegression(class_weight="balanced").partial_fit(
            X, y, classes=[0, 1])
    model = GradLinearRegression().partial_fit(*DIABETES)
    with pytest.raises(ValueError, match="target"):
        model.partial_fit(DIABETES[0], np.column_stack([DIABETES[1]] * 2))


def test_fit_after_partial_fit_starts_afresh():
    X, y = DIABETES
    model = GradLinearRegression(solver="lbfgs")
    fresh = GradLinearRegression(solver="lbfgs").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(solver="adam").partial_fit(X[:50], y[:50])
    model.set_params(solver="lbfgs").fit(X, y)
    np.testing.assert_allclose(model.coef_, fresh.coef_, rtol=1e-9)
    assert model.n_iter_ == fresh.n_iter_


def _chunked(n_samples, how, seed=0):
    """Row slices of one pass: equal chunks, or chunks of random sizes."""
    if how == "uneven":
        cuts = np.sort(np.random.default_rng(seed).choice(
            np.arange(1, n_samples), size=40, replace=False))
        edges = [0, *cuts.tolist(), n_samples]
    else:
        edges = [*range(0, n_samples, how), n_samples]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def _assert_close(actual, desired, rtol):
    """Agreement relative to the largest coefficient of each target.

    Elementwise relative errors of coefficients near zero measure only the
    solver's absolute accuracy, which is set by the largest ones.
    """
    actual, desired = np.atleast_2d(actual), np.atleast_2d(desired)
    error = np.max(np.abs(actual - desired), axis=-1) / np.max(np.abs(desired), axis=-1)
    assert np.all(error < rtol), f"relative errors {error} not below {rtol}"


# The least-squares solution is computed to the engine's gradient tolerance
# (1e-9 on standardised data) from different starting points, so streamed and
# whole fits agree to about tol times the standardised problem's condition
# number (diabetes: 534), far inside the 1e-6 asked of them.
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("how", [7, 64, "uneven"])
def test_one_pass_of_squared_error_in_any_chunking_equals_fit(solver, how):
    X, y = DIABETES
    Y = np.column_stack([y, X @ np.arange(10.0) + 3.0])
    weights = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    streamed = GradLinearRegression(solver=solver, alpha=2.0)
    with warnings.catch_warnings():
        # The first chunks alone have fewer rows than features: those
        # problems are underdetermined and may stop at max_iter.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for rows in _chunked(len(y), how):
            streamed.partial_fit(X[rows], Y[rows], sample_weight=weights[rows])
    whole = GradLinearRegression(solver=solver, alpha=2.0).fit(
        X, Y, sample_weight=weights)
    _assert_close(streamed.coef_, whole.coef_, 1e-6)
    np.testing.assert_allclose(streamed.intercept_, whole.intercept_, rtol=1e-6)
    # And both are the ridge solution on standardised data, mapped back.
    mean = weights @ X / weights.sum()
    scale = np.sqrt(weights @ (X - mean) ** 2 / weights.sum())
    y_scale = np.sqrt(weights @ (Y - weights @ Y / weights.sum()) ** 2
                      / weights.sum())
    ridge = Ridge(alpha=2.0).fit((X - mean) / scale, Y / y_scale,
                                 sample_weight=weights)
    _assert_close(streamed.coef_, ridge.coef_ / scale * y_scale[:, None], 1e-6)


def test_exact_stream_solves_the_rows_so_far_after_every_call():
    X, y = DIABETES
    # Calls on consecutive blocks; after each, the model is the least-squares
    # fit of every row seen so far.
    model = GradLinearRegression(solver="lbfgs")
    start = 0
    for end in (100, 250, len(y)):
        model.partial_fit(X[start:end], y[start:end])
        reference = LinearRegression().fit(X[:end], y[:end])
        _assert_close(model.coef_, reference.coef_, 1e-6)
        np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-6)
        start = end


def test_exact_stream_of_float32_chunks_stays_float32_and_is_accurate():
    X, y = DIABETES
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    model = GradLinearRegression()
    for rows in _chunked(len(y), 64):
        model.partial_fit(X32[rows], y32[rows])
    assert model.coef_.dtype == np.float32
    reference = LinearRegression().fit(X32.astype(np.float64), y32.astype(np.float64))
    # The statistics are float64, so only the final rounding to float32 and
    # float32's rounding of the rows count: a few float32 eps times the
    # condition number.
    tolerance = 10 * np.finfo(np.float32).eps * 534
    _assert_close(model.coef_, reference.coef_, tolerance)


def test_exact_stream_rejects_columns_beyond_the_range_of_cross_products():
    X, y = DIABETES
    model = GradLinearRegression().partial_fit(X[:100], y[:100])
    before = model.coef_.copy()
    huge = X[100:200].copy()
    huge[:, 0] *= 1e200
    with pytest.raises(ValueError, match="cross-products"):
        model.partial_fit(huge, y[100:200])
    np.testing.assert_array_equal(model.coef_, before)
