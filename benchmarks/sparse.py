"""Text classification on sparse TF-IDF: gradest against scikit-learn (and skglm).

A deterministic synthetic corpus stands in for a real one (no download):
documents draw their words from a Zipf vocabulary, the counts are weighted
with scikit-learn's TfidfTransformer (what TfidfVectorizer does after
counting), and the binary labels come from a sparse true model on the TF-IDF
features plus logistic noise. Every contender fits the same training split in
a fresh process (its peak memory is its own) and is scored on the same test
split.

Run through ``python benchmarks/run.py --cases sparse_text`` (``--quick`` for
the small corpus).
"""

import time
import warnings

import numpy as np

# Full: 100,000 documents x 50,000 terms, about 0.1 % dense (about 50
# distinct terms a document). Quick: 20,000 x 10,000 at about 0.4 %.
FULL = {"n_documents": 100_000, "n_terms": 50_000, "mean_length": 70}
QUICK = {"n_documents": 20_000, "n_terms": 10_000, "mean_length": 50}
# Terms of the true model, among the moderately frequent ones (ranks 50 to
# 5,050): a frequent word carries no topic, a rare one too little signal.
_N_INFORMATIVE = 100
_ZIPF_EXPONENT = 1.07
# skglm's L1 strength (its objective: mean log-loss + alpha |w|_1, intercept
# unpenalised); gradest fits the same objective with C = 1 / (alpha n).
_L1_ALPHA = 1e-4
_TEST_FRACTION = 0.2


def corpus(n_documents: int, n_terms: int, mean_length: int, seed: int = 0):
    """Deterministic TF-IDF rows (CSR, float64) and binary labels.

    Document lengths are negative binomial (over-dispersed, as real lengths
    are), each token a term drawn from Zipf's law ``p(rank) ~ 1 / (rank +
    2.7) ** 1.07``; counts are weighted by scikit-learn's TfidfTransformer
    (smooth idf, l2-normalised rows). The labels are ``x @ beta + b +
    logistic noise > 0`` for a ``beta`` with `_N_INFORMATIVE` nonzeros of
    both signs, scaled so that the signal's spread is about 4 logistic
    units, and ``b`` centring the classes.

    Returns
    -------
    X : scipy.sparse.csr_array of shape (n_documents, n_terms)
    y : ndarray of int of shape (n_documents,)
    beta : ndarray of shape (n_terms,)
    """
    import scipy.sparse
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    lengths = rng.negative_binomial(4, 4 / (4 + mean_length), size=n_documents) + 1
    ranks = np.arange(n_terms)
    probability = 1.0 / (ranks + 2.7) ** _ZIPF_EXPONENT
    cumulative = np.cumsum(probability / probability.sum())
    tokens = np.searchsorted(cumulative, rng.random(int(lengths.sum())))
    tokens = np.minimum(tokens, n_terms - 1).astype(np.int32)
    # A random permutation of the vocabulary: frequency is not column order.
    tokens = rng.permutation(n_terms).astype(np.int32)[tokens]
    documents = np.repeat(np.arange(n_documents, dtype=np.int32), lengths)
    counts = scipy.sparse.csr_array(
        (np.ones(tokens.shape[0]), (documents, tokens)), shape=(n_documents, n_terms))
    counts.sum_duplicates()
    X = TfidfTransformer().fit_transform(counts)
    X = scipy.sparse.csr_array(X)
    beta = np.zeros(n_terms)
    # Moderately frequent terms: columns whose document frequency is between
    # 0.5 % and 20 %.
    frequency = np.bincount(X.indices, minlength=n_terms) / n_documents
    candidates = np.flatnonzero((frequency > 0.005) & (frequency < 0.2))
    informative = rng.choice(candidates, size=min(_N_INFORMATIVE, candidates.size),
                             replace=False)
    beta[informative] = rng.choice([-1.0, 1.0], size=informative.size) * \
        rng.uniform(0.5, 1.5, size=informative.size)
    signal = X @ beta
    beta *= 4.0 / max(signal.std(), 1e-12)
    signal = X @ beta
    y = (signal - np.median(signal) + rng.logistic(size=n_documents) > 0).astype(int)
    return X, y, beta


