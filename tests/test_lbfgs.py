"""The compact L-BFGS for convex objectives, and the small-problem compilation."""

from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import gradest._engine.loop as loop
from gradest import GradLinearRegression, GradLogisticRegression
from gradest._engine import Problem, Settings, Status, minimize
from gradest._engine.lbfgs import LbfgsState
from gradest._engine.solvers import solver_spec

X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)
X_CANCER = StandardScaler().fit_transform(X_CANCER)


def _logistic(params, data, weights, hyper):
    import jax

    X, y = data
    z = X @ params["coef"] + params["intercept"]
    losses = jax.nn.softplus(z) - y * z
    return (weights @ losses) / weights.sum() + 0.5 * hyper["l2"] * (
        params["coef"] @ params["coef"])


@dataclass(frozen=True)
class _ConvexLogistic:
    convex = True

    def __call__(self, params, data, weights, hyper):
        return _logistic(params, data, weights, hyper)


def _solve(objective, tol=1e-10):
    n, p = X_CANCER.shape
    problem = Problem(objective, {"coef": np.zeros(p), "intercept": np.zeros(())},
                      (X_CANCER, Y_CANCER.astype(float)), np.ones(n), {"l2": 1e-2})
    return minimize(problem, Settings(solver="lbfgs", max_iter=500, tol=tol))


def test_a_convex_objective_takes_backtracking_and_reaches_zooms_minimiser():
    backtracking, zoom = _solve(_ConvexLogistic()), _solve(_logistic)
    assert isinstance(backtracking.opt_state, LbfgsState)
    assert not isinstance(zoom.opt_state, LbfgsState)
    assert backtracking.status == zoom.status == Status.CONVERGED
    # Both stop with every gradient component <= 1e-10; the objective's
    # curvature is at least its L2 weight 1e-2, so each is within 1e-8 of the
    # minimiser (in the max norm, up to sqrt(p) in the worst case).
    bound = 1e-10 / 1e-2 * np.sqrt(X_CANCER.shape[1] + 1)
    for name in ("coef", "intercept"):
        np.testing.assert_allclose(backtracking.params[name], zoom.params[name],
                                   rtol=0, atol=2 * bound)


def test_lbfgs_logistic_equals_scikit_learn_on_standardised_data():
    n = len(Y_CANCER)
    C = 0.5
    ours = GradLogisticRegression(solver="lbfgs", C=C, tol=1e-10, max_iter=500).fit(
        X_CANCER, Y_CANCER)
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(
        X_CANCER, Y_CANCER)

    def objective(coef, intercept):
        z = X_CANCER @ coef + intercept
        return np.sum(np.logaddexp(0, z) - Y_CANCER * z) + 0.5 / C * coef @ coef

    ours_value = objective(ours.coef_.ravel(), ours.intercept_[0])
    reference_value = objective(reference.coef_.ravel(), reference.intercept_[0])
    # Summed objective of 569 rows; stopping at max|grad of the mean| <= 1e-10
    # leaves an excess of order n * |grad|^2 / curvature: far below 1e-9.
    assert ours_value <= reference_value * (1 + 1e-9)
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-5, atol=1e-6)
    assert ours.n_iter_ < 200
    del n


def test_an_unreachable_tolerance_stalls_cleanly():
    # tol=0 can never be met; the line search ends by rounding, and the fit
    # reports a stall at the minimiser instead of running to max_iter or NaN.
    result = _solve(_ConvexLogistic(), tol=0.0)
    assert result.status in (Status.STALLED, Status.CONVERGED)
    assert result.n_iter < 500
    assert np.all(np.isfinite(result.params["coef"]))
    reference = _solve(_ConvexLogistic())
    np.testing.assert_allclose(result.params["coef"], reference.params["coef"],
                               rtol=0, atol=1e-6)


def test_small_problems_compile_unoptimised_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = X @ np.arange(1.0, 6.0) + 1.0 + rng.standard_t(3, size=300)
    assert loop.chunk_function(512, 11, 100) is loop.run_small_chunk
    assert loop.chunk_function(2**16, 50, 100) is loop.run_chunk
    # The first-order solvers' loops are always optimised.
    assert loop.chunk_function(512, 11, solver_spec("adam").typical_iterations) \
        is loop.run_chunk
    small = GradLinearRegression(solver="lbfgs", tol=1e-9, loss="huber").fit(X, y)
    monkeypatch.setattr(loop, "SMALL_PROBLEM", 0)
    optimised = GradLinearRegression(solver="lbfgs", tol=1e-9, loss="huber").fit(X, y)
    # The same program under two optimisation levels: rounding differs
    # (fused or reordered operations), so the line searches may take other
    # steps, but both stop at max|grad| <= 1e-9 of a standardised problem
    # whose curvature is of order 1.
    np.testing.assert_allclose(small.coef_, optimised.coef_, rtol=1e-6)


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collection_is_paused_in_chunks_and_restored(monkeypatch, enabled):
    import gc
    import importlib

    minimize_module = importlib.import_module("gradest._engine.minimize")
    seen = []
    chunk_function = minimize_module.chunk_function

    def recording_chunk_function(*sizes):
        run_chunk = chunk_function(*sizes)

        def recording(*args, **kwargs):
            seen.append(gc.isenabled())
            return run_chunk(*args, **kwargs)

        return recording

    monkeypatch.setattr(minimize_module, "chunk_function", recording_chunk_function)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        GradLinearRegression(solver="lbfgs").fit(X_CANCER, Y_CANCER.astype(float))
        # Off inside every compiled chunk, and as the user had it after.
        assert seen and not any(seen)
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()
