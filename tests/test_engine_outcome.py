"""How every loop ends: divergence in both directions, stalls, references, chunks."""

import importlib
import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gradest import GradLinearRegression
from gradest._engine import Problem, Settings, Status, minimize

# The module, not the function of the same name that the package exports.
minimize_module = importlib.import_module("gradest._engine.minimize")


def _quadratic(params, data, weights, hyper):
    return 0.5 * ((params - 3.0) ** 2).sum()


def _unbounded(params, data, weights, hyper):
    # Linear in the parameters: falls without bound along the gradient.
    return -params.sum()


def _problem(objective, start=None):
    start = np.zeros(3) if start is None else start
    return Problem(objective, start, np.zeros((4, 1)), np.ones(4), {})


def test_objective_unbounded_below_is_a_divergence_naming_it():
    with pytest.raises(ValueError, match="unbounded below"):
        minimize(_problem(_unbounded),
                 Settings(solver="adam", learning_rate=1e9, max_iter=100))


def test_a_stop_above_the_start_is_a_divergence():
    # gd with a step of 2.5 on a quadratic of curvature 1 doubles the error
    # each step; with a flat-looking stop forced by a huge tol the gradient
    # test holds at once at a point above the start.
    with pytest.raises(ValueError, match="learning_rate"):
        minimize(_problem(_quadratic),
                 Settings(solver="gd", learning_rate=2.5, max_iter=100, tol=1e3,
                          min_iter=3))


def test_a_converged_fit_below_its_start_is_no_divergence():
    result = minimize(_problem(_quadratic),
                      Settings(solver="gd", learning_rate=0.5, max_iter=200, tol=1e-10))
    assert result.status == Status.CONVERGED
    np.testing.assert_allclose(result.params, 3.0, rtol=1e-9)
    # The reference is the first objective value.
    assert result.reference == pytest.approx(0.5 * 9 * 3)


def test_a_carried_reference_detects_divergence_in_a_single_step():
    # One step per call, as in a stream: only the level of earlier calls can
    # tell that this one is far above where the stream started.
    settings = Settings(solver="gd", learning_rate=0.1, max_iter=1, fixed_steps=True)
    far = np.full(3, 1e6)
    assert minimize(_problem(_quadratic, far), settings).status == Status.MAX_ITER
    with pytest.raises(ValueError, match="diverged"):
        minimize(_problem(_quadratic, far), settings.with_options(reference=1.0))


def test_lbfgs_below_rounding_stops_as_accurate_as_the_precision():
    # Unstandardised columns of very different scales: the tolerance cannot
    # be met in float64. It used to run to max_iter. The stall's gradient is
    # within the rounding floor, so the fit ends quietly (see the next test
    # for a stall above it).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(10, 5)) * rng.uniform(0.1, 100, 5)
    y = X @ rng.normal(size=5) + rng.normal(size=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = GradLinearRegression(solver="lbfgs", standardize=False, tol=1e-300,
                                     max_iter=100_000).fit(X, y)
    assert model.n_iter_ < 1000
    A = np.c_[X, np.ones(10)]
    exact = np.linalg.lstsq(A, y, rcond=None)[0]
    # As accurate as the conditioning of the raw problem allows.
    rtol = 100 * np.linalg.cond(A) * np.finfo(float).eps
    np.testing.assert_allclose(model.coef_, exact[:5], rtol=rtol,
                               atol=rtol * np.abs(exact).max())


def _steep(params, data, weights, hyper):
    A, b = data
    return 0.5e8 * ((A @ params - b) ** 2).sum()


def test_a_stall_above_the_rounding_floor_says_so():
    # A consistent least-squares problem of curvature up to ~1e14: its
    # minimum is 0, so the objective resolves every decrease, but rounding
    # of the parameters leaves gradients of ~1e-3, above the floor 2.1e-7.
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 3)) * np.array([1e-2, 1.0, 1e3])
    truth = np.array([1 / 3, 2 / 3, 0.7])
    problem = Problem(_steep, np.zeros(3), (A, A @ truth), np.ones(20), {})
    settings = Settings(solver="lbfgs", max_iter=10_000, tol=1e-300)
    with pytest.warns(ConvergenceWarning, match="no further"):
        result = minimize(problem, settings)
    assert result.status == Status.STALLED
    assert result.outcome.grad_max > np.sqrt(200 * np.finfo(float).eps)
    np.testing.assert_allclose(result.params, truth, rtol=1e-9)


def test_a_stall_within_the_rounding_floor_is_quiet():
    settings = Settings(solver="lbfgs", max_iter=10_000, tol=1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = minimize(_problem(_quadratic), settings)
    assert result.status in (Status.STALLED, Status.CONVERGED)
    np.testing.assert_allclose(result.params, 3.0, rtol=1e-12)


def test_stalls_are_only_for_monotone_solvers():
    # A first-order solver's objective may rise and fall; it runs to max_iter.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(10, 5)) * rng.uniform(0.1, 100, 5)
    y = X @ rng.normal(size=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GradLinearRegression(solver="adam", standardize=False, tol=1e-300,
                                     max_iter=300, learning_rate=0.01).fit(X, y)
    assert model.n_iter_ == 300
    assert any("max_iter=300" in str(w.message) for w in caught)


def test_chunks_follow_the_measured_speed():
    limit = minimize_module._next_limit
    assert limit(seconds=1.0, n_done=10, chunk_size=256) == 2
    assert limit(seconds=1e-4, n_done=16, chunk_size=256) == 256
    assert limit(seconds=100.0, n_done=1, chunk_size=256) == 1


def test_long_fits_return_to_python_between_short_chunks(monkeypatch):
    # Python sees a KeyboardInterrupt only between chunks; record them.
    calls = []
    chunk_function = minimize_module.chunk_function

    def timed_chunk_function(*sizes):
        run_chunk = chunk_function(*sizes)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = run_chunk(*args, **kwargs)
            int(out[1])
            calls.append(time.perf_counter() - start)
            return out

        return timed

    monkeypatch.setattr(minimize_module, "chunk_function", timed_chunk_function)
    monkeypatch.setattr(minimize_module, "_CHUNK_SECONDS", 0.05)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20_000, 20)), rng.normal(size=20_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GradLinearRegression(solver="adam", tol=0, max_iter=3000).fit(X, y)
    # The first chunk compiles; after it each chunk is sized from the speed
    # measured, so none is much longer than asked even on a loaded machine.
    assert len(calls) > 3
    assert np.median(calls[1:]) < 1.0
