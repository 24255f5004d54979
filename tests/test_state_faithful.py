"""A fit that fails, diverges or is interrupted leaves the estimator as it was.

The reference state is a pickled snapshot of the estimator's whole instance
dictionary taken before the call, so "as it was" means exactly: every public
and private attribute, bit for bit.
"""

import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

import gradest._base
from gradest import UKR, GradLinearRegression, GradLogisticRegression

DIABETES = load_diabetes(return_X_y=True)
CANCER = load_breast_cancer(return_X_y=True)
# One step of gradient descent this long multiplies the objective by far more
# than the engine's divergence factor (1e8) on both data sets.
HUGE_STEP = {"solver": "gd", "learning_rate": 1e8}
LEARNING_RATE_ADVICE = re.escape("learning_rate=1e+08 is too large for solver='gd'")


def _snapshot(estimator) -> dict:
    """Every attribute of `estimator`, pickled: equal snapshots, equal state.

    Wall times (``history_["time"]``) are left out: two fits of the same
    model never take the same time.
    """
    state = dict(vars(estimator))
    if "history_" in state:
        state["history_"] = {key: values for key, values in state["history_"].items()
                             if key != "time"}
    return {name: pickle.dumps(value) for name, value in state.items()}


def _data(Estimator):
    return CANCER if Estimator is GradLogisticRegression else DIABETES


def _extra(Estimator):
    return {"classes": [0, 1]} if Estimator is GradLogisticRegression else {}


def _half_squared_error(y_true, y_pred):
    return 0.5 * (y_pred - y_true) ** 2


def _stepping(Estimator):
    """Parameters under which partial_fit takes steps: squared error, written
    by the user, steps as the built-in one did before it streamed exactly."""
    if Estimator is GradLinearRegression:
        return {"loss": _half_squared_error, "standardize_targets": True}
    return {}


def _ukr_data(n_features=3):
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 3, 40)
    X = np.c_[np.cos(t), np.sin(t), t, t ** 2] + 0.01 * rng.normal(size=(40, 4))
    return X[:, :n_features]


def _quiet_fit(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


@pytest.mark.parametrize("Estimator", [GradLinearRegression, GradLogisticRegression])
@pytest.mark.parametrize("batch_size", [None, 64])
def test_diverging_stream_raises_and_keeps_the_model_of_the_last_good_call(
        Estimator, batch_size):
    # One step per call never sees its own objective grow; the stream must
    # measure every call against the level of its first one.
    X, y = _data(Estimator)
    model = Estimator(**HUGE_STEP, **_stepping(Estimator), batch_size=batch_size,
                      random_state=0)
    model.partial_fit(X, y, **_extra(Estimator))
    before = _snapshot(model)
    with pytest.raises(ValueError, match=LEARNING_RATE_ADVICE):
        model.partial_fit(X, y)
    assert _snapshot(model) == before
    # fit with the same settings names the same cause.
    with pytest.raises(ValueError, match=LEARNING_RATE_ADVICE):
        Estimator(**HUGE_STEP, **_stepping(Estimator), batch_size=batch_size,
                  random_state=0).fit(X, y)


def test_diverging_exact_stream_call_raises_and_keeps_the_stream():
    # Squared error solves each call's problem to the end, so a diverging
    # call fails on its own; the statistics of its rows must not stay.
    X, y = DIABETES
    model, twin = GradLinearRegression(), GradLinearRegression()
    for estimator in (model, twin):
        estimator.partial_fit(X[:200], y[:200])
    model.set_params(**HUGE_STEP)
    before = _snapshot(model)
    with pytest.raises(ValueError, match=LEARNING_RATE_ADVICE):
        model.partial_fit(X[200:], y[200:])
    assert _snapshot(model) == before
    model.set_params(solver="auto", learning_rate=0.05)
    model.partial_fit(X[200:], y[200:])
    twin.partial_fit(X[200:], y[200:])
    assert _snapshot(model) == _snapshot(twin)


def test_stream_continues_after_a_diverging_call_as_if_it_never_happened():
    # A twin that skipped the failed call is the reference for the state the
    # next call starts from: moments, solver state, iterate, divergence level.
    # Mini-batches, so that the huge steps show within the failing call.
    X, y = DIABETES
    model, twin = (GradLinearRegression(loss="huber", batch_size=64, random_state=0)
                   for _ in range(2))
    for estimator in (model, twin):
        estimator.partial_fit(X[:200], y[:200])
    model.set_params(learning_rate=1e8)
    with pytest.raises(ValueError, match="learning_rate=1e\\+08 is too large"):
        model.partial_fit(X[200:], y[200:])
    model.set_params(learning_rate=0.05)
    model.partial_fit(X[200:], y[200:])
    twin.partial_fit(X[200:], y[200:])
    assert _snapshot(model) == _snapshot(twin)


def test_stream_reference_is_kept_between_calls():
    # The level of the first call, as the engine reported it, rides along.
    X, y = DIABETES
    model = GradLinearRegression(loss="huber").partial_fit(X[:100], y[:100])
    first = model._stream_.reference
    assert first == pytest.approx(model.loss_curve_[0], rel=1e-12)
    model.partial_fit(X[100:], y[100:])
    assert model._stream_.reference == first


@pytest.mark.parametrize("Estimator", [GradLinearRegression, GradLogisticRegression])
@pytest.mark.parametrize("warm_start", [True, False])
def test_diverging_refit_keeps_the_previous_model_exactly(Estimator, warm_start):
    X, y = _data(Estimator)
    model = Estimator(solver="lbfgs", warm_start=warm_start).fit(X[:300], y[:300])
    before = _snapshot(model)
    model.set_params(**HUGE_STEP)
    with pytest.raises(ValueError, match=LEARNING_RATE_ADVICE):
        model.fit(X[100:], y[100:])
    model.set_params(solver="lbfgs", learning_rate=0.05)
    assert _snapshot(model) == before
    check_is_fitted(model)


def test_failed_refit_keeps_the_stream_and_the_feature_names():
    # fit drops the stream and validate_data resets the feature names before
    # the optimisation fails; all of it must come back.
    X, y = DIABETES
    frame = pd.DataFrame(X[:, :6], columns=[f"x{i}" for i in range(6)])
    model = GradLinearRegression(loss="huber").partial_fit(frame, y)
    before = _snapshot(model)
    assert list(model.feature_names_in_) == list(frame.columns)
    model.set_params(**HUGE_STEP)
    with pytest.raises(ValueError, match=LEARNING_RATE_ADVICE):
        model.fit(X, y)  # another width, no names
    model.set_params(solver="auto", learning_rate=0.05)
    assert _snapshot(model) == before
    assert model.n_features_in_ == 6
    model.partial_fit(frame, y)  # the stream continues
    assert model.n_iter_ == 2


@pytest.mark.parametrize("Estimator", [GradLinearRegression, GradLogisticRegression])
def test_first_fit_that_fails_leaves_the_estimator_unfitted(Estimator):
    X, y = _data(Estimator)
    model = Estimator(**HUGE_STEP)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="learning_rate"):
        model.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert _snapshot(model) == before