def split(X, y):
    """The first 80 % of the rows to train on, the rest to test (rows are i.i.d.)."""
    n_train = round(X.shape[0] * (1 - _TEST_FRACTION))
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _contender(name: str, n_train: int):
    """The estimator a contender's name stands for."""
    if name == "gradest default":
        from gradest import GradLogisticRegression

        return GradLogisticRegression()
    if name == "gradest lbfgs L2":
        from gradest import GradLogisticRegression

        return GradLogisticRegression(solver="lbfgs")
    if name == "gradest lbfgs L2, standardize=False":
        # LogisticRegression's objective (the penalty on raw coefficients).
        from gradest import GradLogisticRegression

        return GradLogisticRegression(solver="lbfgs", standardize=False)
    if name == "LogisticRegression(lbfgs)":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(solver="lbfgs", max_iter=1000)
    if name == "SGDClassifier(log_loss)":
        from sklearn.linear_model import SGDClassifier

        return SGDClassifier(loss="log_loss", random_state=0)
    if name == "skglm SparseLogisticRegression":
        from skglm import SparseLogisticRegression

        return SparseLogisticRegression(alpha=_L1_ALPHA, max_iter=50)
    if name == "gradest L1 (default: prox-newton), standardize=False":
        # skglm's objective: the L1 penalty on raw coefficients.
        from gradest import GradLogisticRegression

        return GradLogisticRegression(penalty="l1", C=1 / (_L1_ALPHA * n_train),
                                      standardize=False)
    raise ValueError(f"unknown contender {name!r}")


def _objective(model, X, y, penalty: str) -> float:
    """The objective at a fitted binary model: for `penalty` "l2"
    LogisticRegression's with C=1 (``0.5 |w|^2 + sum_i log-loss_i``), for
    "l1" skglm's (``mean_i log-loss_i + alpha |w|_1``)."""
    coef = np.ravel(model.coef_)
    losses = np.logaddexp(0, -(X @ coef + np.ravel(model.intercept_)[0]) * (2 * y - 1))
    if penalty == "l1":
        return float(losses.mean() + _L1_ALPHA * np.abs(coef).sum())
    return float(0.5 * coef @ coef + losses.sum())


def fit_one(contender: str, quick: bool) -> dict:
    """Fit one contender on the training split, in this (fresh) process.

    gradest with L-BFGS is fitted twice: the first fit compiles, the second
    is the warm refit a user meets from then on (a search, a refit on new
    data); its default (Adam, up to 10,000 steps) once. `objective` is
    LogisticRegression's, ``0.5 ||w||^2 + C sum_i log_loss_i`` with C=1, at
    the fitted model.
    """
    from _measure import peak_rss_mb

    X, y, _ = corpus(**(QUICK if quick else FULL))
    X_train, y_train, X_test, y_test = split(X, y)
    del X
    name = contender
    estimator = _contender(name, X_train.shape[0])
    times = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Twice where the first fit compiles (JAX, or numba for skglm).
        for _ in range(2 if name.startswith(("gradest lbfgs", "gradest L1", "skglm"))
                       else 1):
            start = time.perf_counter()
            estimator.fit(X_train, y_train)
            times.append(time.perf_counter() - start)
    coef = np.ravel(estimator.coef_)
    return {"first_s": times[0], "fit_s": times[-1],
            "objective": _objective(estimator, X_train, y_train, "l2"),
            "l1_objective": _objective(estimator, X_train, y_train, "l1"),
            "accuracy": float(estimator.score(X_test, y_test)),
            "nnz_coef": int(np.count_nonzero(coef)),
            "n_iter": int(np.max(getattr(estimator, "n_iter_", 0))),
            "warnings": sorted({type(w.message).__name__ for w in caught}),
            "peak_rss_mb": peak_rss_mb()}


