"""Sparse input: every method takes SciPy CSR/CSC without densifying, as dense does.

The estimators here standardise explicitly: the default ("auto") leaves
sparse columns unscaled (see tests/test_defaults.py), and these tests check
that the standardised fit of sparse X, whose centring stays implicit, is the
dense one.
"""

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from gradest import GradLinearRegression, GradLogisticRegression
from gradest._engine import matvec, rmatvec, sparse_design, take_rows
from gradest._moments import compute_moments

N_SAMPLES, N_FEATURES = 240, 30
SPARSE_KINDS = [(fmt, container) for fmt in ("csr", "csc")
                for container in ("matrix", "array")]


def _sparse_data(seed=0, n=N_SAMPLES, p=N_FEATURES, density=0.15, dtype=np.float64):
    """Sparse X with uneven columns (one constant, one empty), and a linear score."""
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, p)) * (rng.random((n, p)) < density)
    dense[:, 0] = 3.0  # constant column, stored
    dense[:, 1] = 0.0  # empty column
    dense[:, 2] *= 50  # another scale
    X = sp.csr_array(dense.astype(dtype))
    coef = rng.normal(size=p)
    score = X @ coef
    return X, score, rng


def _as(X, fmt, container):
    X = X.asformat(fmt)
    return (sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)) \
        if container == "matrix" else X


def _dense(X):
    return X.toarray()


def _relative(a, b):
    return np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300)


# Sparse and dense fits take the same steps up to the order of additions;
# L-BFGS converges to the same optimum, whose coordinates differ by about
# cond * eps (the problems here are well conditioned: cond < 1e4).
LBFGS_RTOL = 1e-8


def _problems(rng, score):
    """(estimator, y) pairs: least squares (statistics and rows), Huber, logistic."""
    n = score.shape[0]
    noise = 0.1 * rng.normal(size=(n, 2))
    two_targets = np.column_stack([score, -2 * score + 1]) + noise
    multi = np.digitize(score, np.quantile(score, [0.3, 0.7]))
    return {
        "least_squares": (GradLinearRegression(standardize=True,
                                               solver="lbfgs", alpha=0.1, tol=1e-10),
                          two_targets),
        "huber": (GradLinearRegression(standardize=True,
                                       solver="lbfgs", loss="huber", alpha=0.1,
                                       tol=1e-10), score + rng.standard_t(2, size=n)),
        "logistic": (GradLogisticRegression(standardize=True,
                                            solver="lbfgs", tol=1e-10),
                     score > np.median(score)),
        "multinomial": (GradLogisticRegression(standardize=True,
                                               solver="lbfgs", tol=1e-10), multi),
    }


@pytest.mark.parametrize("fmt, container", SPARSE_KINDS)
@pytest.mark.parametrize("problem", ["least_squares", "huber", "logistic",
                                     "multinomial"])
