"""What ``import gradest`` loads and sets: not optax, which the first fit imports."""

import os
import subprocess
import sys


def _printed_by_fresh_process(script, env=None):
    """The words a new Python process running `script` prints."""
    return subprocess.run([sys.executable, "-W", "ignore", "-c", script], check=True,
                          capture_output=True, text=True, env=env).stdout.split()


def test_import_gradest_leaves_optax_for_the_first_fit():
    script = ("import sys, gradest; print('optax' in sys.modules); "
              "import numpy as np; "
              "gradest.GradLinearRegression(solver='adam', max_iter=3)"
              ".fit(np.arange(8.0)[:, None], np.arange(8.0)); "
              "print('optax' in sys.modules)")
    assert _printed_by_fresh_process(script) == ["False", "True"]


def test_lbfgs_fits_of_a_convex_objective_never_import_optax():
    # The engine's own L-BFGS runs without it; its fits still solve the problem.
    script = (
        "import sys, numpy as np, gradest\n"
        "from sklearn.datasets import load_diabetes\n"
        "from sklearn.linear_model import LinearRegression\n"
        "X, y = load_diabetes(return_X_y=True)\n"
        "ours = gradest.GradLinearRegression(solver='lbfgs', tol=1e-12).fit(X, y)\n"
        "theirs = LinearRegression().fit(X, y)\n"
        "print('optax' in sys.modules, np.allclose(ours.coef_, theirs.coef_, "
        "rtol=1e-6, atol=1e-6 * np.abs(theirs.coef_).max()))")
    assert _printed_by_fresh_process(script) == ["False", "True"]


def test_thread_limit_of_one_turns_off_xla_thread_pool_unless_flags_decide():
    from gradest._engine.placement import follow_thread_limit

    environ = {"OMP_NUM_THREADS": "1"}
    assert follow_thread_limit(environ)
    assert environ["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false"
    environ = {"OMP_NUM_THREADS": "1",
               "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert follow_thread_limit(environ)
    assert environ["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=2",
        "--xla_cpu_multi_thread_eigen=false"]
    # The user's own setting, more threads, or no limit: left alone.
    for environ in ({"OMP_NUM_THREADS": "1",
                     "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true"},
                    {"OMP_NUM_THREADS": "2"}, {}):
        before = dict(environ)
        assert not follow_thread_limit(environ)
        assert environ == before


def test_joblib_worker_imports_gradest_with_xla_on_one_thread():
    # A process worker as GridSearchCV(n_jobs=2) starts it: joblib sets
    # OMP_NUM_THREADS=1; XLA must accept the flag gradest adds and still fit.
    script = ("import os, numpy as np, gradest; "
              "m = gradest.GradLinearRegression(max_iter=5).fit("
              "np.arange(8.0)[:, None], np.arange(8.0)); "
              "print(os.environ['XLA_FLAGS'], np.isfinite(m.coef_).all())")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["OMP_NUM_THREADS"] = "1"
    assert _printed_by_fresh_process(script, env) == [
        "--xla_cpu_multi_thread_eigen=false", "True"]
