"""UKR vs UMAP, t-SNE, Isomap, LLE and PCA on real and synthetic data, side by side.

Each data set is split 80/20 (stratified where it has labels). Every method
embeds the standardised training rows in two dimensions; where it can, it
places the held-out rows and maps them back. Measured: the trustworthiness
(10 neighbours) of the training and held-out embeddings, the accuracy of a
10-nearest-neighbour classifier trained on the training embedding and
scored on the held-out one (where labels exist), the held-out
reconstruction error relative to PCA's, the R^2 of the true coordinates
regressed linearly on the training embedding (synthetic manifolds), and the
fit and transform times. t-SNE has no transform, and only UKR, UMAP and PCA
map back to data space: those cells are empty.

The full table goes to ``benchmarks/results/ukr_real.md``; run.py's table
gets the rows that the targets of UKR's issue name, UKR against UMAP.
A second case times UKR's fits on the saddle: 1,000 samples in a fresh
process (compilation included) and 10,000 in float64 and float32.
"""

import os
import warnings

import numpy as np
from _measure import call_in_subprocess, peak_rss_mb, row, timed

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
METHODS = ["UKR", "UMAP", "t-SNE", "Isomap", "LLE", "PCA"]
DATASETS = ["digits", "s_curve", "swiss_roll_hole", "saddle", "breast_cancer"]
N_NEIGHBORS = 10