def test_sparse_fit_equals_dense_fit_lbfgs(problem, fmt, container):
    X, score, rng = _sparse_data()
    estimator, y = _problems(rng, score)[problem]
    weights = rng.uniform(0.2, 3.0, size=X.shape[0])
    Xs = _as(X, fmt, container)
    with warnings.catch_warnings():
        # A tight tol may meet rounding first: the same for both inputs.
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = estimator.fit(_dense(X), y, sample_weight=weights)
        coef, intercept = dense.coef_.copy(), np.copy(dense.intercept_)
        sparse = estimator.fit(Xs, y, sample_weight=weights)
    assert _relative(sparse.coef_, coef) < LBFGS_RTOL
    assert _relative(sparse.intercept_, intercept) < LBFGS_RTOL
    # Every prediction method gives the dense model's answer on sparse rows.
    Xd = _dense(X)
    np.testing.assert_allclose(sparse.predict(Xs) if problem in ("least_squares",
                               "huber") else sparse.decision_function(Xs),
                               sparse.predict(Xd) if problem in ("least_squares",
                               "huber") else sparse.decision_function(Xd),
                               rtol=1e-12, atol=1e-12)
    assert sparse.score(Xs, y) == pytest.approx(sparse.score(Xd, y), rel=1e-12)
    if problem in ("logistic", "multinomial"):
        np.testing.assert_allclose(sparse.predict_proba(Xs), sparse.predict_proba(Xd),
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(sparse.predict(Xs), sparse.predict(Xd))


@pytest.mark.parametrize("solver", ["adam", "gd", "nesterov", "rmsprop", "momentum"])
def test_sparse_first_order_solvers_take_the_dense_steps(solver):
    X, score, rng = _sparse_data(seed=1)
    y = score > np.median(score)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    # A fixed number of steps: the iterates of both inputs are the same up to
    # rounding, step by step (no convergence test to stop either early).
    estimator = GradLogisticRegression(standardize=True,
                                       solver=solver, max_iter=200, tol=0.0,
                                       learning_rate=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = estimator.fit(_dense(X), y, sample_weight=weights).coef_.copy()
        sparse = estimator.fit(X, y, sample_weight=weights).coef_
    assert _relative(sparse, dense) < 1e-9


def test_sparse_adam_converges_to_the_lbfgs_optimum():
    X, score, _ = _sparse_data(seed=2)
    y = score > np.median(score)
    lbfgs = GradLogisticRegression(standardize=True,
                                   solver="lbfgs", tol=1e-10).fit(X, y)
    adam = GradLogisticRegression(standardize=True,
                                  solver="adam", tol=1e-7, max_iter=50000).fit(X, y)
    # tol on the gradient of a problem with curvature >= ~1e-2 (C=1).
    assert _relative(adam.coef_, lbfgs.coef_) < 1e-4


def test_no_densification(monkeypatch):
    """No method ever forms the dense X (only p x p or 1 x p results may be)."""
    X, score, _ = _sparse_data(seed=3)
    n = X.shape[0]

    original = {}
    for cls in (sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array,
                sp.coo_matrix, sp.coo_array):
        for name in ("toarray", "todense"):
            original[cls, name] = getattr(cls, name)

    def refuse(self, name, *args, **kwargs):
        if self.shape[0] >= n // 2:
            raise AssertionError(f"densified a sparse matrix of shape {self.shape}")
        return original[type(self), name](self, *args, **kwargs)

    for cls, name in original:
        monkeypatch.setattr(cls, name, lambda self, *a, _n=name, **k: refuse(
            self, _n, *a, **k))

    for fmt, container in SPARSE_KINDS:
        Xs = _as(X, fmt, container)
        # Least squares on statistics (n >= 4 p) and on rows, Huber on rows.
        for reg in (GradLinearRegression(standardize=True, solver="lbfgs"),
                    GradLinearRegression(standardize=True,
                                         solver="lbfgs", loss="huber"),
                    GradLinearRegression(standardize=True,
                                         solver="adam", batch_size=64, max_iter=5)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                reg.fit(Xs, score)
            reg.predict(Xs)
            reg.score(Xs, score)
            if reg.loss == "squared_error":
                # Exact streaming (statistics) or stochastic steps.
                reg.partial_fit(Xs, score)
        GradLinearRegression(standardize=True, loss="huber").partial_fit(Xs, score)
        y = score > 0
        clf = GradLogisticRegression(standardize=True, solver="lbfgs").fit(Xs, y)
        clf.decision_function(Xs)
        clf.predict_proba(Xs)
        clf.predict_log_proba(Xs)
        clf.score(Xs, y)
        GradLogisticRegression(standardize=True).partial_fit(
            Xs, y, classes=[False, True])
    # The patch is live: densifying X itself is refused.
    with pytest.raises(AssertionError, match="densified"):
        X.toarray()


@pytest.mark.parametrize("estimator", [
    GradLinearRegression(standardize=True, solver="lbfgs"),
    GradLinearRegression(standardize=True, solver="lbfgs", loss="huber"),
    GradLogisticRegression(standardize=True, solver="lbfgs"),
])
def test_float32_sparse_stays_float32(estimator):
    X, score, _ = _sparse_data(seed=4, dtype=np.float32)
    y = score if isinstance(estimator, GradLinearRegression) else score > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = estimator.fit(X, y)
        dense = estimator.fit(_dense(X), y).coef_.copy()
        model = estimator.fit(X, y)
    assert model.coef_.dtype == np.float32
    assert np.asarray(model.intercept_).dtype == np.float32
    out = model.predict(X) if isinstance(model, GradLinearRegression) \
        else model.decision_function(X)
    assert out.dtype == np.float32
    # float32 rounding of the same problem: a few thousand ulps of the optimum.
    assert _relative(model.coef_, dense) < 2e-3


def test_duplicate_entries_are_summed():
    X, score, _ = _sparse_data(seed=5)
    coo = X.tocoo()
    # Each entry stored as two halves: the same matrix, not canonical.
    doubled = sp.csr_array((np.concatenate([coo.data, coo.data]) / 2,
                            (np.concatenate([coo.row, coo.row]),
                             np.concatenate([coo.col, coo.col]))), shape=X.shape)
    doubled = sp.csr_array((doubled.data, doubled.indices, doubled.indptr),
                           shape=X.shape)
    reference = GradLinearRegression(standardize=True,
                                     solver="lbfgs", loss="huber").fit(X, score)
    model = GradLinearRegression(standardize=True,
                                 solver="lbfgs", loss="huber").fit(doubled, score)
    assert _relative(model.coef_, reference.coef_) < LBFGS_RTOL


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_moments_equal_dense_moments(fmt):
    X, _, rng = _sparse_data(seed=6)
    weights = rng.uniform(0.0, 2.0, size=X.shape[0])
    sparse = compute_moments(X.asformat(fmt), weights)
    dense = compute_moments(_dense(X), weights)
    assert sparse.weight == pytest.approx(dense.weight, rel=1e-14)
    assert sparse.count == dense.count
    np.testing.assert_allclose(sparse.mean, dense.mean, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(sparse.m2 * sparse.scale**2, dense.m2 * dense.scale**2,
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(sparse.scale, dense.scale)


def test_design_products_match_the_dense_standardised_matrix():
    X, _, rng = _sparse_data(seed=7)
    n, p = X.shape
    offset, multiplier = rng.normal(size=p), rng.uniform(0.1, 2.0, size=p)
    design = sparse_design(X, offset, multiplier, n_rows=n + 6, n_columns=p + 2,
                           dtype=np.float64)
    dense = np.zeros((n + 6, p + 2))
    dense[:n, :p] = (_dense(X) - offset) * multiplier
    dense[n:, :p] = -offset * multiplier  # padding rows: zero entries
    W = rng.normal(size=(p + 2, 3))
    G = rng.normal(size=(n + 6, 3))
    with jax.enable_x64(True):
        np.testing.assert_allclose(jax.jit(matvec)(design, W), dense @ W, rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(jax.jit(rmatvec)(design, G), dense.T @ G,
                                   rtol=1e-12, atol=1e-12)
        # Autodiff's transpose of the product is rmatvec.
        grad = jax.grad(lambda w: jnp.sum(G * matvec(design, w)))(jnp.asarray(W))
        np.testing.assert_allclose(grad, dense.T @ G, rtol=1e-12, atol=1e-12)
        # A block of rows (a mini-batch), repeated rows and padding rows too.
        rows = jnp.asarray([5, 0, 5, n + 3, n - 1])
        block = take_rows((design,), rows)[0]
        np.testing.assert_allclose(matvec(block, W), dense[np.asarray(rows)] @ W,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("estimator", [
    GradLogisticRegression(standardize=True,
                           solver="adam", batch_size=32, max_iter=15, tol=0.0,
                           random_state=0),
    GradLinearRegression(standardize=True,
                         solver="nesterov", batch_size=50, max_iter=15, tol=0.0,
                         learning_rate=0.01, random_state=0),
])
def test_sparse_mini_batches_take_the_dense_steps(estimator):
    X, score, rng = _sparse_data(seed=8)
    y = score > 0 if isinstance(estimator, GradLogisticRegression) else score
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = estimator.fit(_dense(X), y, sample_weight=weights).coef_.copy()
        sparse = estimator.fit(X.tocsc(), y, sample_weight=weights).coef_
    # The same shuffles and batches: the same steps up to rounding.
    assert _relative(sparse, dense) < 1e-9


@pytest.mark.parametrize("make", [
    # Exact streaming least squares, each call solved to well below 1e-8.
    lambda: GradLinearRegression(standardize=True, solver="lbfgs", tol=1e-12),
    lambda: GradLinearRegression(standardize=True,
                                 loss="huber", batch_size=40, random_state=0),
    lambda: GradLogisticRegression(standardize=True, random_state=0, average=True),
])
def test_sparse_partial_fit_equals_dense_partial_fit(make):
    X, score, _ = _sparse_data(seed=9)
    logistic = isinstance(make(), GradLogisticRegression)
    y = score > 0 if logistic else score
    dense, sparse = make(), make()
    extra = {"classes": [False, True]} if logistic else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for rows in np.array_split(np.arange(X.shape[0]), 4):
            dense.partial_fit(_dense(X[rows]), y[rows], **extra)
            sparse.partial_fit(X[rows], y[rows], **extra)
    assert _relative(sparse.coef_, dense.coef_) < 1e-8


_SPLIT_SCRIPT = """
import json, sys
import jax, numpy as np, scipy.sparse as sp
import gradest._engine.placement as placement
from gradest import GradLinearRegression, GradLogisticRegression
from gradest._engine import SparseDesign

assert jax.device_count() == 2
blocks = []
original = placement.place
def recording_place(rows, replicated, n_rows, **kwargs):
    rows, replicated = original(rows, replicated, n_rows, **kwargs)
    for node in jax.tree.leaves(rows, is_leaf=lambda x: isinstance(x, SparseDesign)):
        if isinstance(node, SparseDesign):
            blocks.append([node.n_blocks, len(node.values.sharding.device_set)])
    return rows, replicated
placement.place = recording_place
X = sp.load_npz(sys.argv[1]); data = np.load(sys.argv[2])
out = {}
out["logistic"] = GradLogisticRegression(standardize=True, solver="lbfgs").fit(
    X, data["y"] > 0, sample_weight=data["w"]).coef_.ravel().tolist()
out["huber"] = GradLinearRegression(standardize=True, solver="lbfgs", loss="huber").fit(
    X, data["y"], sample_weight=data["w"]).coef_.tolist()
out["batches"] = GradLogisticRegression(standardize=True,
                                        batch_size=32, max_iter=5, tol=0.0,
    random_state=0).fit(X, data["y"] > 0).coef_.ravel().tolist()
out["blocks"] = blocks
json.dump(out, sys.stdout)
"""


def test_sparse_rows_split_over_two_devices_equal_one_device_dense(tmp_path):
    import json
    import os
    import subprocess
    import sys

    X, score, rng = _sparse_data(seed=10, n=256)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    sp.save_npz(tmp_path / "X.npz", X)
    np.savez(tmp_path / "data.npz", y=score, w=weights)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _SPLIT_SCRIPT,
         str(tmp_path / "X.npz"), str(tmp_path / "data.npz")],
        env=env, check=True, capture_output=True, text=True)
    out = json.loads(done.stdout)
    # Each design's nonzeros were cut into two blocks, one on each device.
    assert out["blocks"] and all(b == [2, 2] for b in out["blocks"])
    Xd = _dense(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        logistic = GradLogisticRegression(standardize=True, solver="lbfgs").fit(
            Xd, score > 0, sample_weight=weights).coef_.ravel()
        huber = GradLinearRegression(standardize=True,
                                     solver="lbfgs", loss="huber").fit(
            Xd, score, sample_weight=weights).coef_
        batches = GradLogisticRegression(standardize=True,
                                         batch_size=32, max_iter=5, tol=0.0,
                                         random_state=0).fit(Xd, score > 0).coef_
    # The order of additions differs (blocks summed across devices).
    assert _relative(out["logistic"], logistic) < 1e-7
    assert _relative(out["huber"], huber) < 1e-7
    assert _relative(out["batches"], batches.ravel()) < 1e-9


def _host_parts(monkeypatch, n_parts):
    """Host matrices made from now on cut their rows into `n_parts` parts."""
    from gradest._engine import host as sparse

    monkeypatch.setattr(sparse, "_PART_ENTRIES", 1)
    monkeypatch.setattr(sparse, "_host_threads", lambda: n_parts)


@pytest.mark.parametrize("n_parts", [1, 3])
def test_host_parts_compute_the_dense_products(monkeypatch, n_parts):
    from gradest._engine.gram import weighted_gram

    _host_parts(monkeypatch, n_parts)
    X, _, rng = _sparse_data(seed=9)
    n, p = X.shape
    offset, multiplier = rng.normal(size=p), rng.uniform(0.1, 2.0, size=p)
    design = sparse_design(X, offset, multiplier, n_rows=n, n_columns=p,
                           dtype=np.float64)
    assert len(design._host_matrix.parts) == n_parts
    # The parts are the rows, in order, without gaps.
    bounds = [(first, last) for first, last, _ in design._host_matrix.parts]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert all(part.shape[0] == last - first
               for first, last, part in design._host_matrix.parts)
    dense = (_dense(X) - offset) * multiplier
    W, G, h = rng.normal(size=(p, 2)), rng.normal(size=(n, 2)), rng.uniform(size=n)
    columns = np.array([7, -1, 2, 29, 0])
    used = columns >= 0
    with jax.enable_x64(True):
        for _ in range(2):  # the second time from memory
            np.testing.assert_allclose(jax.jit(matvec)(design, W), dense @ W,
                                       rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(jax.jit(rmatvec)(design, G), dense.T @ G,
                                       rtol=1e-12, atol=1e-12)
            gram, shares, total = jax.jit(weighted_gram)(design, columns, h)
            assert float(total) == pytest.approx(h.sum(), rel=1e-13)
            block = dense[:, columns[used]]
            np.testing.assert_allclose(np.asarray(gram)[np.ix_(used, used)],
                                       block.T @ (h[:, None] * block), rtol=1e-12,
                                       atol=1e-12)
            np.testing.assert_allclose(np.asarray(shares)[used], block.T @ h,
                                       rtol=1e-12, atol=1e-12)
            assert np.all(np.asarray(gram)[~used] == 0)
        # A changed operand is computed afresh, not answered from memory.
        np.testing.assert_allclose(jax.jit(matvec)(design, 2 * W), dense @ (2 * W),
                                   rtol=1e-12, atol=1e-12)
        gram, _, _ = jax.jit(weighted_gram)(design, columns[::-1], 3 * h)
        block = dense[:, columns[::-1][used[::-1]]]
        np.testing.assert_allclose(np.asarray(gram)[np.ix_(used[::-1], used[::-1])],
                                   block.T @ (3 * h[:, None] * block), rtol=1e-12,
                                   atol=1e-12)


def test_memo_answers_only_the_same_operand():
    from gradest._engine.host import _HostMatrix

    holder = _HostMatrix(sp.csr_array(np.eye(3)))
    calls = []

    def compute(value):
        calls.append(value)
        return value

    key = np.array([1.0, 2.0])
    assert holder.memo("product", key, lambda: compute(1)) == 1
    key[0] = 5.0  # the caller reuses its buffer: the memo holds a copy
    assert holder.memo("product", key, lambda: compute(2)) == 2
    assert holder.memo("product", np.array([5.0, 2.0]), lambda: compute(3)) == 2
    # Each kind has its own entry.
    assert holder.memo("transposed", key, lambda: compute(4)) == 4
    assert calls == [1, 2, 4]


def test_l1_fit_is_the_same_with_host_parts(monkeypatch):
    X, score, _ = _sparse_data(seed=10, n=600, p=80)
    y = score > np.median(score)
    kwargs = dict(penalty="l1", C=0.5, solver="prox-newton", tol=1e-10)
    one = GradLogisticRegression(standardize=True, **kwargs).fit(X, y)
    _host_parts(monkeypatch, 3)
    three = GradLogisticRegression(standardize=True, **kwargs).fit(X, y)
    np.testing.assert_array_equal(one.coef_ != 0, three.coef_ != 0)
    # Parts add the transposed product's shares in another order: rounding.
    np.testing.assert_allclose(three.coef_, one.coef_, rtol=0,
                               atol=1e-8 * np.abs(one.coef_).max())
