"""UKR beside PCA, Isomap and LLE on seed 001's saddle and on the swiss roll.

Called by ``python -m demo``: prints the trustworthiness of each
embedding, the held-out reconstruction error of the models that map back
(UKR and PCA) and the fit times; with matplotlib and a plot folder it also
draws UKR's latent spaces and learned surfaces.
"""

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import make_swiss_roll
from sklearn.decomposition import PCA
from sklearn.manifold import Isomap, LocallyLinearEmbedding, trustworthiness
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from gradest import UKR
from gradest.datasets import make_saddle

__all__ = ["run_ukr_demo"]

N_TRAIN = 500
N_TEST = 500
# The saddle's coordinates in very different units, as a user's data may be:
# only a standardised fit sees its shape.
SADDLE_UNITS = np.array([1.0, 1000.0, 0.001])


def saddle(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seed 001's saddle: z uniform in [-1, 1]^2, x = (z1, z2, z1^2 - z2^2)."""
    X, z = make_saddle(n_samples, random_state=seed)
    return X * SADDLE_UNITS, z


def swiss_roll(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's swiss roll; the true coordinates are (angle, height)."""
    X, t = make_swiss_roll(n_samples, random_state=seed)
    return X, np.c_[t, X[:, 1]]


DATASETS: dict[str, Callable[[int, int], tuple[np.ndarray, np.ndarray]]] = {
    "saddle (seed 001)": saddle,
    "swiss roll": swiss_roll,
}


def _models() -> dict[str, object]:
    return {
        "UKR": UKR(random_state=0),
        "PCA": PCA(n_components=2),
        "Isomap": Isomap(n_neighbors=10, n_components=2),
        "LLE": LocallyLinearEmbedding(n_neighbors=10, n_components=2, random_state=0),
    }


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare_embeddings() -> list[dict]:
    """Fit every model on both data sets; return one row per (data, model)."""
    rows = []
    for data_name, make in DATASETS.items():
        X, truth = make(N_TRAIN, 0)
        X_test, _ = make(N_TEST, 1)
        scaler = StandardScaler().fit(X)
        X_std, X_test_std = scaler.transform(X), scaler.transform(X_test)
        for model_name, model in _models().items():
            # UKR standardises inside and answers in the user's units; the
            # others are given standardised data, so that all of them are
            # compared on the same footing.
            own_units = model_name == "UKR"
            X_fit, X_eval = (X, X_test) if own_units else (X_std, X_test_std)
            model, seconds = _timed(lambda model=model, X_fit=X_fit: model.fit(X_fit))
            embedding = getattr(model, "embedding_", None)
            if embedding is None:
                embedding = model.transform(X_fit)
            row = {"data": data_name, "model": model_name, "fit_s": seconds,
                   "trust": trustworthiness(X_std, embedding, n_neighbors=10),
                   "error": None, "fitted": model, "X": X, "truth": truth}
            if hasattr(model, "inverse_transform"):
                X_back = model.inverse_transform(model.transform(X_eval))
                if own_units:
                    X_back = scaler.transform(X_back)
                row["error"] = float(np.mean((X_back - X_test_std) ** 2))
            if own_units:
                _, row["warm_s"] = _timed(
                    lambda X_fit=X_fit: UKR(random_state=0).fit(X_fit))
            rows.append(row)
    return rows


def _print_table(rows: list[dict]) -> None:
    header = (f"{'data':20} {'model':8} {'trustworthiness':>16} "
              f"{'held-out error':>15} {'fit s':>14}")
    print(header)
    print("-" * len(header))
    for row in rows:
        error = "-" if row["error"] is None else f"{row['error']:.4f}"
        seconds = f"{row['fit_s']:.2f}"
        if "warm_s" in row:
            seconds = f"{row['fit_s']:.2f} / {row['warm_s']:.2f}"
        print(f"{row['data']:20} {row['model']:8} {row['trust']:16.4f} "
              f"{error:>15} {seconds:>14}")
    print(f"\n{N_TRAIN} training and {N_TEST} held-out points; trustworthiness "
          "with 10 neighbours; held-out error: mean squared error of\n"
          "inverse_transform(transform(X_test)) per standardised feature "
          "(Isomap and LLE do not map back). UKR fit\nseconds: first fit "
          "(with compilation) / refit.")


def _latent_surface(model: UKR, n_grid: int = 60) -> np.ndarray:
    """The learned surface over a grid of latent points near the embedding.

    Grid points farther from every latent point than the typical distance
    between neighbouring latent points are NaN: there are no data there, and
    the model would only repeat its nearest point.
    """
    Z = model.embedding_
    axes = [np.linspace(lo, hi, n_grid)
            for lo, hi in zip(Z.min(0), Z.max(0), strict=True)]
    grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)
    spacing = NearestNeighbors(n_neighbors=2).fit(Z).kneighbors(Z)[0][:, 1]
    distance = NearestNeighbors(n_neighbors=1).fit(Z).kneighbors(grid)[0][:, 0]
    surface = model.inverse_transform(grid)
    surface[distance > np.median(spacing)] = np.nan
    return surface.reshape(n_grid, n_grid, -1)


def _plot(rows: list[dict], plot_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    fitted = [row for row in rows if row["model"] == "UKR"]
    truth_names = {"saddle (seed 001)": ("z1", "z2"),
                   "swiss roll": ("angle", "height")}

    fig, axes = plt.subplots(len(fitted), 2, figsize=(9, 4.2 * len(fitted)))
    for row, pair in zip(fitted, axes, strict=True):
        Z = row["fitted"].embedding_
        for ax, column, name in zip(pair, row["truth"].T, truth_names[row["data"]],
                                    strict=True):
            points = ax.scatter(Z[:, 0], Z[:, 1], c=column, s=8, cmap="viridis")
            fig.colorbar(points, ax=ax, label=f"true {name}")
            ax.set(title=f"{row['data']}: UKR latent space", xlabel="ukr0",
                   ylabel="ukr1", aspect="equal")
    fig.tight_layout()
    fig.savefig(plot_dir / "ukr_latent.png", dpi=110)
    plt.close(fig)

    fig = plt.figure(figsize=(6 * len(fitted), 5))
    for i, row in enumerate(fitted, start=1):
        ax = fig.add_subplot(1, len(fitted), i, projection="3d")
        X = row["X"]
        surface = _latent_surface(row["fitted"])
        ax.plot_wireframe(*np.moveaxis(surface, -1, 0), color="tab:red",
                          linewidth=0.4)
        ax.scatter(*X.T, c=row["truth"][:, 0], s=4, cmap="viridis")
        ax.set(title=f"{row['data']}: data and UKR surface", xlabel="x1",
               ylabel="x2", zlabel="x3")
    fig.tight_layout()
    fig.savefig(plot_dir / "ukr_surface.png", dpi=110)
    plt.close(fig)
    return ["ukr_latent.png", "ukr_surface.png"]


def run_ukr_demo(plot_dir: Path | None) -> None:
    """Print the comparison table and, given a folder and matplotlib, draw figures.

    Parameters
    ----------
    plot_dir : pathlib.Path or None
        Folder for the PNG figures, created if missing; None for no figures.
    """
    print("Nonlinear dimensionality reduction: UKR beside scikit-learn\n")
    rows = compare_embeddings()
    _print_table(rows)
    if plot_dir is None:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("\n(matplotlib is not installed: no UKR figures)")
        return
    written = _plot(rows, plot_dir)
    print(f"\nFigures written to {plot_dir.resolve()}/: {', '.join(written)}")
