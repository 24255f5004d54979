"""GLM families and quantile regression against scikit-learn's estimators.

Quantile regression at q=0.9 against ``QuantileRegressor(solver="highs")``,
whose linear programme grows with the rows (2 n + 2 p variables) and may run
for many minutes: it runs in a process of its own with a time limit, and a
run that does not finish is reported as ">limit", a lower bound on its time.
Both objectives are measured on the same data; where HiGHS's simplex does not
finish, the reference objective comes from its interior-point solver
("highs-ipm") on the same linear programme. Poisson regression against
``PoissonRegressor``. Each fit runs in a fresh process, so that gradest's
first fit compiles as a user's would; CPU seconds are given beside wall
seconds, since a loaded machine stretches the latter.
"""

import subprocess
import time
import warnings

import numpy as np
from _measure import (
    CompileCounter,
    call_in_subprocess,
    pass_pair_seconds,
    peak_rss_mb,
    row,
)

_QUANTILE = 0.9
_N_FEATURES = 20


def _quantile_data(n_rows: int):
    """A linear model with heavy-tailed, heteroscedastic noise (Student t, 3 dof)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, _N_FEATURES))
    noise = rng.standard_t(3, size=n_rows) * (1 + 0.5 * np.abs(X[:, 0]))
    return X, X @ rng.standard_normal(_N_FEATURES) + noise


def _poisson_data(n_rows: int):
    """Counts with a log-linear mean on features of mixed scales."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, _N_FEATURES)) * rng.uniform(0.5, 3, _N_FEATURES)
    Z = X / X.std(axis=0)
    return X, rng.poisson(np.exp(0.5 + Z @ rng.uniform(-0.2, 0.2, _N_FEATURES)))


def _pinball(X, y, coef, intercept):
    residuals = y - X @ np.asarray(coef) - intercept
    losses = np.maximum(_QUANTILE * residuals, (_QUANTILE - 1) * residuals)
    return float(np.mean(losses))


def _timed_fit(fit):
    wall, cpu = time.perf_counter(), time.process_time()
    model = fit()
    return time.perf_counter() - wall, time.process_time() - cpu, model


def quantile_one(which: str, n_rows: int) -> dict:
    """One quantile fit in this (fresh) process: gradest, or a HiGHS solver."""
    X, y = _quantile_data(n_rows)
    if which == "gradest":
        from gradest import GradLinearRegression

        def fit():
            return GradLinearRegression(loss="quantile", quantile=_QUANTILE,
                                        solver="lbfgs").fit(X, y)

        with CompileCounter() as compiles:
            first_s, first_cpu, _ = _timed_fit(fit)
        warm = [_timed_fit(fit) for _ in range(3)]
        warm_s, warm_cpu, model = sorted(warm, key=lambda t: t[0])[1]
        return {"first_s": first_s, "first_cpu": first_cpu, "warm_s": warm_s,
                "warm_cpu": warm_cpu, "n_iter": model.n_iter_,
                "compiles": compiles.count,
                "objective": _pinball(X, y, model.coef_, model.intercept_),
                "bound_s": pass_pair_seconds(X) * (model.n_iter_ + 1),
                "peak_rss_mb": peak_rss_mb()}
    from sklearn.linear_model import QuantileRegressor

    wall, cpu, model = _timed_fit(lambda: QuantileRegressor(
        quantile=_QUANTILE, alpha=0.0, solver=which).fit(X, y))
    return {"wall_s": wall, "cpu_s": cpu,
            "objective": _pinball(X, y, model.coef_, model.intercept_)}


def _highs_or_limit(solver: str, n_rows: int, limit: float):
    try:
        return call_in_subprocess("quantile_one", timeout=limit, which=solver,
                                  n_rows=n_rows)
    except subprocess.TimeoutExpired:
        return None


