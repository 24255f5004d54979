"""``python -m demo``: gradest beside scikit-learn on the seeds' examples and more.

Prints a table of coefficients or scores and fit times for the linear
models, then one of trustworthiness and reconstruction error for UKR beside
PCA, Isomap and LLE. With matplotlib installed it also writes PNG figures
(the fitted line, the loss curves, UKR's latent spaces and learned surfaces)
into the folder given by ``--plot-dir`` (default ``gradest-demo``).

Run it from the repository's root with gradest installed; ``make demo`` does.
"""

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gradest import GradLinearRegression, GradLogisticRegression, __version__

from .ukr import run_ukr_demo


def _timed(fit: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - start


def _celsius_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeds 000/002: Celsius to Fahrenheit with Gaussian noise of 3 degrees."""
    celsius = np.arange(-5, 15, 0.05)
    noise = np.random.default_rng(seed).normal(0, 3, celsius.size)
    return celsius[:, None], celsius * 9 / 5 + 32 + noise


def _cases():
    """(name, X, y, gradest model, scikit-learn model, kind) for each comparison."""
    eleven_x = np.array([10.0, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5])[:, None]
    eleven_y = np.array([8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84,
                         4.82, 5.68])
    four_x = np.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15],
                       [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
    four_y = np.array([True, True, False, True])

    def scaled_logistic():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000))

    yield ("Celsius -> Fahrenheit (seed 000)", *_celsius_data(),
           GradLinearRegression(), LinearRegression(), "regression")
    yield ("eleven points (seed 003)", eleven_x, eleven_y,
           GradLinearRegression(), LinearRegression(), "regression")
    yield ("diabetes", *load_diabetes(return_X_y=True),
           GradLinearRegression(), LinearRegression(), "regression")
    yield ("four samples (seed 004)", four_x, four_y,
           GradLogisticRegression(), scaled_logistic(), "classification")
    yield ("breast cancer", *load_breast_cancer(return_X_y=True),
           GradLogisticRegression(), scaled_logistic(), "classification")
    yield ("iris (3 classes)", *load_iris(return_X_y=True),
           GradLogisticRegression(), scaled_logistic(), "classification")


def _summaries(kind: str, model, X, y) -> dict[str, str]:
    if kind == "regression":
        coef = np.ravel(getattr(model, "coef_", None))
        shown = ", ".join(f"{c:.5g}" for c in coef[:2])
        shown += ", ..." if coef.size > 2 else ""
        return {"coef": shown, "intercept": f"{float(model.intercept_):.6g}",
                "score": f"R2 {model.score(X, y):.6f}"}
    return {"coef": "", "intercept": "",
            "score": f"log-loss {log_loss(y, model.predict_proba(X)):.6f}  "
                     f"acc {model.score(X, y):.4f}"}


def compare_linear_models(plot_dir: Path | None) -> list:
    """Fit each case with gradest and scikit-learn and print a table."""
    rows, fitted = [], []
    for name, X, y, ours, theirs, kind in _cases():
        ours, first = _timed(lambda ours=ours, X=X, y=y: ours.fit(X, y))
        _, warm = _timed(lambda ours=ours, X=X, y=y: ours.fit(X, y))
        theirs, ref_time = _timed(lambda theirs=theirs, X=X, y=y: theirs.fit(X, y))
        ours_summary = _summaries(kind, ours, X, y)
        ref_summary = _summaries(kind, theirs, X, y)
        rows.append((name, "gradest", ours_summary, f"{first:.3f} / {warm:.4f}",
                     ours.n_iter_))
        rows.append(("", "scikit-learn", ref_summary, f"{ref_time:.4f}", ""))
        fitted.append((name, ours))

    header = (f"{'data':34} {'model':13} {'coef':24} {'intercept':11} "
              f"{'score':34} {'fit s (first/warm)':19} {'iters':>6}")
    print(header)
    print("-" * len(header))
    for name, model, summary, seconds, n_iter in rows:
        print(f"{name:34} {model:13} {summary['coef']:24} "
              f"{summary['intercept']:11} {summary['score']:34} {seconds:19} "
              f"{n_iter!s:>6}")
    if plot_dir is not None:
        _plot_linear(plot_dir, fitted)
    return fitted


def _plot_linear(plot_dir: Path, fitted: list) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(no figures without matplotlib: pip install 'gradest[plot]')")
        return
    plot_dir.mkdir(parents=True, exist_ok=True)
    X, y = _celsius_data()
    model = dict(fitted)["Celsius -> Fahrenheit (seed 000)"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(X[:, 0], y, s=6, alpha=0.5, label="noisy data")
    ax.plot(X[:, 0], X[:, 0] * 9 / 5 + 32, "k--", lw=1, label="F = 9/5 C + 32")
    ax.plot(X[:, 0], model.predict(X), "r", label=(
        f"gradest: {model.coef_[0]:.4f} C + {model.intercept_:.3f}"))
    ax.set(xlabel="Celsius", ylabel="Fahrenheit", title="Celsius to Fahrenheit")
    ax.legend()
    fig.tight_layout()
    fig.savefig(plot_dir / "celsius_fit.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, model in fitted:
        curve = model.loss_curve_ - model.loss_curve_.min()
        ax.semilogy(np.arange(1, curve.size + 1), curve + 1e-16, label=name)
    ax.set(xlabel="iteration", ylabel="objective - final objective",
           title="Loss curves (solver='adam', standardised units)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(plot_dir / "loss_curves.png", dpi=120)
    plt.close(fig)
    print(f"\nFigures written to {plot_dir.resolve()}/: "
          "celsius_fit.png, loss_curves.png")


def main(argv: list[str] | None = None) -> None:
    """Run the demo."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--plot-dir", type=Path, default=Path("gradest-demo"),
                        help="folder for PNG figures (default: gradest-demo)")
    parser.add_argument("--no-plots", action="store_true", help="write no figures")
    args = parser.parse_args(argv)
    plot_dir = None if args.no_plots else args.plot_dir
    print(f"gradest {__version__}: gradient-fitted estimators beside scikit-learn\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=RuntimeWarning)
        compare_linear_models(plot_dir)
        print()
        run_ukr_demo(plot_dir)


if __name__ == "__main__":
    main()
