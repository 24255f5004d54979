"""Behaviour that the engine's speed rests on (no timings: those are benchmarks)."""

import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold

import gradest.linear_model._fit
from gradest import GradLinearRegression, GradLogisticRegression
from gradest._engine import Problem, Settings, aligned_zeros, bucket_rows, minimize
from gradest._engine.loop import compiled_count

DIABETES = load_diabetes(return_X_y=True)
CANCER = load_breast_cancer(return_X_y=True)


def fit_quietly(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "lbfgs", "gd"])
def test_new_learning_rate_reuses_compiled_loop(solver):
    X, y = DIABETES
    fit_quietly(GradLinearRegression(solver=solver, max_iter=600), X, y)
    compiled = compiled_count()
    for learning_rate in [0.013, 0.027, 0.2]:
        fit_quietly(GradLinearRegression(solver=solver, max_iter=600,
                                         learning_rate=learning_rate), X, y)
    assert compiled_count() == compiled


def test_many_chunks_and_tolerances_share_one_compiled_loop():
    X, y = CANCER
    fit_quietly(GradLogisticRegression(max_iter=5), X, y)
    compiled = compiled_count()
    # Thousands of iterations span many chunks; tol and max_iter are traced.
    fit_quietly(GradLogisticRegression(max_iter=3000, tol=1e-6), X, y)
    fit_quietly(GradLogisticRegression(max_iter=700, tol=1e-3), X, y)
    assert compiled_count() == compiled


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_folds_of_different_sizes_share_compiled_loop(solver):
    X, y = DIABETES
    folds = [train for train, _ in KFold(5).split(X)]
    sizes = {len(train) for train in folds}
    assert len(sizes) > 1
    GradLinearRegression(solver=solver).fit(X[folds[0]], y[folds[0]])
    compiled = compiled_count()
    for train in folds[1:]:
        GradLinearRegression(solver=solver).fit(X[train], y[train])
    # The final refit of a search, on all rows, shares the folds' code too.
    GradLinearRegression(solver=solver).fit(X, y)
    assert compiled_count() == compiled


def test_row_buckets_pad_little_and_small_data_to_powers_of_two():
    sizes = np.arange(1, 70_000)
    coarse = np.array([bucket_rows(int(n)) for n in sizes])
    assert np.all(coarse >= sizes)
    assert np.all(coarse[sizes > 16] <= sizes[sizes > 16] * 9 / 8)
    assert len(np.unique(coarse)) < 130
    small = np.array([bucket_rows(int(n), power_of_two_up_to=4096) for n in sizes])
    below = sizes <= 4096
    assert np.all(small >= sizes)
    assert set(np.unique(small[below])) == {2 ** k for k in range(4, 13)}
    np.testing.assert_array_equal(small[~below], coarse[~below])