def quantile(quick):
    """Quantile regression, q=0.9, n x 20: gradest <= 0.1x HiGHS, objective 1e-4."""
    case = "8 glm"
    n_rows, limit = (20_000, 300) if quick else (100_000, 900)
    ours = call_in_subprocess("quantile_one", which="gradest", n_rows=n_rows)
    highs = _highs_or_limit("highs", n_rows, limit)
    reference = highs or _highs_or_limit("highs-ipm", n_rows, limit)
    shape = f"quantile q={_QUANTILE}, {n_rows:,} x {_N_FEATURES}"
    if reference is None:
        gap_note, gap_ok = "no HiGHS solver finished: objective not compared", False
    else:
        gap = (ours["objective"] - reference["objective"]) / reference["objective"]
        gap_ok = gap <= 1e-4
        source = "highs" if highs else "highs-ipm (highs did not finish)"
        gap_note = (f"pinball objective {ours['objective']:.10g}, {gap:.2g} "
                    f"relative to {source}'s {reference['objective']:.10g}")
    highs_s = highs["wall_s"] if highs else limit
    highs_name = ("QuantileRegressor highs" if highs else
                  f"QuantileRegressor highs: >{limit:.0f} s, did not finish")
    highs_cpu = f"{highs['cpu_s']:.3g} CPU s" if highs else f">{limit:.0f} s wall"
    common = dict(sklearn_s=highs_s, sklearn_name=highs_name, bound_s=ours["bound_s"],
                  rss_mb=ours["peak_rss_mb"])
    return [
        row(case, f"{shape}, lbfgs, first fit (compiles)", ours["first_s"],
            target="<= 0.1x highs, objective within 1e-4",
            met=ours["first_s"] <= 0.1 * highs_s and gap_ok,
            note=(f"{ours['compiles']} compilation(s); {ours['first_cpu']:.3g} CPU s "
                  f"vs {highs_cpu}; {gap_note}"), **common),
        row(case, f"{shape}, lbfgs, warm refit ({ours['n_iter']} it.)",
            ours["warm_s"], target="<= 0.1x highs, objective within 1e-4",
            met=ours["warm_s"] <= 0.1 * highs_s and gap_ok,
            note=f"{ours['warm_cpu']:.3g} CPU s; smoothing widths 1e-1..1e-4",
            **common),
    ]


def poisson_one(which: str, n_rows: int) -> dict:
    """One Poisson fit in this (fresh) process; coefficients returned to compare."""
    X, y = _poisson_data(n_rows)
    if which == "gradest":
        from gradest import GradLinearRegression

        def fit():
            return GradLinearRegression(loss="poisson", solver="lbfgs").fit(X, y)
    else:
        from sklearn.linear_model import PoissonRegressor

        def fit():
            # Unpenalised as gradest's default; its default tol=1e-4.
            return PoissonRegressor(alpha=0.0, solver=which, max_iter=1000).fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with CompileCounter() as compiles:
            first_s, first_cpu, model = _timed_fit(fit)
        warm = sorted((_timed_fit(fit) for _ in range(3)), key=lambda t: t[0])[1]
    result = {"first_s": first_s, "first_cpu": first_cpu, "warm_s": warm[0],
              "warm_cpu": warm[1], "compiles": compiles.count,
              "n_iter": int(model.n_iter_),
              "coef": np.r_[model.intercept_, model.coef_].tolist(),
              "peak_rss_mb": peak_rss_mb()}
    if which == "gradest":
        result["bound_s"] = pass_pair_seconds(X) * (model.n_iter_ + 1)
    return result


def poisson(quick):
    """Poisson regression, n x 20, against PoissonRegressor (lbfgs, newton-cholesky)."""
    case = "8 glm"
    n_rows = 20_000 if quick else 100_000
    ours = call_in_subprocess("poisson_one", which="gradest", n_rows=n_rows)
    shape = f"poisson, {n_rows:,} x {_N_FEATURES}"
    rows = []
    for solver in ("lbfgs", "newton-cholesky"):
        theirs = call_in_subprocess("poisson_one", which=solver, n_rows=n_rows)
        difference = np.max(np.abs(np.subtract(ours["coef"], theirs["coef"])))
        note = (f"{theirs['n_iter']} it. at its tol=1e-4; largest coefficient "
                f"difference {difference:.2g}; CPU s {ours['warm_cpu']:.3g} vs "
                f"{theirs['warm_cpu']:.3g}")
        rows.append(row(
            case, f"{shape}, lbfgs, warm refit ({ours['n_iter']} it.) vs {solver}",
            ours["warm_s"], sklearn_s=theirs["warm_s"],
            sklearn_name=f"PoissonRegressor {solver}", bound_s=ours["bound_s"],
            target="<= scikit-learn", met=ours["warm_s"] <= theirs["warm_s"],
            note=note, rss_mb=ours["peak_rss_mb"]))
    rows.insert(0, row(
        case, f"{shape}, lbfgs, first fit (compiles)", ours["first_s"],
        bound_s=ours["bound_s"],
        note=f"{ours['compiles']} compilation(s); {ours['first_cpu']:.3g} CPU s",
        rss_mb=ours["peak_rss_mb"]))
    return rows


GLM_CASES = {"quantile": quantile, "poisson": poisson}
GLM_CALLS = {"quantile_one": quantile_one, "poisson_one": poisson_one}
