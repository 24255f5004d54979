"""Defaults: every built-in loss with default settings on many ordinary problems.

For each generated problem (``make_regression`` and ``make_classification``
with label noise, heavy-tailed and heteroscedastic noise, outliers,
collinear and badly scaled columns, Poisson / Gamma / Tweedie targets,
sparse TF-IDF text) and each loss it fits, gradest's estimator with default
settings (only the loss named) is compared with:

- a reference minimiser of the same objective: the exact least-squares
  solution (``lstsq``), HiGHS's linear program (``QuantileRegressor(alpha=0,
  solver="highs")``) for the absolute and pinball losses, and scipy's
  L-BFGS-B or Newton-Cholesky with a tolerance of 1e-12, through
  scikit-learn's ``HuberRegressor(alpha=0)``, ``PoissonRegressor`` /
  ``GammaRegressor`` / ``TweedieRegressor`` (``alpha=0``) and
  ``LogisticRegression`` (``C=1`` on the columns gradest penalises), on
  standardised columns for conditioning and mapped back. The objective is
  evaluated here, in NumPy, for both solutions; the gap is relative to the
  reference's objective.
- scikit-learn's matching estimator *with its own defaults* (``LinearRegression``,
  ``HuberRegressor()``, ``QuantileRegressor(quantile=q)``,
  ``PoissonRegressor()``, ``GammaRegressor()``, ``TweedieRegressor(power=1.5)``,
  ``LogisticRegression()``): the held-out score (R^2, D^2 of the pinball
  loss or of the deviance, accuracy) of gradest minus scikit-learn's
  (target >= -0.01), and the time ratio of the fits (gradest's second fit of
  the same shape, compiled; scikit-learn's fit).

A fit converges when it raises no ``ConvergenceWarning``. Rows of the main
table summarise each loss; every problem's line goes to
``results/defaults.md``.
"""

import os
import time
import warnings

import numpy as np
from _measure import row

_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                        "defaults.md")
_TEST_FRACTION = 0.25


# --- problems ---------------------------------------------------------------

