"""Training control: learning-rate schedules, early stopping, history, callbacks."""

import warnings

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDRegressor
from sklearn.model_selection import GridSearchCV, train_test_split

from gradest import UKR, GradLinearRegression, GradLogisticRegression
from gradest._engine import Problem, Settings, minimize
from gradest._engine.data import precision
from gradest._engine.loop import run_chunk

DIABETES = load_diabetes(return_X_y=True)


def quietly(estimator, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args)


def _least_squares(params, data, weights, hyper):
    X, y = data
    residual = X @ params["w"] - y
    return jnp.sum(weights * 0.5 * residual**2) / jnp.sum(weights)


def _quadratic_problem(n=64, p=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) + 0.1 * rng.normal(size=n)
    return Problem(_least_squares, {"w": np.zeros(p)}, (X, y), np.ones(n))


# --- schedules -------------------------------------------------------------


@pytest.mark.parametrize("power_t", [0.25, 0.5])
def test_invscaling_iterates_match_sgd_regressor(power_t):
    # SGDRegressor's squared_error is 0.5 (p - y)^2 and its step
    # eta0 / t ** power_t counts samples from t = 1; batch_size=1 in order
    # without standardisation is the same sequence of steps.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=20)
    for n_epochs in [1, 2, 5]:
        sgd = SGDRegressor(learning_rate="invscaling", eta0=0.05, power_t=power_t,
                           penalty=None, shuffle=False, max_iter=n_epochs,
                           tol=None).fit(X, y)
        ours = quietly(GradLinearRegression(
            solver="gd", learning_rate=0.05, learning_rate_schedule="invscaling",
            power_t=power_t, batch_size=1, shuffle=False, standardize=False,
            max_iter=n_epochs, tol=0), X, y)
        # The same float64 operations in a different order: rounding only.
        np.testing.assert_allclose(ours.coef_, sgd.coef_, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ours.intercept_, sgd.intercept_[0], rtol=1e-12)


def test_adaptive_iterates_and_stop_match_sgd_regressor():
    # SGDRegressor's "adaptive" compares the epoch's summed loss with the best
    # by tol * n_samples, ours the mean by tol * max(1, |best|): the same test
    # while the mean loss is below 1, as here (0.04 to 0.14).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = 0.3 * (X @ np.array([1.5, -2.0, 0.5])) + 0.1 + 0.3 * rng.normal(size=20)
    for max_iter in [10, 60]:
        sgd = quietly(SGDRegressor(
            learning_rate="adaptive", eta0=0.3, penalty=None, shuffle=False,
            max_iter=max_iter, tol=1e-3, n_iter_no_change=2), X, y)
        ours = quietly(GradLinearRegression(
            solver="gd", learning_rate=0.3, learning_rate_schedule="adaptive",
            batch_size=1, shuffle=False, standardize=False, max_iter=max_iter,
            tol=1e-3, n_iter_no_change=2), X, y)
        assert ours.n_iter_ == sgd.n_iter_
        np.testing.assert_allclose(ours.coef_, sgd.coef_, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ours.intercept_, sgd.intercept_[0], rtol=1e-12)
    # The fit ended by the rule (rate at most 1e-6), before max_iter.
    assert ours.n_iter_ < 60 and ours.history_["learning_rate"][-1] <= 1e-6


def test_invscaling_with_power_zero_is_the_constant_schedule_bit_for_bit():
    X, y = DIABETES
    constant = quietly(GradLinearRegression(max_iter=50), X, y)
    flat = quietly(GradLinearRegression(
        max_iter=50, learning_rate_schedule="invscaling", power_t=0.0), X, y)
    np.testing.assert_array_equal(flat.coef_, constant.coef_)
    np.testing.assert_array_equal(flat.loss_curve_, constant.loss_curve_)


def _optax_rates(schedule, steps):
    # optax evaluates the schedule in float64 under the engine's precision.
    with precision(np.float64):
        return np.array([float(schedule(int(t))) for t in steps])


