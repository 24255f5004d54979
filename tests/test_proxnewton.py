"""The proximal Newton solver: its Hessian blocks, and its fits against references."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.exceptions import ConvergenceWarning

from gradest import GradLinearRegression, GradLogisticRegression
from gradest._engine import resolve_solver, sparse_design
from gradest._engine.loop import Layout
from gradest._penalties import penalty_spec
from gradest.linear_model._objective import LinearObjective
from gradest.linear_model._statistics import StatisticsObjective


def _problem(seed=0, n=60, p=7, density=0.4):
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, p)) * (rng.random((n, p)) < density)
    dense[:, 3] *= 20
    y = (dense @ rng.normal(size=p) + rng.logistic(size=n) > 0).astype(float)
    weights = rng.uniform(0.5, 2.0, size=n)
    params = {"coef": rng.normal(size=(p, 1)) * 0.3, "intercept": np.array([0.2])}
    return dense, y[:, None], weights, params, rng


def _hessian(objective, params, data, weights):
    layout = Layout.of(params)

    def value(flat):
        return objective(layout.unflatten(flat), data, weights, {})

    with jax.enable_x64(True):
        return np.asarray(jax.hessian(value)(jnp.asarray(layout.flatten(
            params, np.float64))))


@pytest.mark.parametrize("kind", ["dense", "sparse on host", "sparse in blocks"])
@pytest.mark.parametrize("loss", ["log_loss", "squared_error", "poisson"])
def test_hessian_block_equals_autodiff_hessian(kind, loss):
    dense, y, weights, params, rng = _problem()
    if loss == "poisson":
        y = rng.poisson(1.0, size=y.shape).astype(float)
    offset = rng.normal(size=dense.shape[1])
    multiplier = rng.uniform(0.5, 2.0, size=dense.shape[1])
    # The reference: autodiff's Hessian on the dense matrix the design stands for.
    X = (dense - offset) * multiplier
    objective = LinearObjective(loss)
    full = _hessian(objective, params, (X, y), weights)
    if kind != "dense":
        X = sparse_design(sp.csr_array(dense), offset, multiplier,
                          n_rows=dense.shape[0], n_columns=dense.shape[1],
                          dtype=np.float64)
        # The segment sums' route, which row blocks (several devices) take.
        X.on_host = kind == "sparse on host"
    # Coefficients in any order, the intercept (index 7), and unused slots.
    index = np.array([5, 7, 0, -1, 3, 6, -1])
    with jax.enable_x64(True):
        block = np.asarray(jax.jit(
            lambda params, X, index: objective.hessian_block(
                params, (X, y), weights, {}, index))(params, X, index))
    used = index >= 0
    np.testing.assert_allclose(block[np.ix_(used, used)],
                               full[np.ix_(index[used], index[used])],
                               rtol=1e-12, atol=1e-12 * np.abs(full).max())
    assert np.all(block[~used] == 0) and np.all(block[:, ~used] == 0)


def test_statistics_hessian_block_equals_autodiff_hessian():
    rng = np.random.default_rng(1)
    p = 5
    A = rng.normal(size=(p, p))
    data = tuple(np.asarray(a) for a in (A @ A.T, rng.normal(size=(p, 1)),
                                          np.array(3.0), rng.normal(size=(1, p)),
                                          rng.normal(size=(1,))))
    params = {"coef": rng.normal(size=(p, 1)), "intercept": np.array([0.4])}
    objective = StatisticsObjective()
    full = _hessian(objective, params, data, np.ones(1))
    index = np.array([5, 2, -1, 0])
    with jax.enable_x64(True):
        block = np.asarray(objective.hessian_block(params, data, np.ones(1), {},
                                                   jnp.asarray(index)))
    used = index >= 0
    np.testing.assert_allclose(block[np.ix_(used, used)],
                               full[np.ix_(index[used], index[used])], rtol=1e-13)
    assert np.all(block[~used] == 0)


def test_auto_is_prox_newton_where_the_objective_has_curvature():
    assert resolve_solver("auto", smooth=False, full_batch=True,
                          curvature=True) == "prox-newton"
    assert resolve_solver("auto", smooth=False, full_batch=True,
                          curvature=False) == "fista"
    assert resolve_solver("auto", smooth=True, full_batch=True,
                          curvature=True) == "adam"


def test_prox_newton_refuses_a_multinomial_model_and_leaves_the_estimator():
    X, y = load_wine(return_X_y=True)
    model = GradLogisticRegression(penalty="l1", solver="prox-newton")
    with pytest.raises(ValueError, match=r"prox-newton.*one output column"):
        model.fit(X, y)
    assert not hasattr(model, "coef_")


def test_prox_newton_equals_fista_on_l1_logistic_with_weights():
    X, y = load_breast_cancer(return_X_y=True)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=y.shape[0])
    fits = {}
    for solver in ["prox-newton", "fista"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[solver] = GradLogisticRegression(
                penalty="l1", C=0.5, solver=solver, max_iter=20000).fit(
                X, y, sample_weight=weights)
    newton, fista = fits["prox-newton"], fits["fista"]
    np.testing.assert_array_equal(newton.coef_ != 0, fista.coef_ != 0)
    assert 0 < np.count_nonzero(newton.coef_) < X.shape[1]
    # Newton converges in few iterations where FISTA needs hundreds.
    assert np.max(newton.n_iter_) * 10 < np.max(fista.n_iter_)
    # The coefficients of correlated columns (radius and perimeter) are ill
    # conditioned; the objective, which both minimise to a subdifferential
    # residual of 1e-9 per unit weight, is not.
    scale = X.std(axis=0)

    def objective(model):
        z = model.decision_function(X)
        losses = np.logaddexp(0, z) - y * z
        return 0.5 * weights @ losses + np.abs(model.coef_ * scale).sum()

    assert abs(objective(newton) - objective(fista)) <= 1e-9 * objective(fista)


def test_prox_newton_sparse_equals_dense():
    rng = np.random.default_rng(3)
    n, p = 1000, 300
    X = sp.random_array((n, p), density=0.05, rng=rng, format="csr")
    y = X @ rng.normal(size=p) + 0.1 * rng.normal(size=n)
    # Standardised explicitly ("auto" leaves sparse columns as they are).
    kwargs = dict(penalty="elasticnet", alpha=1e-3, l1_ratio=0.9,
                  solver="prox-newton", standardize=True)
    sparse = GradLinearRegression(**kwargs).fit(X, y)
    dense = GradLinearRegression(**kwargs).fit(X.toarray(), y)
    np.testing.assert_array_equal(sparse.coef_ != 0, dense.coef_ != 0)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0,
                               atol=1e-7 * np.abs(dense.coef_).max())


def _l1_residual(params, grad):
    """The loop's residual for an L1 penalty of strength 1 on every coordinate."""
    return penalty_spec("l1").residual(params, grad, {"l1_strength": 1.0})


