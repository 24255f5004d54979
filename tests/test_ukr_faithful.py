"""UKR off the happy path: projections stay on the embedding, scores of frames,
and fits that diverge."""

import warnings
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_iris, make_s_curve
from sklearn.exceptions import ConvergenceWarning

from gradest import UKR
from gradest._engine import RowProblem, minimize_rows


@pytest.fixture(scope="module", params=["s_curve", "iris"])
def fitted(request):
    """A default fit, the projection of its training data, and held-out points."""
    if request.param == "s_curve":
        X = make_s_curve(1000, random_state=0)[0]
        X_new = make_s_curve(300, random_state=1)[0]
    else:
        X = load_iris().data
        X_new = X + np.random.default_rng(0).normal(scale=0.2, size=X.shape)
    model = UKR(random_state=0).fit(X)
    return model, X, X_new, model.transform(X)


def _span(Z):
    return float(np.linalg.norm(Z.max(axis=0) - Z.min(axis=0)))


def _within_reach(model, Z):
    """Whether each row of Z lies within reach of some training latent point."""
    E = model.embedding_
    distance = np.linalg.norm(Z[:, None] - E[None], axis=2)
    # Rounding of the projection onto a ball's surface, in its precision.
    slack = 1e-9 * (1 + np.abs(E).max())
    return np.any(distance <= model._reach[None, :] + slack, axis=1)


def test_training_points_land_near_their_latents(fitted):
    model, _, _, Z = fitted
    E = model.embedding_
    span = _span(E)
    gaps = np.linalg.norm(Z - E, axis=1) / span
    # A point that the fit reconstructs badly at its own latent point may go
    # to a better one elsewhere on the embedding, but never beyond it: the
    # farthest is across the embedding and the reach of its border points.
    assert gaps.max() <= 1 + 2 * model._reach.max() / span
    assert np.all(_within_reach(model, Z))
    # Most stay near where the fit put them. A border point may slide along
    # the border by about the reach there, two latent spacings, and the
    # embeddings here are 12 (iris) to 30 spacings across: 90 % of the points
    # within an eighth of the span. A free projection let iris points slide
    # into the empty corners, the 90th percentile at a sixth.
    assert np.percentile(gaps, 90) <= 0.125
    # Its extent is the embedding's, widened by at most a reach either side.
    widening = _span(Z) - span
    assert widening <= 2 * np.sqrt(Z.shape[1]) * model._reach.max()


def test_new_points_stay_inside_the_embedding(fitted):
    model, X, X_new, _ = fitted
    E = model.embedding_
    # Held-out points, and points pushed away from the data along each
    # feature, which a free projection throws far out.
    far = X.mean(axis=0) + 3 * (X_new - X.mean(axis=0))
    Z = model.transform(np.vstack([X_new, far]))
    assert np.all(np.isfinite(Z))
    assert np.all(_within_reach(model, Z))
    margin = model._reach.max() * (1 + 1e-9)
    assert np.all(Z >= E.min(axis=0) - margin)
    assert np.all(Z <= E.max(axis=0) + margin)


def test_staying_on_the_embedding_keeps_held_out_reconstructions(fitted):
    # The start, the training latent point whose reconstruction is nearest,
    # is within reach, and a step is kept only if it lowers the row's term of
    # the fit's objective (half the squared error plus alpha_ * |z|^2).
    model, _, X_new, _ = fitted
    Z = model.transform(X_new)
    scale = model._stats.scale

    def objective(Zq):
        errors = np.sum(((X_new - model.inverse_transform(Zq)) / scale) ** 2, axis=1)
        return 0.5 * errors + model.alpha_ * np.sum(Zq ** 2, axis=1)

    F = model.inverse_transform(model.embedding_)
    nearest = np.argmin(np.sum(((X_new[:, None] - F[None]) / scale) ** 2, axis=2),
                        axis=1)
    assert np.all(objective(Z) <= objective(model.embedding_[nearest]) * (1 + 1e-12))


@dataclass(frozen=True)
class _Identity:
    def __call__(self, Zq, fitted):
        return Zq


@dataclass(frozen=True)
class _UnitBox:
    def __call__(self, Zq, fitted):
        return jnp.clip(Zq, 0.0, 1.0)


@pytest.mark.parametrize("method", ["lm", "adam"])
def test_row_minimiser_keeps_rows_in_their_feasible_set(method):
    # min_z |x - z|^2 / 2 over the unit box is x clipped to the box.
    rng = np.random.default_rng(0)
    Xq = rng.uniform(-2, 3, size=(50, 2))
    problem = RowProblem(_Identity(), "squared_error", (np.zeros((1, 2)),), {},
                         project=_UnitBox())
    Z = minimize_rows(problem, Xq, np.full((50, 2), 0.5), method=method)
    # Gauss-Newton is exact here; Adam's fixed steps come within their size.
    atol = 1e-8 if method == "lm" else 0.05
    np.testing.assert_allclose(Z, np.clip(Xq, 0, 1), atol=atol)
    assert np.all((Z >= 0) & (Z <= 1))


def test_score_of_a_dataframe_does_not_warn_about_feature_names():
    pd = pytest.importorskip("pandas")
    X = load_iris().data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = UKR(random_state=0).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        # A UserWarning too, but about the projection, not the names.
        warnings.simplefilter("ignore", ConvergenceWarning)
        score = model.score(frame)
    X_back = model.inverse_transform(model.transform(frame))
    assert score == pytest.approx(
        -np.mean(((X - X_back) / model._stats.scale) ** 2), rel=1e-12)


def test_gd_rising_objective_is_a_divergence_error():
    # A full-batch fit stopping above its starting objective diverged: with
    # this step size plain gradient descent overshoots and stops at once,
    # six times above its start, where the objective is flat.
    X = load_iris().data
    model = UKR(solver="gd", learning_rate=1e6)
    with pytest.raises(ValueError, match="learning_rate"):
        model.fit(X)
    assert not hasattr(model, "embedding_")
