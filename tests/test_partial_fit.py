"""Streaming with partial_fit: state carried between calls, sklearn's conventions."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss, mean_squared_error

from gradest import GradLinearRegression, GradLogisticRegression

DIABETES = load_diabetes(return_X_y=True)
CANCER = load_breast_cancer(return_X_y=True)


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
    streamed = Estimator(C=np.inf) if classifier else Estimator()
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
    (GradLinearRegression, DIABETES, {"alpha": 50.0}),
    (GradLogisticRegression, CANCER, {"C": 0.5})])
def test_stream_size_gives_every_pass_the_penalty_of_fit(Estimator, data, penalty):
    # Passes over the whole data set with stream_size set must take exactly
    # the penalised steps of fit; without it the penalty weakens pass by pass.
    X, y = data
    extra = {"classes": np.unique(y)} if Estimator is GradLogisticRegression else {}
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
    last = _stream(GradLinearRegression(solver="momentum", learning_rate=0.1),
                   X, y, chunk=64, epochs=epochs)
    averaged = _stream(
        GradLinearRegression(solver="momentum", learning_rate=0.1,
                             average=epochs * len(y) // 2),
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
        GradLinearRegression(solver="lbfgs").partial_fit(*DIABETES)
    with pytest.raises(ValueError, match="balanced"):
        GradLogisticRegression(class_weight="balanced").partial_fit(
            X, y, classes=[0, 1])
    model = GradLinearRegression().partial_fit(*DIABETES)
    assert not hasattr(GradLinearRegression(solver="lbfgs"), "coef_")
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
