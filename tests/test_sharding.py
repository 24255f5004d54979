"""One fit over several devices: rows split across two CPU devices in a subprocess."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes

from gradest import GradLinearRegression, GradLogisticRegression
from gradest._engine.placement import place

# Runs with two CPU devices: records how the engine placed the data, fits the
# estimators and evaluates UKR's objective and gradient on split rows.
_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    from sklearn.datasets import load_breast_cancer, load_diabetes
    import gradest._engine.placement as placement
    from gradest import GradLinearRegression, GradLogisticRegression
    from gradest._engine.placement import place
    from gradest.ukr._reconstruction import UKRObjective as _UKRObjective

    assert jax.device_count() == 2
    placed = []
    def recording_place(rows, replicated, n_rows, **kwargs):
        rows, replicated = place(rows, replicated, n_rows, **kwargs)
        placed.extend(len(leaf.sharding.device_set) for leaf in jax.tree.leaves(rows))
        return rows, replicated
    placement.place = recording_place
    # Least squares would go through its sufficient statistics, which have
    # no rows to split: exercise the rows here.
    import gradest.linear_model._fit as fit_module
    fit_module.use_statistics = lambda *args: False

    out = {}
    X, y = load_diabetes(return_X_y=True)
    out["regression"] = GradLinearRegression(solver="lbfgs").fit(X, y).coef_.tolist()
    X, y = load_breast_cancer(return_X_y=True)
    model = GradLogisticRegression(solver="lbfgs").fit(X, y)
    out["logistic"] = model.coef_.ravel().tolist()
    out["devices_per_data_array"] = sorted(set(placed))

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(64, 2)); Xu = rng.normal(size=(64, 3)); w = np.ones(64)
    objective = _UKRObjective("gaussian", "squared_error", True)
    hyper = {"alpha": 0.0, "epsilon": 0.1}
    value_and_grad = jax.jit(jax.value_and_grad(objective))
    with jax.enable_x64(True):
        (Xs, ws), Zs = place((Xu, w), Z, 64, shard=True)
        split_value, split_grad = value_and_grad(Zs, Xs, ws, hyper)
        whole_value, whole_grad = value_and_grad(
            jnp.asarray(Z), jnp.asarray(Xu), jnp.asarray(w), hyper)
        out["ukr_devices"] = len(Xs.sharding.device_set)
        out["ukr_value"] = [float(split_value), float(whole_value)]
        out["ukr_grad_diff"] = float(jnp.max(jnp.abs(split_grad - whole_grad)))
        out["ukr_grad_scale"] = float(jnp.max(jnp.abs(whole_grad)))
    json.dump(out, sys.stdout)
""")


def test_fits_split_over_two_devices_equal_one_device_fits():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, check=True,
                          capture_output=True, text=True)
    out = json.loads(done.stdout)
    # Every per-sample array was split over both devices.
    assert out["devices_per_data_array"] == [2]
    X, y = load_diabetes(return_X_y=True)
    single = GradLinearRegression(solver="lbfgs").fit(X, y)
    np.testing.assert_allclose(out["regression"], single.coef_, rtol=1e-6)
    X, y = load_breast_cancer(return_X_y=True)
    single = GradLogisticRegression(solver="lbfgs").fit(X, y)
    np.testing.assert_allclose(out["logistic"], single.coef_.ravel(), rtol=1e-5)
    # UKR's objective couples all rows; split rows give the same value and
    # gradient up to the order of additions.
    assert out["ukr_devices"] == 2
    split, whole = out["ukr_value"]
    assert split == np.float64(whole) or abs(split - whole) < 1e-12 * abs(whole)
    assert out["ukr_grad_diff"] <= 1e-12 * out["ukr_grad_scale"]


def test_single_device_placement_is_plain():
    rows, replicated = place((np.ones((6, 2)), np.ones(6)), np.zeros(3), 6)
    assert all(len(a.sharding.device_set) == 1 for a in (*rows, replicated))