def load(name: str, quick: bool):
    """X, labels (or None) and true coordinates (or None) of one data set."""
    from sklearn.datasets import (
        load_breast_cancer,
        load_digits,
        make_s_curve,
        make_swiss_roll,
    )

    from gradest.datasets import make_saddle

    scale = 2 if quick else 1
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X, y, None
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        return X, y, None
    if name == "s_curve":
        X, t = make_s_curve(1500 // scale, noise=0.05, random_state=0)
        return X, None, np.c_[t, X[:, 1]]
    if name == "swiss_roll_hole":
        X, t = make_swiss_roll(1500 // scale, hole=True, random_state=0)
        return X, None, np.c_[t, X[:, 1]]
    X, z = make_saddle(1000 // scale, random_state=0)
    return X, None, z


def _methods():
    import umap
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE, Isomap, LocallyLinearEmbedding

    from gradest import UKR

    return {
        # UKR standardises internally with the same training statistics.
        "UKR": lambda: UKR(random_state=0),
        "UMAP": lambda: umap.UMAP(n_components=2, random_state=0),
        "t-SNE": lambda: TSNE(n_components=2, random_state=0),
        "Isomap": lambda: Isomap(n_neighbors=N_NEIGHBORS, n_components=2),
        "LLE": lambda: LocallyLinearEmbedding(n_neighbors=N_NEIGHBORS,
                                              n_components=2, random_state=0),
        "PCA": lambda: PCA(n_components=2),
    }


def compare_one(dataset: str, quick: bool) -> dict:
    """Every method on one data set; a dict of method to measurements."""
    from sklearn.linear_model import LinearRegression
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    X, y, truth = load(dataset, quick)
    index = np.arange(len(X))
    train, test = train_test_split(index, test_size=0.2, random_state=0,
                                   stratify=y)
    scaler = StandardScaler().fit(X[train])
    X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
    out = {"n_train": len(train), "n_features": X.shape[1]}
    methods = _methods()
    # UMAP compiles its numba functions once per process, whatever the data
    # shape: compiled here, so that its times are those of a warm process.
    # UKR's fit compiles for each new shape and is timed with it.
    warm = np.random.default_rng(0).normal(size=(200, X.shape[1]))
    methods["UMAP"]().fit(warm).transform(warm[:20])
    for method, make in methods.items():
        estimator = make()
        # UKR gets the user's units (it standardises them as the scaler does).
        fit_data = X[train] if method == "UKR" else X_train
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # t-SNE's embedding comes only from fit_transform.
            fit = estimator.fit_transform if method == "t-SNE" else estimator.fit
            fit_s, E = timed(lambda fit=fit, data=fit_data: fit(data))
        E = (estimator.embedding_ if method in ("UKR", "UMAP", "Isomap", "LLE")
             else E if method == "t-SNE" else estimator.transform(X_train))
        result = {"fit_s": fit_s,
                  "train_trust": trustworthiness(X_train, E, n_neighbors=N_NEIGHBORS),
                  "warnings": sorted({type(w.message).__name__ for w in caught
                                      if "Convergence" in type(w.message).__name__})}
        if method == "UKR":
            result["n_iter"] = int(estimator.n_iter_)
        if truth is not None:
            result["global_r2"] = LinearRegression().fit(E, truth[train]).score(
                E, truth[train])
        if hasattr(estimator, "transform") and method != "t-SNE":
            test_data = X[test] if method == "UKR" else X_test
            transform_s, Z = timed(lambda est=estimator, data=test_data:
                                   est.transform(data))
            result["transform_s"] = transform_s
            result["held_out_trust"] = trustworthiness(X_test, Z,
                                                       n_neighbors=N_NEIGHBORS)
            if y is not None:
                knn = KNeighborsClassifier(N_NEIGHBORS).fit(E, y[train])
                result["knn_accuracy"] = knn.score(Z, y[test])
            if method in ("UKR", "UMAP", "PCA"):
                back = estimator.inverse_transform(Z)
                if method == "UKR":
                    back = scaler.transform(back)
                result["reconstruction"] = float(np.mean((back - X_test) ** 2))
        out[method] = result
    for method in METHODS:
        if "reconstruction" in out[method]:
            out[method]["reconstruction_vs_pca"] = (
                out[method]["reconstruction"] / out["PCA"]["reconstruction"])
    out["peak_rss_mb"] = peak_rss_mb()
    return out


_COLUMNS = [("train_trust", "trust. train", "{:.3f}"),
            ("held_out_trust", "trust. held-out", "{:.3f}"),
            ("knn_accuracy", "kNN acc. held-out", "{:.3f}"),
            ("reconstruction_vs_pca", "held-out recon. / PCA", "{:.3f}"),
            ("global_r2", "global R^2", "{:.3f}"),
            ("fit_s", "fit (s)", "{:.2f}"),
            ("transform_s", "transform (s)", "{:.3f}")]


def markdown(results: dict) -> str:
    """One table: a row per data set and method."""
    header = ["data set", "method"] + [title for _, title, _ in _COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, by_method in results.items():
        label = f"{name} ({by_method['n_train']} x {by_method['n_features']})"
        for method in METHODS:
            cells = [label, method]
            for key, _, fmt in _COLUMNS:
                value = by_method[method].get(key)
                cells.append("" if value is None else fmt.format(value))
            if method == "UKR":
                cells[1] += f" ({by_method[method]['n_iter']} it.)"
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _versus(case, name, what, ukr, umap_value, *, higher=True, factor=1.0,
            margin=0.0, fmt="{:.3f}"):
    """A row of run.py's table: UKR's value against UMAP's, with the target."""
    if ukr is None or umap_value is None:
        return None
    if higher:
        met = ukr >= umap_value - margin
        target = f">= UMAP - {margin}"
    else:
        met = ukr <= factor * umap_value
        target = f"<= {factor} x UMAP"
    note = f"UKR {fmt.format(ukr)}, UMAP {fmt.format(umap_value)}"
    return row(case, f"{name}: {what}", None, target=target, met=met, note=note)


def ukr_real(quick):
    """Case: UKR vs UMAP, t-SNE, Isomap, LLE, PCA on five data sets."""
    case = "UKR vs UMAP, t-SNE, Isomap, LLE, PCA"
    results = {name: call_in_subprocess("ukr_real_one", dataset=name, quick=quick,
                                        timeout=3600)
               for name in DATASETS}
    table = markdown(results)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, "ukr_real.md"), "w") as out:
        out.write("# UKR vs UMAP, t-SNE, Isomap, LLE, PCA\n\n"
                  f"{'quick' if quick else 'full'} sizes; 80/20 split; "
                  "trustworthiness with 10 neighbours; reconstruction errors "
                  "in standardised units, relative to PCA's.\n\n"
                  f"{table}\n")
    print(table)
    rows = []
    for name, by_method in results.items():
        ukr, other = by_method["UKR"], by_method["UMAP"]
        rows += [
            _versus(case, name, "train trustworthiness", ukr["train_trust"],
                    other["train_trust"], margin=0.005),
            _versus(case, name, "held-out trustworthiness", ukr["held_out_trust"],
                    other["held_out_trust"], margin=0.005),
            _versus(case, name, "held-out reconstruction / PCA's",
                    ukr.get("reconstruction_vs_pca"),
                    other.get("reconstruction_vs_pca"), higher=False, factor=0.5),
            _versus(case, name, "fit time (s)", ukr["fit_s"], other["fit_s"],
                    higher=False, fmt="{:.2f}") if name == "digits" else None,
        ]
        if "global_r2" in ukr:
            rows.append(row(case, f"{name}: global R^2", None, target=">= 0.95",
                            met=ukr["global_r2"] >= 0.95,
                            note=f"UKR {ukr['global_r2']:.3f}, Isomap "
                                 f"{by_method['Isomap']['global_r2']:.3f}, UMAP "
                                 f"{other['global_r2']:.3f}"))
    return [r for r in rows if r is not None]


def ukr_saddle_fit(n_samples: int, dtype: str) -> dict:
    """One UKR fit on the saddle in this (fresh) process, compilation included."""
    from gradest import UKR
    from gradest.datasets import make_saddle

    X = make_saddle(n_samples, random_state=0)[0].astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_s, model = timed(lambda: UKR(random_state=0).fit(X))
    return {"fit_s": fit_s, "n_iter": int(model.n_iter_)}


def ukr_saddle_times(quick):
    """Case: UKR fit times on the saddle against the issue's targets."""
    case = "UKR saddle fits"
    first = call_in_subprocess("ukr_saddle_fit", n_samples=1000, dtype="float64")
    what = f"N = 1,000, first fit in a fresh process ({first['n_iter']} it.)"
    rows = [row(case, what, first["fit_s"], target="<= 1.5 s",
                met=first["fit_s"] <= 1.5, rss_mb=first["peak_rss_mb"])]
    n_big = 3000 if quick else 10_000
    for dtype, limit in (("float64", 20.0), ("float32", 8.0)):
        big = call_in_subprocess("ukr_saddle_fit", n_samples=n_big, dtype=dtype,
                                 timeout=3600)
        rows.append(row(case, f"N = {n_big:,}, {dtype} fit ({big['n_iter']} it.)",
                        big["fit_s"], target=f"<= {limit:g} s (N = 10,000)",
                        met=big["fit_s"] <= limit if n_big == 10_000 else None,
                        rss_mb=big["peak_rss_mb"]))
    return rows


UKR_REAL_CASES = {"ukr_real": ukr_real, "ukr_saddle": ukr_saddle_times}
UKR_REAL_CALLS = {"ukr_real_one": compare_one, "ukr_saddle_fit": ukr_saddle_fit}