def _regression_designs(quick: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, X, y) of the linear regression problems, each of its own kind."""
    from sklearn.datasets import make_regression

    rng = np.random.default_rng(0)
    designs = []
    X, y = make_regression(2000, 20, noise=10, random_state=0)
    designs.append(("make_regression 2000x20 noise 10", X, y))
    X = rng.normal(size=(2000, 5))
    y = X @ np.arange(1.0, 6.0) + (1 + np.abs(X[:, 0])) * rng.standard_t(2, size=2000)
    designs.append(("heavy-tailed t(2), heteroscedastic 2000x5", X, y))
    if quick:
        return designs
    X, y = make_regression(600, 50, n_informative=20, effective_rank=8, noise=1.0,
                           random_state=1)
    designs.append(("collinear (effective rank 8) 600x50", X, y))
    X, y = make_regression(2000, 20, noise=10, random_state=2)
    X = X * 10.0 ** rng.uniform(-3, 3, size=20)
    designs.append(("badly scaled columns (1e-3 to 1e3) 2000x20", X, y))
    X, y = make_regression(1000, 10, noise=1.0, random_state=3)
    outliers = rng.choice(1000, size=50, replace=False)
    y[outliers] += rng.normal(0, 50 * y.std(), size=50)
    designs.append(("5 % gross outliers 1000x10", X, y))
    X, y = make_regression(300, 30, noise=20, random_state=4)
    designs.append(("small 300x30 noise 20", X, y))
    return designs


def _glm_designs(family: str, quick: bool):
    """(name, X, y) with targets of the family, from a log-linear mean."""
    rng = np.random.default_rng({"poisson": 10, "gamma": 11, "tweedie": 12}[family])
    designs = []
    kinds = ["independent 2000x10", "collinear 2000x10", "badly scaled 2000x10"]
    for kind in kinds[:1] if quick else kinds:
        X = rng.normal(size=(2000, 10))
        if kind.startswith("collinear"):
            X[:, 5:] = X[:, :5] + 0.05 * rng.normal(size=(2000, 5))
        beta = rng.normal(0, 0.3, size=10)
        mean = np.exp(0.5 + X @ beta)
        if kind.startswith("badly"):
            X = X * 10.0 ** rng.uniform(-3, 3, size=10)
        if family == "poisson":
            y = rng.poisson(mean).astype(float)
        elif family == "gamma":
            y = rng.gamma(2.0, mean / 2.0)
        else:
            # Compound Poisson-gamma (power 1.5): zeros and positive amounts.
            counts = rng.poisson(mean ** 0.5 / 0.5)
            y = np.array([rng.gamma(3.0, m ** 0.5 / 3.0 * 0.5, size=c).sum()
                          for c, m in zip(counts, mean, strict=True)])
        designs.append((f"{family} {kind}", X, y))
    return designs


def _classification_designs(quick: bool):
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(20)
    settings = [
        ("binary 2000x30, flip_y 0.2", dict(n_samples=2000, n_features=30,
                                           n_informative=10, flip_y=0.2)),
        ("binary 2000x20, flip_y 0.05", dict(n_samples=2000, n_features=20,
                                            n_informative=5, flip_y=0.05)),
        ("binary, redundant columns 1000x40", dict(n_samples=1000, n_features=40,
                                                   n_informative=5, n_redundant=20,
                                                   flip_y=0.1)),
        ("binary, nearly separable 1000x10", dict(n_samples=1000, n_features=10,
                                                  n_informative=8, class_sep=3.0,
                                                  flip_y=0.0)),
        ("binary, badly scaled 2000x20", dict(n_samples=2000, n_features=20,
                                              n_informative=8, flip_y=0.1)),
        ("3 classes 1500x20, flip_y 0.1", dict(n_samples=1500, n_features=20,
                                               n_informative=8, n_classes=3,
                                               flip_y=0.1)),
        ("5 classes 2000x30, flip_y 0.2", dict(n_samples=2000, n_features=30,
                                               n_informative=12, n_classes=5,
                                               flip_y=0.2)),
        ("4 classes, badly scaled 1500x15", dict(n_samples=1500, n_features=15,
                                                 n_informative=8, n_classes=4,
                                                 flip_y=0.1)),
        ("binary, small 200x10", dict(n_samples=200, n_features=10,
                                      n_informative=4, flip_y=0.1)),
        ("3 classes, small 300x8", dict(n_samples=300, n_features=8,
                                        n_informative=5, n_classes=3, flip_y=0.1)),
    ]
    designs = []
    for index, (name, kwargs) in enumerate(settings[:2] if quick else settings):
        X, y = make_classification(random_state=index, **kwargs)
        if "badly" in name:
            X = X * 10.0 ** rng.uniform(-3, 3, size=X.shape[1])
        designs.append((name, X, y))
    corpora = [(3000, 5000, 300, 0.05), (2000, 3000, 200, 0.04),
               (3000, 10000, 1000, 0.05)]
    for n, terms, n_topic, share in corpora[:1] if quick else corpora:
        X, y = _tfidf_topics(n, terms, n_topic, share, seed=n + terms)
        designs.append((f"TF-IDF {n} documents x {terms} terms (sparse)", X, y))
    return designs


def _tfidf_topics(n_documents, n_terms, n_topic, share, seed):
    """TF-IDF rows of two classes: a Zipf background and a topic per class."""
    import scipy.sparse
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_documents)
    lengths = rng.negative_binomial(4, 4 / 84, size=n_documents) + 5
    background = 1.0 / (np.arange(n_terms) + 2.7) ** 1.07
    background /= background.sum()
    order = rng.permutation(n_terms)
    topics = np.zeros((2, n_terms))
    for label in range(2):
        topics[label, order[n_topic * label:n_topic * (label + 1)]] = \
            1.0 / np.arange(1, n_topic + 1)
    topics /= topics.sum(axis=1, keepdims=True)
    terms = [rng.choice(n_terms, size=length,
                        p=(1 - share) * background + share * topics[label])
             for label, length in zip(y, lengths, strict=True)]
    documents = np.repeat(np.arange(n_documents), lengths)
    counts = scipy.sparse.csr_array(
        (np.ones(documents.size), (documents, np.concatenate(terms))),
        shape=(n_documents, n_terms))
    counts.sum_duplicates()
    return scipy.sparse.csr_array(TfidfTransformer().fit_transform(counts)), y


# --- objectives, in the user's units -----------------------------------------

def _objective(loss: str, X, y, coef, intercept, *, quantile=0.5, power=1.5,
               scale=None, penalty_scale=None):
    """gradest's objective at (coef, intercept), up to a positive factor.

    The regression losses are unpenalised by default (``alpha=0``), so their
    mean loss; the log-loss has ``C=1``: the sum of log-losses plus half the
    squared norm of the coefficients of the columns gradest penalises
    (standardised for dense X: ``coef * penalty_scale``).
    """
    eta = np.asarray(X @ coef.T).reshape(X.shape[0], -1) + intercept
    if loss == "squared_error":
        return 0.5 * np.mean((eta[:, 0] - y) ** 2)
    if loss == "huber":
        # Owen's concomitant-scale form, as HuberRegressor's (epsilon 1.35).
        r = np.abs(eta[:, 0] - y)
        inner = r <= 1.35 * scale
        h = np.where(inner, r ** 2 / scale, 2 * 1.35 * r - 1.35 ** 2 * scale)
        return np.mean(0.5 * (scale + h))
    if loss in ("absolute_error", "quantile"):
        r = y - eta[:, 0]
        return np.mean(np.maximum(quantile * r, (quantile - 1) * r))
    if loss == "poisson":
        return np.mean(np.exp(eta[:, 0]) - y * eta[:, 0])
    if loss == "gamma":
        return np.mean(y * np.exp(-eta[:, 0]) + eta[:, 0])
    if loss == "tweedie":
        return np.mean(-y * np.exp(eta[:, 0] * (1 - power)) / (1 - power)
                       + np.exp(eta[:, 0] * (2 - power)) / (2 - power))
    # Log-loss, binary (one column of logits) or multinomial.
    if eta.shape[1] == 1:
        eta = np.hstack([np.zeros_like(eta), eta])
    labels = np.unique(y, return_inverse=True)[1]
    top = eta.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(eta - top).sum(axis=1))
    data = np.sum(log_norm - eta[np.arange(len(y)), labels])
    penalised = coef * penalty_scale
    return data + 0.5 * np.sum(penalised ** 2)


# --- one problem --------------------------------------------------------------

_REGRESSION_LOSSES = [("squared_error", {}), ("huber", {}), ("absolute_error", {}),
                      ("quantile", {"quantile": 0.9}), ("quantile", {"quantile": 0.1})]


def _standardised(X):
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (X - mean) / scale, mean, scale


def _back(coef, intercept, mean, scale):
    coef = np.atleast_2d(coef) / scale
    return coef, np.atleast_1d(intercept) - coef @ mean


def _reference(loss, params, X, y):
    """(coef, intercept, scale) of the reference minimiser, in user units."""
    from sklearn.linear_model import (
        GammaRegressor,
        HuberRegressor,
        LogisticRegression,
        PoissonRegressor,
        QuantileRegressor,
        TweedieRegressor,
    )

    if loss == "log_loss" and not isinstance(X, np.ndarray):
        model = LogisticRegression(tol=1e-12, max_iter=100_000).fit(X, y)
        return model.coef_, model.intercept_, None
    Xs, mean, scale = _standardised(X)
    if loss == "squared_error":
        design = np.hstack([Xs, np.ones((len(y), 1))])
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
        return (*_back(solution[:-1], solution[-1], mean, scale), None)
    if loss == "huber":
        model = HuberRegressor(alpha=0.0, max_iter=100_000, tol=1e-12).fit(Xs, y)
        return (*_back(model.coef_, model.intercept_, mean, scale), model.scale_)
    if loss in ("absolute_error", "quantile"):
        model = QuantileRegressor(quantile=params.get("quantile", 0.5), alpha=0.0,
                                  solver="highs").fit(Xs, y)
    elif loss == "log_loss":
        model = LogisticRegression(tol=1e-12, max_iter=100_000).fit(Xs, y)
        # Its coefficients are those of the standardised columns, which the
        # penalty acts on; mapped back for the objective in user units.
        return (*_back(model.coef_, model.intercept_, mean, scale), None)
    else:
        family = {"poisson": PoissonRegressor, "gamma": GammaRegressor,
                  "tweedie": lambda **kw: TweedieRegressor(power=1.5, **kw)}[loss]
        model = family(alpha=0.0, solver="newton-cholesky", tol=1e-12,
                       max_iter=10_000).fit(Xs, y)
    return (*_back(model.coef_, model.intercept_, mean, scale), None)


def _sklearn_default(loss, params):
    from sklearn.linear_model import (
        GammaRegressor,
        HuberRegressor,
        LinearRegression,
        LogisticRegression,
        PoissonRegressor,
        QuantileRegressor,
        TweedieRegressor,
    )

    return {"squared_error": LinearRegression, "huber": HuberRegressor,
            "absolute_error": lambda: QuantileRegressor(quantile=0.5),
            "quantile": lambda: QuantileRegressor(quantile=params["quantile"]),
            "poisson": PoissonRegressor, "gamma": GammaRegressor,
            "tweedie": lambda: TweedieRegressor(power=1.5),
            "log_loss": LogisticRegression}[loss]()


def _score(loss, params, model, X, y):
    from sklearn.metrics import d2_pinball_score, d2_tweedie_score, r2_score

    prediction = model.predict(X)
    if loss in ("squared_error", "huber"):
        return r2_score(y, prediction)
    if loss in ("absolute_error", "quantile"):
        return d2_pinball_score(y, prediction, alpha=params.get("quantile", 0.5))
    if loss in ("poisson", "gamma", "tweedie"):
        power = {"poisson": 1.0, "gamma": 2.0, "tweedie": 1.5}[loss]
        return d2_tweedie_score(y, prediction, power=power)
    return float(np.mean(prediction == y))


def _fit_timed(make, X, y):
    """The fit, whether it warned of non-convergence, and its seconds."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        model = make().fit(X, y)
        seconds = time.perf_counter() - start
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, converged, seconds