def test_ukr_refit_with_bad_input_keeps_the_previous_model():
    # n_components > n_features is found after validate_data reset
    # n_features_in_; the private training state must survive too.
    model = _quiet_fit(UKR(n_components=2, max_iter=30), _ukr_data(3))
    before = _snapshot(model)
    with pytest.raises(ValueError, match="n_components"):
        model.fit(_ukr_data(1))
    assert _snapshot(model) == before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert model.transform(_ukr_data(3)[:5]).shape == (5, 2)


def test_ukr_refit_failing_in_the_engine_keeps_the_previous_model(monkeypatch):
    model = _quiet_fit(UKR(n_components=1, max_iter=30), _ukr_data(4))
    before = _snapshot(model)

    def failing(*args, **kwargs):
        raise ValueError("UKR diverged (simulated)")

    monkeypatch.setattr(gradest._base, "minimize", failing)
    with pytest.raises(ValueError, match="simulated"):
        model.fit(_ukr_data(3))
    assert _snapshot(model) == before
    fresh = UKR(n_components=1)
    with pytest.raises(ValueError, match="simulated"):
        fresh.fit(_ukr_data(3))
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)


def _interrupt_in_the_engine(monkeypatch):
    """Make every engine run end in a KeyboardInterrupt, as Ctrl-C would.

    The engine is entered after validate_data has reset the estimator's
    feature attributes, so there is state to restore.
    """

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gradest._base, "minimize", interrupted)


@pytest.mark.parametrize("call", [
    lambda model, X, y: model.fit(X[:, :5], y),
    lambda model, X, y: model.partial_fit(X, y),
], ids=["fit", "partial_fit"])
def test_interrupt_keeps_the_previous_model_and_says_so(monkeypatch, call):
    X, y = DIABETES
    model = GradLinearRegression(warm_start=True).partial_fit(X, y)
    before = _snapshot(model)
    _interrupt_in_the_engine(monkeypatch)
    with pytest.raises(KeyboardInterrupt, match=r"GradLinearRegression\.\w+ was "
                       "interrupted; the estimator is left as it was before this "
                       "call") as caught:
        call(model, X, y)
    assert isinstance(caught.value.__cause__, KeyboardInterrupt)
    assert _snapshot(model) == before


@pytest.mark.parametrize("make", [
    lambda: (GradLogisticRegression(), CANCER),
    lambda: (UKR(n_components=1, max_iter=30), (_ukr_data(3),)),
], ids=["GradLogisticRegression", "UKR"])
def test_interrupted_first_fit_leaves_the_estimator_unfitted(monkeypatch, make):
    model, data = make()
    before = _snapshot(model)
    _interrupt_in_the_engine(monkeypatch)
    with pytest.raises(KeyboardInterrupt, match=f"{type(model).__name__}.fit was "
                       "interrupted; the estimator is left as it was"):
        model.fit(*data)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert _snapshot(model) == before