# The sweeps' tolerances, loosest first (see _measure.time_to_objective).
_SWEEP_TOLS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10]


def objective_sweep(quick: bool, repeats: int, penalty: str) -> dict:
    """gradest's fit and its anchor's, each timed at the loosest of its own
    tolerances that reaches the best objective either finds to 1e-6
    (relative), in this (fresh) process: the issue's "same objective".

    Both sides minimise the anchor's objective on the raw TF-IDF columns
    (gradest with ``standardize=False``): for `penalty` "l1" skglm's (mean
    log-loss + alpha |w|_1), for "l2" LogisticRegression's (``0.5 |w|^2 +
    sum_i log-loss_i``, C=1), against lbfgs on both sides.
    """
    from _measure import time_to_objective

    from gradest import GradLogisticRegression

    X, y, _ = corpus(**(QUICK if quick else FULL))
    X_train, y_train, X_test, y_test = split(X, y)
    del X
    n_train = X_train.shape[0]

    def objective(name, model):
        return _objective(model, X_train, y_train, penalty)

    if penalty == "l1":
        from skglm import SparseLogisticRegression

        fits = {
            "gradest": lambda tol: GradLogisticRegression(
                penalty="l1", C=1 / (_L1_ALPHA * n_train), standardize=False,
                tol=tol).fit(X_train, y_train),
            "anchor": lambda tol: SparseLogisticRegression(
                alpha=_L1_ALPHA, tol=tol, max_iter=1000).fit(X_train, y_train),
        }
    else:
        from sklearn.linear_model import LogisticRegression

        fits = {
            "gradest": lambda tol: GradLogisticRegression(
                solver="lbfgs", standardize=False, tol=tol,
                max_iter=10_000).fit(X_train, y_train),
            "anchor": lambda tol: LogisticRegression(
                tol=tol, max_iter=10_000).fit(X_train, y_train),
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = time_to_objective(fits, objective, _SWEEP_TOLS, repeats)
    models = result.pop("models")
    result["accuracy"] = {name: float(model.score(X_test, y_test))
                          for name, model in models.items()}
    result["nnz_coef"] = {name: int(np.count_nonzero(model.coef_))
                          for name, model in models.items()}
    return result


def _sweep_row(case: str, size: str, penalty: str, anchor_name: str,
               quick: bool) -> dict:
    """The table row of :func:`objective_sweep` (run in a fresh process)."""
    from _measure import call_in_subprocess, row

    sweep = call_in_subprocess("sparse_objective_sweep", quick=quick,
                               repeats=3 if quick else 5, penalty=penalty)
    ours, theirs = sweep["seconds"].get("gradest"), sweep["seconds"].get("anchor")
    tol, accuracy, nnz = sweep["tol"], sweep["accuracy"], sweep["nnz_coef"]
    note = (f"best objective {sweep['best']:.10g}; tol gradest {tol.get('gradest')}, "
            f"{anchor_name} {tol.get('anchor')}; accuracy gradest "
            f"{accuracy.get('gradest')}, {anchor_name} {accuracy.get('anchor')}; "
            f"nonzero coef gradest {nnz.get('gradest')}, {anchor_name} "
            f"{nnz.get('anchor')}")
    what = (f"gradest {'L1' if penalty == 'l1' else 'lbfgs L2'}, standardize=False, "
            f"vs {anchor_name}: time to the same objective (1e-6), {size}")
    return row(case, what, ours, sklearn_s=theirs, sklearn_name=anchor_name,
               target=f"<= 2x {anchor_name}",
               met=None if ours is None or theirs is None else ours <= 2 * theirs,
               note=note, rss_mb=sweep["peak_rss_mb"])


def corpus_facts(quick: bool) -> dict:
    """Shape, density and the time of one sparse product pair (SciPy)."""
    from _measure import peak_rss_mb

    X, y, beta = corpus(**(QUICK if quick else FULL))
    X_train, *_ = split(X, y)
    v, u = np.ones(X.shape[1]), np.ones(X_train.shape[0])
    pair = []
    for _ in range(5):
        start = time.perf_counter()
        X_train.T @ (X_train @ v + u)
        pair.append(time.perf_counter() - start)
    return {"shape": list(X.shape), "nnz": int(X.nnz),
            "density": X.nnz / (X.shape[0] * X.shape[1]),
            "positive": float(y.mean()), "pair_s": float(np.median(pair)),
            "true_nnz": int(np.count_nonzero(beta)), "peak_rss_mb": peak_rss_mb()}


CONTENDERS = ["gradest lbfgs L2", "gradest lbfgs L2, standardize=False",
              "gradest default", "LogisticRegression(lbfgs)",
              "SGDClassifier(log_loss)", "skglm SparseLogisticRegression",
              "gradest L1 (default: prox-newton), standardize=False"]


def sparse_text(quick):
    """The benchmark case: one table row per contender."""
    from _measure import call_in_subprocess, row

    case = "8 sparse text"
    facts = call_in_subprocess("sparse_corpus", quick=quick)
    size = (f"{facts['shape'][0]:,} x {facts['shape'][1]:,} TF-IDF, "
            f"{facts['density']:.2%} dense")
    names = list(CONTENDERS)
    try:
        import skglm  # noqa: F401
    except ImportError:
        names.remove("skglm SparseLogisticRegression")
    out = {name: call_in_subprocess("sparse_fit", contender=name, quick=quick)
           for name in names}
    reference = out["LogisticRegression(lbfgs)"]
    l1_reference = out.get("skglm SparseLogisticRegression")
    rows = []
    for name in names:
        result = out[name]
        is_gradest = name.startswith("gradest")
        target, met = "", None
        if name.startswith("gradest lbfgs L2"):
            target = "<= 2x LogisticRegression(lbfgs)"
            met = result["fit_s"] <= 2 * reference["fit_s"]
        if name.startswith("gradest L1") and l1_reference is not None:
            gap = ((result["l1_objective"] - l1_reference["l1_objective"])
                   / abs(l1_reference["l1_objective"]))
            target = "<= 2x skglm, objective within 1e-6"
            met = result["fit_s"] <= 2 * l1_reference["fit_s"] and gap <= 1e-6
        note = (f"accuracy {result['accuracy']:.4f}, {result['nnz_coef']:,} nonzero "
                f"coef, {result['n_iter']} iterations")
        if name in ("gradest lbfgs L2, standardize=False",
                    "LogisticRegression(lbfgs)"):
            note += f", objective {result['objective']:.6f}"
        if name == "skglm SparseLogisticRegression" or name.startswith("gradest L1"):
            note += f", L1 objective {result['l1_objective']:.8f}"
        if name.startswith(("gradest lbfgs", "gradest L1")):
            note += f"; first fit (compiles) {result['first_s']:.2f} s"
        if result["warnings"]:
            note += f"; {', '.join(result['warnings'])}"
        l1 = name.startswith("gradest L1") and l1_reference is not None
        anchor = l1_reference if l1 else reference
        rows.append(row(
            case, f"{name}: fit, {size}", result["fit_s"],
            sklearn_s=anchor["fit_s"] if is_gradest else None,
            sklearn_name=(("skglm SparseLogisticRegression" if l1 else
                           "LogisticRegression(lbfgs)") if is_gradest else ""),
            # One SciPy product pair (X v, X' u) an iteration.
            bound_s=(result["n_iter"] * facts["pair_s"] if is_gradest else None),
            target=target, met=met, note=note, rss_mb=result["peak_rss_mb"]))
    rows.append(_sweep_row(case, size, "l2", "LogisticRegression(lbfgs)", quick))
    if l1_reference is not None:
        rows.append(_sweep_row(case, size, "l1", "skglm SparseLogisticRegression",
                               quick))
    return rows


SPARSE_CASES = {"sparse_text": sparse_text}
SPARSE_CALLS = {"sparse_fit": fit_one, "sparse_corpus": corpus_facts,
                "sparse_objective_sweep": objective_sweep}

