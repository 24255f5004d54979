"""Property tests of the standardisation and un-scaling algebra and of fits."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradest import GradLinearRegression, GradLogisticRegression
from gradest._moments import compute_moments, merge_moments
from gradest._scaling import (
    fit_standardization,
    scale_linear,
    standardize,
    unscale_linear,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def _data(n_samples=30, n_features=3, dtype=np.float64):
    return arrays(dtype, (n_samples, n_features), elements=finite)


@settings(max_examples=60, deadline=None)
@given(X=_data(), Y=_data(n_features=2), coef=_data(3, 2), intercept=_data(1, 2),
       center=st.booleans())
def test_unscaled_model_predicts_what_the_standardised_one_does(
        X, Y, coef, intercept, center):
    weights = np.ones(len(X))
    x_stats = fit_standardization(X, weights, center=center, scale=True)
    y_stats = fit_standardization(Y, weights, center=center, scale=True)
    raw_coef, raw_intercept = unscale_linear(coef, intercept[0], x_stats, y_stats)
    standardized = standardize(X, x_stats, center=center) @ coef + intercept[0]
    expected = standardized * y_stats.scale + y_stats.mean
    np.testing.assert_allclose(X @ raw_coef + raw_intercept, expected,
                               rtol=1e-9, atol=1e-6 * (1 + np.abs(expected).max()))


@settings(max_examples=60, deadline=None)
@given(X=_data(), Y=_data(n_features=1), coef=_data(3, 1), intercept=_data(1, 1))
def test_scale_linear_inverts_unscale_linear(X, Y, coef, intercept):
    weights = np.ones(len(X))
    x_stats = fit_standardization(X, weights, center=True, scale=True)
    y_stats = fit_standardization(Y, weights, center=True, scale=True)
    back = scale_linear(*unscale_linear(coef, intercept[0], x_stats, y_stats),
                        x_stats, y_stats)
    np.testing.assert_allclose(back[0], coef, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(back[1], intercept[0], rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(X=_data(n_samples=12), counts=arrays(np.int64, 12, elements=st.integers(0, 4)))
def test_integer_weights_equal_repeated_rows(X, counts):
    counts[0] = max(counts[0], 1)
    weighted = fit_standardization(X, counts.astype(float), center=True, scale=True)
    repeated = fit_standardization(np.repeat(X, counts, axis=0),
                                   np.ones(counts.sum()), center=True, scale=True)
    np.testing.assert_allclose(weighted.mean, repeated.mean, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(weighted.scale, repeated.scale, rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(weighted.constant, repeated.constant)


@settings(max_examples=60, deadline=None)
@given(X=_data(n_samples=25), weights=arrays(np.float64, 25, elements=st.floats(0, 5)),
       cuts=st.lists(st.integers(1, 24), max_size=4))
def test_moments_merged_over_chunks_equal_moments_of_all_rows(X, weights, cuts):
    weights[0] = 1.0
    bounds = [0, *sorted(set(cuts)), 25]
    merged = None
    for start, stop in itertools.pairwise(bounds):
        if weights[start:stop].sum() > 0:
            merged = merge_moments(merged, compute_moments(X[start:stop],
                                                           weights[start:stop]))
    whole = compute_moments(X, weights)
    assert merged.weight == pytest.approx(whole.weight)
    assert merged.count == whole.count
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-8, atol=1e-6)


def test_merged_moments_keep_a_subnormal_columns_difference_of_means():
    # Found by the test above: one subnormal entry among zeros. Its block's
    # mean underflowed in the column's own units, and the merge lost the
    # blocks' difference of means (m2 0.9583 against 0.96, in scale units).
    X = np.zeros((25, 1))
    X[1, 0] = 5e-324
    weights = np.ones(25)
    merged = merge_moments(compute_moments(X[:1], weights[:1]),
                           compute_moments(X[1:], weights[1:]))
    whole = compute_moments(X, weights)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-12)
    np.testing.assert_allclose(whole.m2, 1 - 1 / 25, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(value=finite, dtype=st.sampled_from([np.float32, np.float64]))
def test_constant_columns_are_zero_and_finite(value, dtype):
    X = np.column_stack([np.full(20, value), np.linspace(-1, 1, 20)]).astype(dtype)
    stats = fit_standardization(X, np.ones(20, dtype), center=True, scale=True)
    out = standardize(X, stats, center=True)
    assert out.dtype == dtype
    assert stats.constant.tolist() == [True, False]
    np.testing.assert_array_equal(out[:, 0], 0.0)
    assert np.all(np.isfinite(out))


# --- the same properties through the estimators (one shape: compiled once) --------

_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(40, 3))
_Y = _X @ np.array([1.5, -2.0, 0.5]) + 3 + _RNG.normal(scale=0.1, size=40)
_LABELS = (_X[:, 0] + 0.5 * _X[:, 1] + _RNG.normal(scale=0.5, size=40)) > 0
_REFERENCE = GradLinearRegression(solver="lbfgs").fit(_X, _Y)
_CLASSIFIER = GradLogisticRegression(solver="lbfgs").fit(_X, _LABELS)

scales = st.floats(1e-4, 1e4).flatmap(lambda m: st.sampled_from([m, -m]))


@settings(max_examples=15, deadline=None)
@given(scale=st.tuples(scales, scales, scales), shift=st.tuples(finite, finite, finite))
def test_fits_are_invariant_to_affine_feature_transforms(scale, shift):
    moved = _X * np.array(scale) + np.array(shift)
    regression = GradLinearRegression(solver="lbfgs").fit(moved, _Y)
    np.testing.assert_allclose(regression.predict(moved), _REFERENCE.predict(_X),
                               rtol=1e-6)
    classifier = GradLogisticRegression(solver="lbfgs").fit(moved, _LABELS)
    np.testing.assert_allclose(classifier.predict_proba(moved),
                               _CLASSIFIER.predict_proba(_X), rtol=1e-5, atol=1e-7)


# Eight rows dropped and eight doubled: the repeated data keep 40 rows, one
# compiled shape for every example.
@settings(max_examples=15, deadline=None)
@given(counts=st.permutations([0] * 8 + [2] * 8 + [1] * 24))
def test_fitted_integer_weights_equal_repeated_rows(counts):
    counts = np.array(counts)
    weighted = GradLinearRegression(solver="lbfgs").fit(_X, _Y, sample_weight=counts)
    repeated = GradLinearRegression(solver="lbfgs").fit(
        np.repeat(_X, counts, axis=0), np.repeat(_Y, counts))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_through_the_fit(dtype):
    model = GradLinearRegression().fit(_X.astype(dtype), _Y.astype(dtype))
    assert model.coef_.dtype == dtype
    assert model.predict(_X.astype(dtype)).dtype == dtype
    np.testing.assert_allclose(model.coef_, _REFERENCE.coef_,
                               rtol=1e-3 if dtype == np.float32 else 1e-6)


@pytest.mark.parametrize("sparse", [False, True])
def test_zero_weight_rows_set_no_scale(sparse):
    # A tiny varying column beside a large value in a row of zero weight: the
    # weighted rows' moments, as if that row were absent (its squares, scaled
    # by the large value, would underflow and the column look constant).
    import scipy.sparse as sp

    X = np.zeros((12, 2))
    X[0, 0], X[2, 0], X[1, 1], X[3, 1] = 1.29397511e-159, 512.0, 1e300, 3.0
    weights = np.zeros(12)
    weights[[0, 1, 3]] = 1.0
    kept = X[weights > 0]
    expected = fit_standardization(kept, np.ones(3), center=True, scale=True)
    data = sp.csr_array(X) if sparse else X
    weighted = fit_standardization(data, weights, center=True, scale=True)
    np.testing.assert_allclose(weighted.mean, expected.mean, rtol=1e-12)
    np.testing.assert_allclose(weighted.scale, expected.scale, rtol=1e-12)
    np.testing.assert_array_equal(weighted.constant, [False, False])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_moments_equal_numpy_over_many_blocks(monkeypatch, dtype):
    # Blocks of 8 rows through one reused buffer, a partial last block, whole
    # blocks of zero weight and zero-weight rows holding huge values: the
    # moments equal NumPy's weighted mean and variance of all rows.
    import gradest._moments as blocked

    monkeypatch.setattr(blocked, "_BLOCK_ELEMENTS", 8 * 6)
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(101, 6)) * [1, 10, 1e-3, 1e3, 5, 1] + 7).astype(dtype)
    weights = rng.uniform(0, 2, size=101)
    weights[16:24] = 0
    weights[rng.choice(101, 10, replace=False)] = 0
    X[weights == 0] = 1e30
    moments = compute_moments(X, weights)
    kept = weights > 0
    mean = np.average(X[kept].astype(np.float64), axis=0, weights=weights[kept])
    variance = np.average((X[kept] - mean) ** 2, axis=0, weights=weights[kept])
    np.testing.assert_allclose(moments.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(moments.m2 * moments.scale**2 / moments.weight,
                               variance, rtol=1e-10)
    assert moments.count == kept.sum()
