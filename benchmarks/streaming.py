"""Stream 20 million rows x 50 features through partial_fit, never holding them whole.

The rows (8 GB as float64) are generated chunk by chunk from a fixed linear
model with noise; each chunk is passed to ``partial_fit`` and dropped. The
script reports rows per second, the peak resident memory of the process and
how close the streamed coefficients are to the generating ones.

Run ``python benchmarks/streaming.py`` (``--quick`` streams 2 million rows).
"""

import argparse
import resource
import sys
import time

import numpy as np

from gradest import GradLinearRegression, GradLogisticRegression


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients on standardised features, and the features' scales."""
    return np.linspace(-2, 2, n_features), np.logspace(-2, 2, n_features)


def true_coefficients(n_features: int) -> np.ndarray:
    """The generating coefficients in the features' own units."""
    coef, scales = _model(n_features)
    return coef / scales


def chunks(n_rows: int, n_features: int, chunk_rows: int, seed: int = 0):
    """Yield (X, y_continuous, y_binary) chunks of a fixed linear model."""
    rng = np.random.default_rng(seed)
    coef, scales = _model(n_features)
    for start in range(0, n_rows, chunk_rows):
        rows = min(chunk_rows, n_rows - start)
        X = rng.standard_normal((rows, n_features)) * scales + 5.0
        signal = (X - 5.0) / scales @ coef
        y = signal + 3.0 + rng.standard_normal(rows)
        labels = signal + rng.logistic(size=rows) > 0
        yield X, y, labels


def stream(estimator, n_rows, n_features, chunk_rows, classification):
    """Seconds spent in partial_fit (data generation excluded), and coef_."""
    seconds = 0.0
    for X, y, labels in chunks(n_rows, n_features, chunk_rows):
        started = time.perf_counter()
        if classification:
            estimator.partial_fit(X, labels, classes=[False, True])
        else:
            estimator.partial_fit(X, y)
        seconds += time.perf_counter() - started
    return seconds, np.ravel(estimator.coef_)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 million rows")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--batch", type=int, default=10_000,
                        help="mini-batch size inside each chunk")
    args = parser.parse_args(argv)
    n_rows = args.rows or (2_000_000 if args.quick else 20_000_000)
    print(f"streaming {n_rows:,} rows x {args.features} features (float64, "
          f"{n_rows * args.features * 8 / 1e9:.1f} GB) in chunks of {args.chunk:,}")
    print("seconds and rows/s count partial_fit alone, not the data generation")
    print(f"{'model':24} {'seconds':>8} {'rows/s':>12} {'peak RSS MiB':>13} "
          f"{'max rel coef error':>19}")
    for name, estimator, classification in [
        # Squared error streams exactly: each call solves on the statistics
        # of every row so far, so no mini-batches or averaging are needed.
        ("GradLinearRegression", GradLinearRegression(), False),
        ("GradLogisticRegression", GradLogisticRegression(
            C=np.inf, learning_rate=0.05, batch_size=args.batch,
            average=n_rows // 2), True),
    ]:
        seconds, coef = stream(estimator, n_rows, args.features, args.chunk,
                               classification)
        truth = true_coefficients(args.features)
        error = np.max(np.abs(coef - truth) / np.abs(truth))
        print(f"{name:24} {seconds:8.1f} {n_rows / seconds:12,.0f} "
              f"{peak_rss_mb():13.0f} {error:19.3g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