def test_working_set_keeps_the_support_then_the_worst_violators():
    from gradest._engine.proxnewton import _working_set

    params = jnp.array([0.0, 1.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.5])
    grad = jnp.array([0.5, 0.0, 3.0, 0.1, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    penalized = jnp.arange(10) < 9  # the last is an intercept
    index, active, largest = _working_set(params, _l1_residual(params, grad),
                                          penalized, 8)
    chosen = set(np.asarray(index)[np.asarray(active)].tolist())
    # The nonzeros and the intercept, then the zeros whose gradient exceeds
    # l1 (2 and 5); 0 and 3 are optimal at 0 (|grad| <= l1).
    assert chosen == {1, 4, 9, 2, 5}
    assert float(largest) == 2.0
    # More nonzeros than three quarters of the set: the worst of all.
    params = jnp.arange(1.0, 11.0)
    grad = jnp.linspace(-3.0, 0.0, 10)
    index, active, _ = _working_set(params, _l1_residual(params, grad),
                                    penalized, 4)
    residual = np.abs(np.asarray(grad) + 1.0)
    assert set(np.asarray(index)[np.asarray(active)].tolist()) == set(
        np.argsort(-residual)[:4].tolist())


@pytest.mark.parametrize("n_positive", [0, 5, 30, 200])
def test_largest_equals_top_k_of_the_positive_scores(n_positive):
    from gradest._engine.proxnewton import _POOL_FACTOR, _largest

    rng = np.random.default_rng(n_positive)
    size, n = 8, 2000
    # Few positives are gathered first; more than the pool take a full sort.
    assert (n_positive <= _POOL_FACTOR * size) == (n_positive < 200)
    score = -rng.uniform(size=n)
    score[rng.choice(n, n_positive, replace=False)] = rng.uniform(0.1, 1, n_positive)
    with jax.enable_x64(True):
        values, index = jax.jit(_largest, static_argnums=1)(jnp.asarray(score), size)
    values, index = np.asarray(values), np.asarray(index)
    expected = np.sort(score)[::-1][:size]
    np.testing.assert_array_equal(values, np.maximum(expected, 0))
    found = values > 0
    np.testing.assert_array_equal(score[index[found]], values[found])
    assert np.all(index[~found] == 0)
    assert len(set(index[found].tolist())) == found.sum()