def _one(design: str, loss: str, params: dict, X, y, adam: bool = False) -> dict:
    from gradest import GradLinearRegression, GradLogisticRegression

    n_train = round(X.shape[0] * (1 - _TEST_FRACTION))
    X_train, y_train = X[:n_train], y[:n_train]
    X_test, y_test = X[n_train:], y[n_train:]
    if loss == "log_loss":
        def make(**kw):
            return GradLogisticRegression(**kw)
    else:
        def make(**kw):
            return GradLinearRegression(loss=loss, **params, **kw)
    model, converged, first = _fit_timed(make, X_train, y_train)
    # The second fit of the same shape runs compiled code: the steady cost.
    _, _, warm = _fit_timed(make, X_train, y_train)
    reference = _sklearn_default(loss, params)
    sk_model, _, sk_seconds = _fit_timed(lambda: reference, X_train, y_train)

    coef, intercept, ref_scale = _reference(loss, params, X_train, y_train)
    dense = isinstance(X_train, np.ndarray)
    penalty_scale = _standardised(X_train)[2] if dense else 1.0
    common = {"quantile": params.get("quantile", 0.5), "penalty_scale": penalty_scale}
    ours = _objective(loss, X_train, y_train, np.atleast_2d(model.coef_),
                      np.atleast_1d(model.intercept_),
                      scale=getattr(model, "scale_", None), **common)
    best = _objective(loss, X_train, y_train, coef, intercept, scale=ref_scale,
                      **common)
    adam_gap = adam_converged = None
    if adam:
        # The earlier default: Adam at the constant learning rate 0.05.
        first_order, adam_converged, _ = _fit_timed(lambda: make(solver="adam"),
                                                    X_train, y_train)
        value = _objective(loss, X_train, y_train, np.atleast_2d(first_order.coef_),
                           np.atleast_1d(first_order.intercept_),
                           scale=getattr(first_order, "scale_", None), **common)
        adam_gap = (value - best) / max(abs(best), 1e-300)
    return {"problem": design, "loss": loss + (f" q={params['quantile']}"
                                                if "quantile" in params else ""),
            "adam_converged": adam_converged, "adam_gap": adam_gap,
            "converged": converged, "n_iter": int(np.max(model.n_iter_)),
            "objective_gap": (ours - best) / max(abs(best), 1e-300),
            "score_gap": _score(loss, params, model, X_test, y_test)
            - _score(loss, params, sk_model, X_test, y_test),
            "first_s": first, "warm_s": warm, "sklearn_s": sk_seconds}


