"""The L1 case: time to the same objective, gradest against Lasso and skglm.

A dense 10,000 x 1,000 problem (2,000 x 200 in quick mode) with 50 (10)
true nonzero coefficients and unit noise. Every contender minimises the same
objective, ``Lasso(alpha)``'s on standardised X,

    (1 / (2 n)) ||y - X w - b||^2 + alpha ||w||_1,

or, for labels drawn from the same model with logistic noise, skglm's
``SparseLogisticRegression(alpha)``'s (``GradLogisticRegression`` with
``penalty="l1"`` and ``C = 1 / (alpha n)``),

    (1 / n) sum_i log-loss_i + alpha ||w||_1,

and is timed at the loosest of its own tolerances that brings it within
1e-6 (relative) of the best objective any of them reaches with its tightest
tolerance: the time to the same objective, not to each one's idea of
convergence. gradest standardises inside its fit, so its times include
that; the anchors are given ``StandardScaler`` output, prepared once.
skglm (the benchmark extra, ``make bench``) is skipped when missing.
"""

import warnings

import numpy as np
from _measure import call_in_subprocess, row, time_to_objective
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from sklearn.preprocessing import StandardScaler

from gradest import GradLinearRegression, GradLogisticRegression

_TOLS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12]
_RELATIVE_GAP = 1e-6


def lasso_problem(n_rows: int, n_features: int, n_nonzero: int, seed: int = 0,
                  kind: str = "regression"):
    """X, y and alpha: a sparse linear model, features on different scales.

    `kind` "logistic": 0/1 labels of the same model with logistic noise.
    """
    rng = np.random.default_rng(seed)
    scales = np.logspace(-1, 1, n_features)
    X = rng.standard_normal((n_rows, n_features)) * scales + 3.0
    coef = np.zeros(n_features)
    support = rng.choice(n_features, n_nonzero, replace=False)
    coef[support] = rng.choice([-1, 1], n_nonzero) * rng.uniform(0.5, 2, n_nonzero)
    signal = ((X - 3.0) / scales) @ coef
    # About the noise level that recovers the support: sigma sqrt(2 log p / n)
    # (the log-loss's curvature is at most 1/4).
    alpha = np.sqrt(2 * np.log(n_features) / n_rows)
    if kind == "logistic":
        y = (signal + rng.logistic(size=n_rows) > 0).astype(float)
        return X, y, alpha / 4
    return X, signal + rng.standard_normal(n_rows) + 5.0, alpha


def _objective(kind, Xs, y, alpha, coef, intercept):
    z = Xs @ coef + intercept
    if kind == "logistic":
        loss = np.mean(np.logaddexp(0, z) - y * z)
    else:
        loss = 0.5 * np.mean((y - z) ** 2)
    return loss + alpha * np.abs(coef).sum()


def _skglm():
    try:
        import skglm
    except ImportError:
        return None
    return skglm


def _contenders(kind, X, y, alpha, Xs, scaler):
    """name -> (fit at a tol, standardised (coef, intercept) of a fitted model)."""
    def gradest_fit(tol):
        if kind == "logistic":
            return GradLogisticRegression(penalty="l1", C=1 / (alpha * len(y)),
                                          tol=tol, max_iter=100_000).fit(X, y)
        return GradLinearRegression(penalty="l1", alpha=alpha, tol=tol,
                                    max_iter=100_000).fit(X, y)

    def gradest_params(model):
        coef = np.ravel(model.coef_)
        return (coef * scaler.scale_,
                float(np.ravel(model.intercept_)[0]) + coef @ scaler.mean_)

    def lasso_fit(tol):
        return Lasso(alpha=alpha, tol=tol, max_iter=100_000).fit(Xs, y)

    def anchor_params(model):
        return np.ravel(model.coef_), float(np.ravel(model.intercept_)[0])

    contenders = {"gradest": (gradest_fit, gradest_params)}
    if kind == "regression":
        contenders["Lasso"] = (lasso_fit, anchor_params)
    skglm = _skglm()
    if skglm is not None:
        def skglm_fit(tol):
            if kind == "logistic":
                return skglm.SparseLogisticRegression(
                    alpha=alpha, tol=tol, max_iter=1000).fit(Xs, y)
            return skglm.Lasso(alpha=alpha, tol=tol, max_iter=100_000).fit(Xs, y)

        contenders["skglm"] = (skglm_fit, anchor_params)
    return contenders


def lasso_one(n_rows: int, n_features: int, n_nonzero: int, repeats: int,
              kind: str = "regression") -> dict:
    """The whole comparison for one `kind`, in one fresh process."""
    X, y, alpha = lasso_problem(n_rows, n_features, n_nonzero, kind=kind)
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    contenders = _contenders(kind, X, y, alpha, Xs, scaler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = time_to_objective(
            {name: fit for name, (fit, _) in contenders.items()},
            lambda name, model: _objective(kind, Xs, y, alpha,
                                           *contenders[name][1](model)),
            _TOLS, repeats, _RELATIVE_GAP)
    nonzeros = {name: int(np.count_nonzero(contenders[name][1](model)[0]))
                for name, model in result["models"].items()}
    return {"seconds": result["seconds"], "tol": result["tol"], "nonzeros": nonzeros,
            "gaps": result["gaps"], "first_s": result["first_s"]["gradest"],
            "alpha": alpha, "n_true": n_nonzero}


def lasso(quick):
    """Case 8: L1 penalties, time to the same objective."""
    case = "8 L1"
    shape = (2_000, 200, 10) if quick else (10_000, 1_000, 50)
    rows = []
    for kind, anchors in [("regression", [("Lasso", "Lasso"),
                                          ("skglm", "skglm Lasso")]),
                          ("logistic", [("skglm", "skglm SparseLogisticRegression")])]:
        r = call_in_subprocess("lasso_one", n_rows=shape[0], n_features=shape[1],
                               n_nonzero=shape[2], repeats=3 if quick else 5,
                               kind=kind)
        what = (f"{kind} {shape[0]:,} x {shape[1]:,}, {shape[2]} true nonzeros: "
                "time to objective within 1e-6, warm (default solver)")
        ours = r["seconds"].get("gradest")
        for anchor, name in anchors:
            if anchor not in r["tol"]:
                rows.append(row(case, what, ours,
                                note="skglm is not installed (make bench)",
                                rss_mb=r["peak_rss_mb"]))
                continue
            note = (f"alpha={r['alpha']:.3g}; tol gradest {r['tol']['gradest']:g}, "
                    f"{name} {r['tol'][anchor]:g}; nonzeros gradest "
                    f"{r['nonzeros'].get('gradest')}, {name} "
                    f"{r['nonzeros'].get(anchor)}; first gradest fit (compiles) "
                    f"{r['first_s']:.2f} s")
            target, met = "", None
            if kind == "logistic":
                target = "<= 2x skglm"
                theirs = r["seconds"].get(anchor)
                met = None if ours is None or theirs is None else ours <= 2 * theirs
            rows.append(row(case, what, ours, sklearn_s=r["seconds"].get(anchor),
                            sklearn_name=name, target=target, met=met, note=note,
                            rss_mb=r["peak_rss_mb"]))
    return rows


LASSO_CASES = {"lasso": lasso}
LASSO_CALLS = {"lasso_one": lasso_one}