@pytest.mark.parametrize("batch_size", [None, 16])
def test_cosine_schedules_follow_optax(batch_size):
    problem = _quadratic_problem()
    n_batches = 1 if batch_size is None else -(-64 // batch_size)
    max_iter = 40
    total = max_iter * n_batches
    # The rate recorded for an iteration is that of its last step.
    last_steps = np.arange(1, max_iter + 1) * n_batches - 1
    expected = {
        "cosine": optax.cosine_decay_schedule(0.1, decay_steps=total),
        "warmup_cosine": optax.warmup_cosine_decay_schedule(
            0.0, 0.1, warmup_steps=total // 4, decay_steps=total),
    }
    for kind, schedule in expected.items():
        settings = Settings(solver="gd", learning_rate=0.1, max_iter=max_iter,
                            batch_size=batch_size, schedule=kind,
                            warmup_fraction=0.25, fixed_steps=True, random_state=0)
        result = minimize(problem, settings)
        np.testing.assert_allclose(result.records["learning_rate"],
                                   _optax_rates(schedule, last_steps),
                                   rtol=1e-12, atol=1e-15)


def _replay_adaptive(losses, learning_rate, tol, n_iter_no_change):
    """scikit-learn's "adaptive" rule replayed on a recorded objective."""
    rates, rate, best, count = [], learning_rate, np.inf, 0
    for value in losses:
        if value < best - tol * max(abs(best), 1) or not np.isfinite(best):
            count = 0
        else:
            count += 1
        best = min(best, value)
        if count >= n_iter_no_change and rate > 1e-6:
            rate, count = rate / 5, 0
        rates.append(rate)
    return np.array(rates)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_adaptive_divides_the_rate_as_a_replay_of_its_rule(batch_size):
    # A rate too large for the smallest curvature makes the objective hover:
    # the rule must divide it, and the rate after each iteration is a
    # function of the recorded objective alone.
    problem = _quadratic_problem()
    settings = Settings(solver="gd", learning_rate=1.9, max_iter=300, tol=1e-3,
                        batch_size=batch_size, schedule="adaptive",
                        n_iter_no_change=3, random_state=0)
    result = minimize(problem, settings)
    rates = result.records["learning_rate"]
    assert rates.min() < 1.9
    # XLA may divide by 5 as a product with 0.2: an ulp per division.
    np.testing.assert_allclose(
        rates, _replay_adaptive(result.records["loss"], 1.9, 1e-3, 3), rtol=1e-14)


def test_schedule_numbers_do_not_recompile():
    X, y = DIABETES
    kinds = ["invscaling", "cosine", "warmup_cosine", "adaptive"]
    for kind in kinds:
        quietly(GradLinearRegression(max_iter=30, learning_rate_schedule=kind), X, y)
    compiled = run_chunk._cache_size()
    # A grid over learning_rate x power_t (x warmup_fraction) reuses the
    # compiled loop of each kind.
    for kind in kinds:
        for learning_rate in [0.01, 0.2]:
            for number in [0.1, 0.6]:
                quietly(GradLinearRegression(
                    max_iter=30, learning_rate=learning_rate, power_t=number,
                    warmup_fraction=number, learning_rate_schedule=kind), X, y)
    assert run_chunk._cache_size() == compiled


def test_a_search_over_schedule_numbers_and_folds_compiles_once():
    X, y = DIABETES
    model = GradLinearRegression(max_iter=30, learning_rate_schedule="invscaling",
                                 early_stopping=True, random_state=0)
    quietly(model, X[:300], y[:300])
    compiled = run_chunk._cache_size()
    search = GridSearchCV(model, {"learning_rate": [0.01, 0.1],
                                  "power_t": [0.1, 0.5]}, cv=3)
    # Folds of 294 and 295 rows, their held-out 10% and the refit on all
    # 442 rows share one bucket of row counts with the first fit.
    quietly(search, X, y)
    assert run_chunk._cache_size() == compiled


def test_logistic_regression_takes_schedules():
    X, y = load_diabetes(return_X_y=True)
    labels = y > np.median(y)
    reference = quietly(GradLogisticRegression(solver="lbfgs"), X, labels)
    gaps = {}
    for kind in ["constant", "cosine"]:
        clf = quietly(GradLogisticRegression(solver="adam", learning_rate_schedule=kind,
                                             max_iter=1000), X, labels)
        gaps[kind] = clf.loss_curve_[-1] - reference.loss_curve_[-1]
    # Decaying to 0 at max_iter, the cosine schedule still ends near the
    # optimum (the coefficients of these collinear features are ill-determined,
    # the objective is not), and differs from constant steps.
    assert 0 <= gaps["cosine"] < 1e-6
    assert gaps["cosine"] != gaps["constant"]


# --- early stopping --------------------------------------------------------


def _noisy_regression(n=400, p=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    return X, X[:, :3] @ np.array([1.5, -2.0, 1.0]) + 2.0 * rng.normal(size=n)


def _replay_early_stopping(scores, tol, n_iter_no_change):
    """MLPClassifier's rule on recorded scores: (stop, best iteration, best)."""
    best, best_iter, count = -np.inf, 0, 0
    for iteration, score in enumerate(scores, start=1):
        count = 0 if score > best + tol else count + 1
        if score > best:
            best, best_iter = score, iteration
        if count >= n_iter_no_change:
            return iteration, best_iter, best
    return len(scores), best_iter, best


@pytest.mark.parametrize("batch_size, solver", [(16, "adam"), (None, "gd")])
def test_early_stopping_picks_the_best_iteration_of_its_scores(batch_size, solver):
    X, y = _noisy_regression(n=120, p=60)
    tol = 1e-4
    with warnings.catch_warnings():
        # Stopping for want of improvement is a normal end.
        warnings.simplefilter("error", ConvergenceWarning)
        reg = GradLinearRegression(
            solver=solver, batch_size=batch_size, learning_rate=0.01,
            early_stopping=True, n_iter_no_change=5, tol=tol,
            random_state=0).fit(X, y)
    scores = reg.validation_scores_
    assert scores.shape == (reg.n_iter_,)
    stop, best_iter, best = _replay_early_stopping(scores, tol, 5)
    # 60 features for 108 training rows: the validation score peaks, then
    # falls as the fit learns the noise.
    assert best_iter < stop < 10000
    assert (reg.n_iter_, reg.best_iter_) == (stop, best_iter)
    assert reg.best_validation_score_ == best


def test_early_stopping_returns_the_best_iterate():
    X, y = _noisy_regression()
    params = dict(batch_size=16, learning_rate=0.01, early_stopping=True,
                  tol=1e-4, random_state=0)
    reg = GradLinearRegression(**params).fit(X, y)
    assert reg.best_iter_ < reg.n_iter_
    # The same split and shuffles, stopped at the best iteration: its
    # iterate is the one returned.
    at_best = quietly(GradLinearRegression(**params, max_iter=reg.best_iter_), X, y)
    np.testing.assert_array_equal(reg.coef_, at_best.coef_)
    np.testing.assert_array_equal(reg.intercept_, at_best.intercept_)
    # Scored in the user's units on scikit-learn's split, the returned
    # model has the best score recorded in standardised units.
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.1, random_state=0)
    np.testing.assert_allclose(reg.score(X_val, y_val), reg.best_validation_score_,
                               rtol=1e-10)


def test_classifier_early_stopping_scores_accuracy_on_a_stratified_split():
    X, y = _noisy_regression()
    labels = np.where(y > 1.5, "high", "low")  # unbalanced: 30% high
    clf = GradLogisticRegression(batch_size=16, early_stopping=True,
                                 validation_fraction=0.2, random_state=3).fit(X, labels)
    _, X_val, _, y_val = train_test_split(X, labels, test_size=0.2,
                                          stratify=labels, random_state=3)
    assert clf.best_validation_score_ == clf.score(X_val, y_val)
    assert clf.best_validation_score_ == clf.validation_scores_.max()
    # Accuracies of 80 rows.
    np.testing.assert_allclose(clf.validation_scores_ * 80,
                               np.round(clf.validation_scores_ * 80), atol=1e-9)


def test_without_early_stopping_there_are_no_validation_scores():
    X, y = _noisy_regression(n=60, p=3)
    reg = GradLinearRegression(solver="lbfgs").fit(X, y)
    assert reg.validation_scores_ is None
    assert reg.best_validation_score_ is None and reg.best_iter_ is None


def test_early_stopping_names_an_impossible_split():
    X = np.arange(20.0).reshape(10, 2)
    labels = np.array([0] * 9 + [1])
    with pytest.raises(ValueError, match="early_stopping=True holds out"):
        GradLogisticRegression(early_stopping=True).fit(X, labels)


# --- history and callbacks -------------------------------------------------

HISTORY_KEYS = {"loss", "validation_score", "learning_rate", "time"}


def _check_history(history, n_iter, dtype):
    assert set(history) == HISTORY_KEYS
    for key, values in history.items():
        assert isinstance(values, np.ndarray) and values.shape == (n_iter,)
        assert values.dtype == (np.float64 if key == "time" else dtype)
    assert np.all(np.diff(history["time"]) >= 0) and history["time"][0] >= 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_history_of_a_full_batch_fit(dtype):
    X, y = DIABETES
    reg = quietly(GradLinearRegression(solver="adam", max_iter=300,
                                       learning_rate_schedule="cosine"),
                  X.astype(dtype), y.astype(dtype))
    _check_history(reg.history_, reg.n_iter_, dtype)
    np.testing.assert_array_equal(reg.history_["loss"], reg.loss_curve_)
    assert np.all(np.isnan(reg.history_["validation_score"]))
    steps = np.arange(reg.n_iter_)
    expected = 0.5 * 0.05 * (1 + np.cos(np.pi * steps / 300))
    # 1 + cos cancels near the end: rounding is relative to eta0 there.
    np.testing.assert_allclose(reg.history_["learning_rate"], expected,
                               rtol=0, atol=10 * np.finfo(dtype).eps * 0.05)


def test_history_with_early_stopping_holds_the_validation_scores():
    X, y = _noisy_regression()
    labels = y > 0
    clf = GradLogisticRegression(batch_size=16, early_stopping=True, random_state=0,
                                 learning_rate_schedule="invscaling").fit(X, labels)
    _check_history(clf.history_, clf.n_iter_, np.float64)
    np.testing.assert_array_equal(clf.history_["validation_score"],
                                  clf.validation_scores_)
    # The rate of each epoch's last step: 23 batches of 16 of the 360 rows.
    last_steps = np.arange(1, clf.n_iter_ + 1) * 23
    np.testing.assert_allclose(clf.history_["learning_rate"],
                               0.05 / last_steps**0.25, rtol=1e-12)


def test_history_of_lbfgs_has_no_learning_rate_and_partial_fit_appends():
    X, y = DIABETES
    reg = GradLinearRegression(solver="lbfgs").fit(X, y)
    _check_history(reg.history_, reg.n_iter_, np.float64)
    assert np.all(np.isnan(reg.history_["learning_rate"]))
    stream = GradLinearRegression(loss="huber", batch_size=32)
    for chunk in np.array_split(np.arange(len(y)), 3):
        stream.partial_fit(X[chunk], y[chunk])
    _check_history(stream.history_, stream.n_iter_, np.float64)
    assert stream.n_iter_ == 3
    np.testing.assert_array_equal(stream.history_["loss"], stream.loss_curve_)


def test_ukr_history_and_latent_history():
    t = np.linspace(0, 3, 40)
    X = np.c_[np.cos(t), np.sin(t), t]
    # From PCA's start, which adam improves on; the default start (the
    # better of PCA and Isomap) is already near the optimum of this curve.
    ukr = quietly(UKR(n_components=1, solver="adam", max_iter=30, tol=0,
                      init="pca", record_history=True), X)
    _check_history(ukr.history_, ukr.n_iter_, np.float64)
    np.testing.assert_array_equal(ukr.history_["loss"], ukr.loss_curve_)
    np.testing.assert_array_equal(ukr.history_["learning_rate"], 0.1)
    assert ukr.latent_history_.shape == (ukr.n_iter_ + 1, 40, 1)
    assert not hasattr(UKR(n_components=1).fit(X), "latent_history_")


def test_a_callback_stops_the_fit_cleanly():
    X, y = _noisy_regression(n=2000, p=20)
    seen = []

    def stop_after_50(history):
        seen.append(len(history["loss"]))
        return len(history["loss"]) >= 50

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = GradLinearRegression(solver="gd", learning_rate=1e-3, tol=0,
                                   callbacks=[stop_after_50]).fit(X, y)
    # Called between chunks with the history so far; the fit ends at the
    # first chunk boundary past 50 iterations, with the parameters there.
    assert seen[-1] == reg.n_iter_ >= 50 and reg.n_iter_ < 10000
    assert seen == sorted(seen) and len(seen) >= 2
    at_stop = quietly(GradLinearRegression(solver="gd", learning_rate=1e-3, tol=0,
                                           max_iter=reg.n_iter_), X, y)
    np.testing.assert_array_equal(reg.coef_, at_stop.coef_)


def test_callbacks_that_do_not_stop_change_nothing():
    X, y = DIABETES
    calls = []
    plain = quietly(GradLinearRegression(max_iter=500), X, y)
    watched = quietly(GradLinearRegression(
        max_iter=500, callbacks=[lambda history: calls.append(dict(history))]), X, y)
    np.testing.assert_array_equal(plain.coef_, watched.coef_)
    assert calls and set(calls[-1]) == HISTORY_KEYS


def test_callbacks_must_be_callable():
    X, y = DIABETES
    with pytest.raises(TypeError, match="callbacks must be a list of callables"):
        GradLinearRegression(callbacks=["stop"]).fit(X, y)