def problems(quick: bool):
    """(design, loss, params, X, y) of every problem of the case."""
    out = []
    for design, X, y in _regression_designs(quick):
        for loss, params in _REGRESSION_LOSSES:
            out.append((design, loss, params, X, y))
    for family in ("poisson", "gamma", "tweedie"):
        for design, X, y in _glm_designs(family, quick):
            out.append((design, family, {}, X, y))
    for design, X, y in _classification_designs(quick):
        out.append((design, "log_loss", {}, X, y))
    return out


def _yes(flag) -> str:
    return "" if flag is None else ("yes" if flag else "**no**")


def _write_details(lines: list[dict]) -> None:
    header = ("| problem | loss | converged | iterations | objective gap | "
              "score gap | gradest warm | scikit-learn | Adam 0.05 converged | "
              "Adam 0.05 objective gap |\n" + "|---" * 10 + "|\n")
    body = "".join(
        f"| {r['problem']} | {r['loss']} | {_yes(r['converged'])} | "
        f"{r['n_iter']} | {r['objective_gap']:.1e} | {r['score_gap']:+.4f} | "
        f"{r['warm_s'] * 1e3:.0f} ms | {r['sklearn_s'] * 1e3:.0f} ms | "
        f"{_yes(r['adam_converged'])} | "
        f"{'' if r['adam_gap'] is None else format(r['adam_gap'], '.1e')} |\n"
        for r in lines)
    os.makedirs(os.path.dirname(_RESULTS), exist_ok=True)
    with open(_RESULTS, "w") as out:
        out.write("# Default settings against references, problem by problem\n\n"
                  "Objective gap: (gradest - reference) / |reference| on the same "
                  "objective; score gap: gradest's held-out score minus "
                  "scikit-learn's estimator with its defaults. Written by "
                  "`benchmarks/run.py --cases defaults`.\n\n" + header + body)