_SIGINT_SCRIPT = textwrap.dedent("""
    import os, pickle, signal, threading, time
    from sklearn.datasets import load_diabetes
    from gradest import GradLinearRegression

    # Ctrl-C as an interactive Python has it: a suite started in the
    # background (a shell's "&") hands its processes SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    X, y = load_diabetes(return_X_y=True)
    # Steps this small never meet any tolerance: without the interrupt the
    # fit would run for hours.
    endless = dict(solver="gd", learning_rate=1e-9, max_iter=10**9, tol=0.0)
    refit = GradLinearRegression(solver="lbfgs").fit(X, y)
    for estimator in (refit, GradLinearRegression()):
        estimator.set_params(**endless)
        before = {k: pickle.dumps(v) for k, v in vars(estimator).items()}
        sent = []

        def interrupt():
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        try:
            threading.Timer(1.0, interrupt).start()
            estimator.fit(X, y)
        except KeyboardInterrupt as exc:
            latency, message = time.monotonic() - sent[0], str(exc)
        after = {k: pickle.dumps(v) for k, v in vars(estimator).items()}
        print(f"latency={latency:.3f} same={after == before} message={message}")
    # Without Python's teardown: after a compilation cut short by the
    # signal, XLA's can crash it (a segfault at exit in about 1 run in 15 on
    # a loaded machine), which is not what this test is about.
    import sys
    sys.stdout.flush()
    os._exit(0)
""")


def test_real_ctrl_c_stops_a_long_fit_promptly_and_keeps_the_state():
    # A real SIGINT in a child process, so that a late signal cannot hit this
    # test run. The child's fit would otherwise last hours; the bound on the
    # latency is generous enough for a loaded machine.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(gradest._base.__file__)),
         os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _SIGINT_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout
    for line in lines:
        latency, same, message = line.split(" ", 2)
        assert float(latency.removeprefix("latency=")) < 10.0
        assert same == "same=True"
        assert message == ("message=GradLinearRegression.fit was interrupted; the "
                           "estimator is left as it was before this call.")


@pytest.fixture
def default_sigint():
    # Python's own Ctrl-C handler, whatever this suite inherited: started in
    # the background (a shell's "&") it has SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _swallowed_interrupt():
    # What a garbage-collector callback does with the KeyboardInterrupt of a
    # SIGINT that arrives while it runs (jax-ml/jax#18246): drops it.
    try:
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
    except KeyboardInterrupt:
        pass


def test_interrupt_swallowed_during_the_loop_stops_the_fit_at_the_next_chunk(
        default_sigint):
    X, y = load_diabetes(return_X_y=True)
    seen = []

    def callback(history):
        seen.append(history["loss"].size)
        if len(seen) == 1:
            _swallowed_interrupt()
        return False

    # Without the noted interrupt the fit would run all its steps (seconds)
    # and return.
    model = GradLinearRegression(solver="gd", learning_rate=1e-9, max_iter=50_000,
                                 tol=0.0, callbacks=[callback])
    with pytest.raises(KeyboardInterrupt, match="left as it was before"):
        model.fit(X, y)
    assert len(seen) == 1
    assert not hasattr(model, "coef_")
    # Nothing is left noted: the next fit runs to its end.
    assert GradLinearRegression(max_iter=5).fit(X, y).n_iter_ == 5
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupt_swallowed_outside_the_loop_still_ends_the_fit(monkeypatch,
                                                                 default_sigint):
    X, y = load_diabetes(return_X_y=True)
    model = GradLinearRegression(max_iter=5).fit(X, y)
    before = {k: pickle.dumps(v) for k, v in vars(model).items()}
    original = model._penalty_terms

    def penalty_terms():
        _swallowed_interrupt()
        return original()

    monkeypatch.setattr(model, "_penalty_terms", penalty_terms)
    with pytest.raises(KeyboardInterrupt, match="left as it was before"):
        model.set_params(max_iter=7).fit(X, y)
    monkeypatch.undo()
    model.set_params(max_iter=5)
    assert {k: pickle.dumps(v) for k, v in vars(model).items()} == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("Estimator", [GradLinearRegression, GradLogisticRegression])
def test_fitted_arrays_are_numpy_in_the_precision_of_x(Estimator, method, dtype):
    X, y = _data(Estimator)
    model = Estimator(max_iter=20)
    kwargs = _extra(Estimator) if method == "partial_fit" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):  # a second partial_fit call appends to the curve
            getattr(model, method)(X.astype(dtype), y, **kwargs)
    for name in ("coef_", "loss_curve_"):
        value = getattr(model, name)
        assert type(value) is np.ndarray and value.dtype == dtype, name