@pytest.mark.parametrize("Estimator,data", [
    (GradLinearRegression, DIABETES), (GradLogisticRegression, CANCER)])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_padding_rows_of_zero_weight_change_no_result(Estimator, data, solver,
                                                      monkeypatch):
    X, y = data
    X, y = X[:353], y[:353]
    # Least squares on its sufficient statistics has no padded rows or
    # columns: compare fits on the rows.
    monkeypatch.setattr(gradest.linear_model._fit, "use_statistics",
                        lambda *args: False)
    assert bucket_rows(len(y)) > len(y)
    padded = fit_quietly(Estimator(solver=solver, max_iter=2000), X, y)
    monkeypatch.setattr(gradest.linear_model._fit, "bucket_rows", lambda n, **_: n)
    exact = fit_quietly(Estimator(solver=solver, max_iter=2000), X, y)
    # The same iterates up to rounding: the stopping test may flip one
    # iteration earlier or later where the gradient ends within rounding of
    # tol (L-BFGS on breast cancer: 48 or 49).
    assert abs(padded.n_iter_ - exact.n_iter_) <= 1
    # Padding only changes the order of the additions in each pass: the
    # gradients differ by rounding (about eps per term), and the solution by
    # that much times the condition number of the standardised problem. A
    # factor of 100 covers the sums' growth and the iterations' propagation.
    X_std = (X - X.mean(axis=0)) / X.std(axis=0)
    kappa = np.linalg.cond(X_std.T @ X_std)
    rtol = 100 * kappa * np.finfo(np.float64).eps
    scale = np.max(np.abs(exact.coef_))
    if padded.n_iter_ != exact.n_iter_:
        # Stopped at different iterates, each with every gradient component
        # of the mean objective at most tol: two such points are at most
        # 2 sqrt(p) tol / lambda_min apart in standardised units (lambda_min
        # of the objective's Hessian there), 1 / std(x) times more in the
        # units of X.
        A = np.c_[X_std, np.ones(len(y))]
        if Estimator is GradLogisticRegression:
            p = exact.predict_proba(X)[:, 1]
            hessian = (A.T * (p * (1 - p))) @ A / len(y)
            hessian[:-1, :-1] += np.eye(X.shape[1]) / (exact.C * len(y))
        else:
            hessian = A.T @ A / len(y)
        lambda_min = np.linalg.eigvalsh(hessian)[0]
        step = 2 * np.sqrt(A.shape[1]) * exact.tol / lambda_min
        rtol = max(rtol, step / np.min(X.std(axis=0)) / scale)
    np.testing.assert_allclose(padded.coef_, exact.coef_, rtol=rtol,
                               atol=rtol * scale)
    np.testing.assert_allclose(padded.intercept_, exact.intercept_, rtol=rtol,
                               atol=rtol * max(scale, 1.0))


def test_aligned_buffer_reaches_the_device_without_a_copy():
    buffer = aligned_zeros((1000, 7), np.float64)
    assert buffer.flags.c_contiguous and buffer.flags.writeable
    with jax.enable_x64(True):
        on_device = jax.device_put(buffer)
        if jax.default_backend() == "cpu":
            assert on_device.unsafe_buffer_pointer() == buffer.ctypes.data


def test_parameters_of_any_shape_round_trip_through_the_flat_loop():
    def objective(params, data, weights, hyper):
        return (params["scalar"] - 1.0) ** 2 + ((params["matrix"] - 2.0) ** 2).sum()

    params = {"scalar": np.zeros(()), "matrix": np.zeros((2, 3))}
    result = minimize(Problem(objective, params, np.zeros((4, 1)), np.ones(4), {}),
                      Settings(solver="lbfgs", learning_rate=1.0, max_iter=50,
                               tol=1e-10, record_history=True))
    assert result.params["scalar"].shape == ()
    np.testing.assert_allclose(result.params["scalar"], 1.0)
    np.testing.assert_allclose(result.params["matrix"], np.full((2, 3), 2.0))
    assert result.history["matrix"].shape == (result.n_iter + 1, 2, 3)
    assert result.params["matrix"].flags.writeable


_FIRST_FIT = """
import sys
from sklearn.datasets import load_diabetes
import gradest
compiled, hits = [], []
import jax.monitoring
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: compiled.append(event)
    if event == "/jax/core/compile/backend_compile_duration" else None)
jax.monitoring.register_event_listener(
    lambda event, **kw: hits.append(event)
    if event == "/jax/compilation_cache/cache_hits" else None)
gradest.set_compilation_cache(sys.argv[1])
gradest.GradLinearRegression(max_iter=20).fit(*load_diabetes(return_X_y=True))
print(len(compiled) - len(hits))
"""


def test_persistent_cache_spares_a_new_process_the_compilation(tmp_path):
    def compilations_in_fresh_process():
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", _FIRST_FIT,
                              str(tmp_path)], check=True, capture_output=True,
                             text=True).stdout
        return int(out.split()[-1])

    assert compilations_in_fresh_process() >= 1
    assert compilations_in_fresh_process() == 0