def defaults(quick: bool) -> list[dict]:
    # The full run also fits the earlier default (Adam at 0.05) beside.
    lines = [_one(*problem, adam=not quick) for problem in problems(quick)]
    _write_details(lines)
    rows = []
    for loss in dict.fromkeys(line["loss"].split(" ")[0] for line in lines):
        mine = [line for line in lines if line["loss"].split(" ")[0] == loss]
        converged = sum(line["converged"] for line in mine)
        worst_gap = max(line["objective_gap"] for line in mine)
        worst_score = min(line["score_gap"] for line in mine)
        met = converged == len(mine) and worst_score >= -0.01
        rows.append(row(
            "defaults", f"{loss}: {converged}/{len(mine)} problems converge",
            float(np.median([line["warm_s"] for line in mine])),
            sklearn_s=float(np.median([line["sklearn_s"] for line in mine])),
            sklearn_name="its default estimator",
            target="100 % converge, score gap >= -0.01", met=met,
            note=f"largest objective gap {worst_gap:.1e}; worst score gap "
                 f"{worst_score:+.4f}; median times of a warm fit"))
    total = sum(line["converged"] for line in lines)
    rows.append(row("defaults", f"all losses: {total}/{len(lines)} problems converge",
                    float(np.sum([line["warm_s"] for line in lines])),
                    sklearn_s=float(np.sum([line["sklearn_s"] for line in lines])),
                    sklearn_name="their default estimators",
                    target="100 %", met=total == len(lines),
                    note="total warm fit times; every problem in results/defaults.md"))
    if not quick:
        before = sum(line["adam_converged"] for line in lines)
        worst = max(line["adam_gap"] for line in lines)
        rows.append(row("defaults", f"earlier default (Adam, learning_rate=0.05): "
                                    f"{before}/{len(lines)} problems converge",
                        None, target="", met=None,
                        note=f"largest objective gap {worst:.1e}"))
    return rows


DEFAULTS_CASES = {"defaults": defaults}
DEFAULTS_CALLS: dict = {}
