"""Behaviour of UKR: manifold recovery, both mappings, and independent references."""

import pickle
import warnings
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits, make_s_curve, make_swiss_roll
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.manifold import Isomap, LocallyLinearEmbedding, trustworthiness
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from gradest import UKR
from gradest import ukr as ukr_module
from gradest._engine import blocks, rowwise
from gradest.datasets import make_saddle
from gradest.ukr import _reconstruction

# The three coordinates of the saddle in very different units: without
# standardisation the middle one would be all that counts.
UNITS = np.array([1.0, 1000.0, 0.001])


def saddle(n_samples, seed):
    """Seed 001's saddle, x = (z1, z2, z1^2 - z2^2), in the units above."""
    X, z = make_saddle(n_samples, random_state=seed)
    return X * UNITS, z


def swiss_roll(n_samples, seed):
    X, t = make_swiss_roll(n_samples, random_state=seed)
    return X, t


def numpy_nadaraya_watson(Zq, Z, X, exclude_self=False):
    """Gaussian Nadaraya-Watson estimate by a plain loop over query points."""
    out = np.empty((len(Zq), X.shape[1]))
    for i, zq in enumerate(Zq):
        k = np.exp(-0.5 * np.sum((Z - zq) ** 2, axis=1))
        if exclude_self:
            k[i] = 0.0
        out[i] = k @ X / k.sum()
    return out


def standardised_error(X, X_back, scaler):
    return np.mean(((X - X_back) / scaler.scale_) ** 2)


@pytest.fixture(scope="module", params=[saddle, swiss_roll], ids=["saddle", "swiss"])
def manifold(request):
    """A fit on 500 points, with the projections of its training and test data."""
    X, _ = request.param(500, seed=0)
    X_test, _ = request.param(300, seed=1)
    model = UKR(random_state=0).fit(X)
    return SimpleNamespace(X=X, X_test=X_test, model=model,
                           Z_train=model.transform(X), Z_test=model.transform(X_test))


def test_embedding_is_trustworthy(manifold):
    X_std = StandardScaler().fit_transform(manifold.X)
    ours = trustworthiness(X_std, manifold.model.embedding_, n_neighbors=10)
    lle = LocallyLinearEmbedding(n_neighbors=10, n_components=2, random_state=0)
    theirs = trustworthiness(X_std, lle.fit_transform(X_std), n_neighbors=10)
    assert ours >= 0.95
    assert ours >= theirs


def test_held_out_reconstruction_beats_pca(manifold):
    X, X_test, model = manifold.X, manifold.X_test, manifold.model
    scaler = StandardScaler().fit(X)
    ours = standardised_error(X_test, model.inverse_transform(manifold.Z_test), scaler)
    pca = make_pipeline(StandardScaler(), PCA(n_components=2)).fit(X)
    theirs = standardised_error(X_test, pca.inverse_transform(pca.transform(X_test)),
                                scaler)
    assert ours <= theirs / 5
    assert model.score(X_test[:50]) == pytest.approx(
        -standardised_error(X_test[:50],
                            model.inverse_transform(manifold.Z_test[:50]), scaler),
        rel=1e-10)


def test_refit_is_deterministic_and_fit_transform_is_transform(manifold):
    again = UKR(random_state=0)
    np.testing.assert_array_equal(again.fit_transform(manifold.X), manifold.Z_train)
    np.testing.assert_array_equal(again.embedding_, manifold.model.embedding_)


def test_projection_of_training_points_lands_near_their_latents(manifold):
    Z = manifold.model.embedding_
    gaps = np.linalg.norm(manifold.Z_train - Z, axis=1)
    spacing = np.sort(np.linalg.norm(Z[:, None] - Z[None], axis=2), axis=1)[:, 1]
    assert np.median(gaps) < 0.5 * np.median(spacing)


def test_transform_treats_rows_independently(manifold, monkeypatch):
    # Exactly equal: a step is taken or not by comparing two losses, so a
    # difference in the last bit could send a row to another local minimum.
    model, X_test, Z_test = manifold.model, manifold.X_test, manifold.Z_test
    alone = np.vstack([model.transform(X_test[i:i + 1]) for i in range(0, 40, 8)])
    np.testing.assert_array_equal(alone, Z_test[:40:8])
    reversed_order = model.transform(X_test[:40][::-1])[::-1]
    np.testing.assert_array_equal(reversed_order, Z_test[:40])
    shuffled = np.random.default_rng(0).permutation(len(X_test))
    np.testing.assert_array_equal(model.transform(X_test[shuffled]), Z_test[shuffled])
    # Several compiled calls, each with its own queue of rows.
    monkeypatch.setattr(rowwise, "_ROWS_PER_CALL", 64)
    np.testing.assert_array_equal(model.transform(X_test), Z_test)


def _standardised_errors(model, X, Z):
    return np.sum(((X - model.inverse_transform(Z)) / model._stats.scale) ** 2, axis=1)


def _row_objective(model, X, Z):
    """Each row's term of the fit's objective, which transform minimises:
    half the squared standardised error plus ``alpha_ * |z|^2``."""
    penalty = model.alpha_ * np.sum(Z ** 2, axis=1)
    return 0.5 * _standardised_errors(model, X, Z) + penalty


def test_projection_improves_on_every_start_and_converges(manifold):
    model, X_test, Z_test = manifold.model, manifold.X_test, manifold.Z_test
    # The start: the training latent point whose reconstruction is nearest.
    F_train = model.inverse_transform(model.embedding_)
    gaps = np.sum(((X_test[:, None] - F_train[None]) / model._stats.scale) ** 2, axis=2)
    start = model.embedding_[np.argmin(gaps, axis=1)]
    values = _row_objective(model, X_test, Z_test)
    start_values = _row_objective(model, X_test, start)
    assert np.all(values <= start_values * (1 + 1e-12))
    errors = _standardised_errors(model, X_test, Z_test)
    assert np.median(errors / _standardised_errors(model, X_test, start)) < 0.2
    # A local minimum: nudging a latent coordinate seldom lowers the objective.
    lowered = 0
    for axis in range(Z_test.shape[1]):
        for nudge in (-1e-3, 1e-3):
            nudged = Z_test.copy()
            nudged[:, axis] += nudge
            lowered += np.sum(_row_objective(model, X_test, nudged)
                              < values * (1 - 1e-9))
    assert lowered <= 0.05 * Z_test.size * 2


def test_transforms_of_any_length_share_one_compiled_projection(manifold):
    model, X_test = manifold.model, manifold.X_test
    model.transform(X_test[:3])
    before = rowwise._lm_rows._cache_size()
    for n in (1, 7, 100, len(X_test)):
        model.transform(X_test[:n])
    assert rowwise._lm_rows._cache_size() == before


@pytest.mark.parametrize("kernel", ["gaussian", "quartic", "student",
                                    lambda d2: 1.0 / (1.0 + d2) ** 2])
def test_projection_jacobian_matches_autodiff_of_each_row(kernel):
    rng = np.random.default_rng(4)
    Z, X = rng.uniform(-2, 2, size=(12, 2)), rng.normal(size=(12, 3))
    weights = (np.arange(12) < 10).astype(float)
    # The last query lies outside every quartic support: its weights fall
    # back to the nearest point, where f is flat.
    Zq = np.vstack([rng.uniform(-2, 2, size=(5, 2)), [[40.0, 0.0]]])
    with jax.enable_x64(True):
        F, J = rowwise._value_and_row_jacobian(
            _reconstruction.Reconstruction(kernel), jnp.asarray(Zq),
            (jnp.asarray(Z), jnp.asarray(X), jnp.asarray(weights)))

        def f(z):
            return ukr_module.reconstruct(z[None], jnp.asarray(Z), jnp.asarray(X),
                                          jnp.asarray(weights), kernel)[0]

        for i, z in enumerate(Zq):
            np.testing.assert_allclose(F[i], f(jnp.asarray(z)), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(J[i], jax.jacfwd(f)(jnp.asarray(z)),
                                       rtol=1e-10, atol=1e-12)


def test_inverse_transform_is_nadaraya_watson_in_user_units():
    X, _ = saddle(80, seed=10)
    model = UKR().fit(X)
    Zq = model.embedding_[:25] + 0.3
    expected = numpy_nadaraya_watson(Zq, model.embedding_, X)
    got = model.inverse_transform(Zq)
    np.testing.assert_allclose(got / UNITS, expected / UNITS, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loo", [True, False])
def test_objective_equals_a_numpy_loop(loo):
    rng = np.random.default_rng(3)
    Z, X = rng.normal(size=(9, 2)), rng.normal(size=(9, 3))
    alpha = 0.3
    objective = _reconstruction.UKRObjective("gaussian", "squared_error", loo)
    with jax.enable_x64(True):
        value = float(objective(jnp.asarray(Z), jnp.asarray(X), jnp.ones(9),
                                {"alpha": alpha, "epsilon": 0.1}))
    F = numpy_nadaraya_watson(Z, Z, X, exclude_self=loo)
    expected = (np.mean(0.5 * np.sum((X - F) ** 2, axis=1))
                + alpha * np.mean(np.sum(Z**2, axis=1)))
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kernel", ["gaussian", "quartic", "student"])
@pytest.mark.parametrize("loss", ["squared_error", "huber"])
def test_gradient_matches_finite_differences(kernel, loss):
    rng = np.random.default_rng(0)
    # Spread so that each quartic support holds some neighbours but not all.
    Z, X = rng.uniform(-1.2, 1.2, size=(7, 2)), rng.normal(size=(7, 3))
    hyper = {"alpha": 0.05, "epsilon": 0.5}
    objective = _reconstruction.UKRObjective(kernel, loss, True)
    with jax.enable_x64(True):
        @jax.jit
        def f(Z_):
            return objective(Z_, jnp.asarray(X), jnp.ones(7), hyper)

        grad = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(Z)))
        step = 1e-6
        numeric = np.zeros_like(Z)
        for index in np.ndindex(Z.shape):
            bump = np.zeros_like(Z)
            bump[index] = step
            numeric[index] = (float(f(Z + bump)) - float(f(Z - bump))) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_blocked_kernel_matrix_gives_the_same_objective_and_gradient(monkeypatch):
    rng = np.random.default_rng(1)
    Z, X = rng.normal(size=(64, 2)) * 3, rng.normal(size=(64, 3))
    weights = (np.arange(64) < 60).astype(float)
    hyper = {"epsilon": 0.1}

    def value_and_grad():
        with jax.enable_x64(True):
            @jax.jit
            def f(Z_):
                return jnp.sum(ukr_module.reconstruction_losses(
                    Z_, jnp.asarray(X), jnp.asarray(weights), hyper,
                    kernel="gaussian", loss="squared_error", loo=True))

            value, grad = jax.jit(jax.value_and_grad(f))(jnp.asarray(Z))
            return float(value), np.asarray(grad)

    whole = value_and_grad()
    monkeypatch.setattr(blocks, "MAX_BLOCK", 16)
    assert blocks.block_size(64) == 16
    blocked = value_and_grad()
    assert blocked[0] == pytest.approx(whole[0], rel=1e-12)
    np.testing.assert_allclose(blocked[1], whole[1], rtol=1e-10, atol=1e-14)


def test_far_apart_latents_fall_back_to_the_nearest_point():
    Z = jnp.asarray([[0.0, 0.0], [50.0, 0.0], [0.0, 80.0]])
    for kernel in ["gaussian", "quartic", "student", lambda d2: jnp.exp(-d2)]:
        R = np.asarray(ukr_module.nadaraya_watson_weights(
            Z, Z, jnp.ones(3), kernel, exclude=jnp.eye(3, dtype=bool)))
        assert np.all(np.isfinite(R))
        np.testing.assert_allclose(R.sum(axis=1), 1.0, rtol=1e-6)
        # Point 0's nearest other point is point 1.
        assert R[0].argmax() == 1


@pytest.mark.parametrize("X", [
    np.repeat([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]], 10, axis=0),
    np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0], [0.5, 0.5, 0.0]]),
], ids=["duplicated-rows", "three-samples"])
@pytest.mark.parametrize("kernel", ["gaussian", "quartic"])
def test_degenerate_data_give_no_nan(X, kernel):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = UKR(kernel=kernel, max_iter=50).fit(X)
    Z = model.transform(X)
    assert np.all(np.isfinite(model.embedding_))
    assert np.all(np.isfinite(Z))
    assert np.all(np.isfinite(model.inverse_transform(Z)))


def test_float32_stays_float32():
    X, _ = saddle(100, seed=2)
    model = UKR().fit(X.astype(np.float32))
    assert model.embedding_.dtype == np.float32
    Z = model.transform(X.astype(np.float32))
    assert Z.dtype == np.float32
    assert model.inverse_transform(model.embedding_).dtype == np.float32
    # Projected in float32 as well, and as well as in float64 from there.
    twin = UKR().fit(X)
    twin.__dict__.update(embedding_=model.embedding_.astype(np.float64),
                         _X_fit=model._X_fit.astype(np.float64),
                         _reconstructions=model._reconstructions.astype(np.float64))
    errors = _standardised_errors(model, X, Z.astype(np.float64))
    errors_64 = _standardised_errors(twin, X, twin.transform(X))
    assert np.median(errors) <= 1.5 * np.median(errors_64) + 1e-6


def test_epsilon_insensitive_projection_takes_adam_steps(monkeypatch):
    X, _ = saddle(100, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = UKR(loss="epsilon_insensitive", epsilon=0.05, max_iter=30).fit(X)
    Z = model.transform(X[:30])
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(model.transform(X[:30][::-1])[::-1], Z,
                               rtol=0, atol=1e-10)
    adam, calls = rowwise._by_adam, []

    def spy(*args, **kwargs):
        calls.append(1)
        return adam(*args, **kwargs)

    monkeypatch.setattr(rowwise, "_by_adam", spy)
    model.transform(X[:3])
    assert calls == [1]


def test_latent_history_starts_at_the_given_init():
    X, z = saddle(60, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = UKR(init=3 * z, record_history=True, max_iter=20).fit(X)
    assert model.latent_history_.shape == (model.n_iter_ + 1, 60, 2)
    np.testing.assert_array_equal(model.latent_history_[0], 3 * z)
    np.testing.assert_array_equal(model.latent_history_[-1], model.embedding_)
    assert model.loss_curve_.shape == (model.n_iter_,)


def test_other_initialisations():
    X, _ = saddle(100, seed=4)
    random_a = UKR(init="random", random_state=5, max_iter=40, tol=1.0).fit(X)
    random_b = UKR(init="random", random_state=5, max_iter=40, tol=1.0).fit(X)
    np.testing.assert_array_equal(random_a.embedding_, random_b.embedding_)
    isomap = UKR(init=Isomap(n_components=5), max_iter=40, tol=1.0).fit(X)
    assert isomap.embedding_.shape == (100, 2)
    assert np.all(np.isfinite(isomap.embedding_))


def test_non_default_kernel_and_loss_fit():
    X, _ = saddle(100, seed=5)

    def log_cosh(x_true, x_pred):
        return jnp.log(jnp.cosh(x_pred - x_true))

    # Adam with a few steps: these only need to run and stay finite.
    for params in [{"kernel": lambda d2: 1.0 / (1.0 + d2) ** 2},
                   {"loss": log_cosh},
                   {"loss": "epsilon_insensitive", "epsilon": 0.05},
                   {"loo": False, "alpha": 1e-3}]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = UKR(solver="adam", max_iter=20, **params).fit(X)
        assert np.all(np.isfinite(model.embedding_))
        assert np.all(np.isfinite(model.inverse_transform(model.embedding_[:5])))
    assert np.all(np.isfinite(model.transform(X[:5])))


@pytest.mark.parametrize("params, error, match", [
    ({"n_components": 4}, ValueError, "n_features=3"),
    ({"kernel": "box"}, InvalidParameterError, "kernel"),
    ({"loss": "absolute_error"}, InvalidParameterError, "loss"),
    ({"init": "lle"}, InvalidParameterError, "init"),
    ({"init": np.zeros((5, 2))}, ValueError, "shape"),
    ({"init": StandardScaler()}, ValueError, "n_components"),
])
def test_invalid_parameters_are_clear_errors(params, error, match):
    X, _ = saddle(30, seed=6)
    with pytest.raises(error, match=match):
        UKR(**params).fit(X)


def test_inverse_transform_checks_the_latent_dimension(manifold):
    with pytest.raises(ValueError, match="n_components=2"):
        manifold.model.inverse_transform(np.zeros((3, 3)))


def test_max_iter_warns():
    X, _ = saddle(60, seed=7)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        UKR(max_iter=2, tol=0.0).fit(X)


def test_pickle_round_trip(manifold):
    model = manifold.model
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(manifold.X_test[:20]),
                                  manifold.Z_test[:20])
    np.testing.assert_array_equal(restored.inverse_transform(model.embedding_[:5]),
                                  model.inverse_transform(model.embedding_[:5]))


def test_grid_search_over_n_components():
    X, _ = saddle(90, seed=8)
    search = GridSearchCV(UKR(), {"n_components": [1, 2]}, cv=3)
    search.fit(X)
    assert search.best_params_["n_components"] in (1, 2)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    # A one-dimensional latent space cannot hold a saddle surface.
    assert search.best_params_["n_components"] == 2


def test_pandas_output_names_the_components():
    pd = pytest.importorskip("pandas")
    X, _ = saddle(60, seed=9)
    frame = pd.DataFrame(X, columns=["u", "v", "w"])
    model = UKR(max_iter=50).set_output(transform="pandas")
    out = model.fit_transform(frame)
    assert list(out.columns) == ["ukr0", "ukr1"]
    assert list(model.get_feature_names_out()) == ["ukr0", "ukr1"]
    np.testing.assert_array_equal(model.feature_names_in_, ["u", "v", "w"])


def test_random_init_unfolds_from_a_flat_start():
    # Latents of standard deviation 0.01 sit where the objective is nearly
    # flat; the fit must still move them and find the saddle's two coordinates.
    X, _ = saddle(300, 0)
    model = UKR(init="random", random_state=1).fit(X)
    assert model.n_iter_ > 1
    assert np.std(model.embedding_) > 10 * 0.01
    X_std = StandardScaler().fit_transform(X)
    assert trustworthiness(X_std, model.embedding_, n_neighbors=10) > 0.95


@pytest.mark.parametrize("kernel", ["gaussian", "quartic", "student",
                                    lambda d2: 1.0 / (1.0 + d2) ** 2])
@pytest.mark.parametrize("loss", ["squared_error", "huber"])
@pytest.mark.parametrize("loo", [True, False])
def test_fused_gradient_matches_autodiff_of_the_plain_objective(kernel, loss, loo,
                                                                 monkeypatch):
    # 96 rows in blocks of 32, the last 6 of zero weight (padding); spread so
    # that quartic supports hold some neighbours and the last point lies
    # outside all of them (its weights fall back to the nearest point).
    monkeypatch.setattr(_reconstruction, "FUSED_BLOCK", 32)
    rng = np.random.default_rng(7)
    Z = rng.uniform(-3, 3, size=(96, 2))
    Z[89] = [30.0, 0.0]
    X = rng.normal(size=(96, 5))
    weights = (np.arange(96) < 90).astype(float)
    hyper = {"alpha": 0.05, "epsilon": 0.5}
    objective = _reconstruction.UKRObjective(kernel, loss, loo)
    with jax.enable_x64(True):
        args = (jnp.asarray(X), jnp.asarray(weights), hyper)

        def plain(Z_, X_, w_, hyper_):
            losses = ukr_module.reconstruction_losses(
                Z_, X_, w_, hyper_, kernel=kernel, loss=loss, loo=loo)
            return (jnp.sum(w_ * losses) / jnp.sum(w_)
                    + hyper_["alpha"] * jnp.sum(w_ * jnp.sum(Z_**2, axis=1))
                    / jnp.sum(w_))

        fused_value, fused_grad = jax.jit(jax.value_and_grad(objective))(
            jnp.asarray(Z), *args)
        plain_value, plain_grad = jax.jit(jax.value_and_grad(plain))(
            jnp.asarray(Z), *args)
        value_only = jax.jit(objective)(jnp.asarray(Z), *args)
    assert float(fused_value) == pytest.approx(float(plain_value), rel=1e-12)
    assert float(value_only) == pytest.approx(float(plain_value), rel=1e-12)
    # Sums in another order: rounding of float64, scaled by the largest entry.
    scale = float(jnp.max(jnp.abs(plain_grad)))
    np.testing.assert_allclose(fused_grad, plain_grad, rtol=0, atol=1e-12 * scale)
    np.testing.assert_array_equal(np.asarray(fused_grad)[90:], 0.0)


def _true_coordinates(name, n_samples):
    if name == "swiss_roll_with_hole":
        X, t = make_swiss_roll(n_samples, hole=True, random_state=0)
        return X, np.c_[t, X[:, 1]]
    if name == "s_curve":
        X, t = make_s_curve(n_samples, random_state=0)
        return X, np.c_[t, X[:, 1]]
    return make_saddle(n_samples, random_state=0)


@pytest.mark.parametrize("name", ["swiss_roll_with_hole", "s_curve", "saddle"])
def test_default_init_unfolds_curved_manifolds(name):
    # The global layout: the true coordinates are nearly a linear function of
    # the embedding. A start from PCA leaves these folded (0.49, 0.62, 0.58);
    # Isomap with its best neighbourhood reaches 0.94, 1.00, 0.95.
    X, T = _true_coordinates(name, 1000)
    model = UKR(random_state=0).fit(X)
    r2 = LinearRegression().fit(model.embedding_, T).score(model.embedding_, T)
    assert r2 >= 0.93
    # The auto start is the candidate of smallest leave-one-out error, so it
    # is no worse than the start from PCA by that measure.
    X_std = StandardScaler().fit_transform(X)
    starts = {init: ukr_module._init.initial_latents(UKR(init=init), X_std)
              for init in ("auto", "pca")}
    errors = {init: float(np.mean(_reconstruction.map_to_data(
        Z, Z, X_std, kernel="gaussian", loss="squared_error", epsilon=0.1,
        target=X_std, leave_out=True)[1])) for init, Z in starts.items()}
    assert errors["auto"] <= errors["pca"]


def test_exact_graph_embeddings_are_isomap_and_place_rows_beyond_the_limit_as_it_does(
        monkeypatch):
    X, _ = _true_coordinates("s_curve", 600)
    X_std = StandardScaler().fit_transform(X)
    exact = ukr_module._init._isomap_embeddings(X_std, 2, n_landmarks=None)
    assert list(exact) == list(ukr_module._init._AUTO_NEIGHBORS)
    again = ukr_module._init._isomap_embeddings(X_std, 2, n_landmarks=None)
    for k in exact:
        np.testing.assert_array_equal(exact[k], again[k])
    # Above the row limit the graph holds evenly spaced rows and the others
    # are placed as Isomap.transform places new points.
    monkeypatch.setattr(ukr_module._init, "_AUTO_MAX_ROWS", 400)
    embeddings = ukr_module._init._isomap_embeddings(X_std, 2, n_landmarks=None)
    base = np.unique(np.linspace(0, 599, 400).astype(int))
    others = np.setdiff1d(np.arange(600), base)
    for k, ours in embeddings.items():
        isomap = Isomap(n_neighbors=k, n_components=2, eigen_solver="dense")
        theirs = np.empty_like(ours)
        theirs[base] = isomap.fit_transform(X_std[base])
        theirs[others] = isomap.transform(X_std[others])
        _assert_equal_up_to_sign(ours, theirs)


def _assert_equal_up_to_sign(ours, theirs):
    # Eigenvectors are defined up to sign.
    signs = np.sign(np.sum(ours * theirs, axis=0))
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours * signs, theirs, rtol=0, atol=1e-6 * scale)


def test_landmark_embeddings_are_landmark_mds_of_the_graph_geodesics():
    # de Silva and Tenenbaum's landmark MDS, by NumPy from all the graph's
    # shortest paths: classical scaling of the landmarks' squared distances,
    # then each row at -1/2 pinv(L) (its squared distances - their mean).
    from scipy.sparse.csgraph import shortest_path
    from sklearn.neighbors import kneighbors_graph

    X, _ = _true_coordinates("swiss_roll_with_hole", 500)
    X_std = StandardScaler().fit_transform(X)
    n_landmarks = 60
    ours = ukr_module._init._isomap_embeddings(X_std, 2, ks=(10,),
                                               n_landmarks=n_landmarks)[10]
    landmarks = np.sort(np.random.RandomState(0).choice(500, n_landmarks,
                                                        replace=False))
    geodesic = shortest_path(kneighbors_graph(X_std, 10, mode="distance"),
                             directed=False)
    squared = geodesic[:, landmarks] ** 2
    centring = np.eye(n_landmarks) - 1 / n_landmarks
    values, vectors = np.linalg.eigh(-0.5 * centring @ squared[landmarks] @ centring)
    values, vectors = values[::-1][:2], vectors[:, ::-1][:, :2]
    theirs = -0.5 * (squared - squared[landmarks].mean(axis=0)) @ (
        vectors / np.sqrt(values))
    _assert_equal_up_to_sign(ours, theirs)


def test_graph_start_is_the_exact_isomap_of_the_best_ranked_neighbourhood(
        monkeypatch):
    # The landmarks rank the neighbourhood sizes; the start is then the
    # exact Isomap embedding of the best, at its best scale.
    monkeypatch.setattr(ukr_module._init, "_LANDMARKS", 50)
    X, _ = _true_coordinates("swiss_roll_with_hole", 500)
    X_std = StandardScaler().fit_transform(X)
    init = ukr_module._init
    errors = {k: min(init.loo_error(Z, X_std, UKR())
                     for Z in init._scaled_candidates(embedding))
              for k, embedding in init._isomap_embeddings(X_std, 2).items()}
    best_k = min(errors, key=errors.get)
    error, start = init._graph_start(X_std, 2, UKR())
    isomap = Isomap(n_neighbors=best_k, n_components=2).fit_transform(X_std)
    # The same embedding, centred and scaled alike in both columns.
    isomap = isomap - isomap.mean(axis=0)
    ratio = np.sum(start * isomap, axis=0) / np.sum(isomap**2, axis=0)
    assert np.allclose(np.abs(ratio), np.abs(ratio[0]), rtol=1e-6)
    _assert_equal_up_to_sign(start, isomap * np.abs(ratio))
    assert error == pytest.approx(init.loo_error(start, X_std, UKR()), rel=1e-12)


def test_geodesics_through_neighbours_equal_the_least_sum_over_them(monkeypatch):
    # Blocks of 7 rows, so that the last one is partial.
    monkeypatch.setattr(ukr_module._init, "_THROUGH_BLOCK_ROWS", 7)
    rng = np.random.default_rng(3)
    geodesic = rng.random((40, 40))
    indices = rng.integers(0, 40, (30, 6))
    distances = np.sort(rng.random((30, 6)), axis=1)
    expected = np.min(geodesic[indices] + distances[:, :, None], axis=1)
    np.testing.assert_array_equal(
        ukr_module._init._geodesic_through(geodesic, indices, distances), expected)


def test_latent_reach_is_the_distance_to_the_kth_other_row():
    rng = np.random.default_rng(4)
    Z = rng.normal(size=(60, 2))
    Z[7] = Z[3]  # a duplicate: each is the other's nearest, at distance 0
    distances = np.sqrt(np.sum((Z[:, None] - Z[None]) ** 2, axis=-1))
    np.fill_diagonal(distances, np.inf)
    for k, floor in [(1, 0.0), (4, 0.0), (4, 0.5), (100, 0.0)]:
        kth = np.sort(distances, axis=1)[:, min(k, 59) - 1]
        np.testing.assert_allclose(ukr_module._init.latent_reach(Z, k, floor),
                                   np.maximum(kth, floor), rtol=1e-12, atol=1e-12)


def test_loo_error_of_many_rows_is_the_mean_over_evenly_spaced_ones(monkeypatch):
    X, _ = saddle(300, seed=5)
    X_std = (X - X.mean(axis=0)) / X.std(axis=0)
    Z = PCA(2).fit_transform(X_std)
    estimator = UKR()
    losses = _reconstruction.map_to_data(Z, Z, X_std, kernel="gaussian",
                                         loss="squared_error", epsilon=0.1,
                                         target=X_std, leave_out=True)[1]
    init = ukr_module._init
    np.testing.assert_allclose(init.loo_error(Z, X_std, estimator), np.mean(losses),
                               rtol=1e-12)
    monkeypatch.setattr(init, "_LOO_MAX_ROWS", 50)
    rows = np.unique(np.linspace(0, 299, 50).astype(int))
    # Each of those rows is still reconstructed from all the other 299.
    np.testing.assert_allclose(init.loo_error(Z, X_std, estimator),
                               np.mean(losses[rows]), rtol=1e-12)


def test_relative_progress_rule_stops_where_a_numpy_loop_over_the_curve_says():
    X, _ = saddle(200, seed=12)
    rtol = 2e-3
    model = UKR(init="pca", alpha=0.0, tol=0.0, rtol=rtol, random_state=0).fit(X)
    curve = model.loss_curve_
    X_std = (X - X.mean(axis=0)) / X.std(axis=0)
    objective = _reconstruction.UKRObjective("gaussian", "squared_error", True)
    with jax.enable_x64(True):
        final = float(objective(jnp.asarray(model.embedding_), jnp.asarray(X_std),
                                jnp.ones(len(X)), {"alpha": 0.0, "epsilon": 0.1}))
    values = np.append(curve, final)
    window = 10
    progress = (values[:-window] - values[window:]) / np.abs(values[window:])
    # Stopped at the first evaluation whose mean progress per iteration over
    # the last ten is at most rtol, and not before.
    assert len(values) > window
    assert progress[-1] <= window * rtol * (1 + 1e-9)
    assert np.all(progress[:-1] > window * rtol)
    assert model.n_iter_ < model.max_iter


def test_auto_init_fits_rival_starts_and_keeps_the_lower_objective():
    # Clustered data: the best starts from the principal components and from
    # Isomap are close by the leave-one-out error, and both are fitted a few
    # iterations. On a quarter of the digits the one that loses at the start
    # wins after them.
    X = load_digits().data[::4]
    model = UKR().fit(X)
    # The fit's own standardised data, to the last bit.
    X_std = model._X_fit
    finalists = ukr_module._init.start_finalists(UKR(), X_std)
    assert len(finalists) == 2
    errors = [ukr_module._init.loo_error(Z, X_std, UKR()) for Z in finalists]
    assert errors[0] <= errors[1] <= ukr_module._init._RIVAL_RATIO * errors[0]
    np.testing.assert_array_equal(finalists[0], ukr_module._init.initial_latents(
        UKR(), X_std))
    alpha = model.alpha_
    values = []
    for Z in finalists:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            E = UKR(init=Z, alpha=alpha,
                    max_iter=ukr_module._init._RIVAL_ITERATIONS).fit(X).embedding_
        # The objective by plain NumPy: leave-one-out error plus the penalty.
        residual = X_std - numpy_nadaraya_watson(E, E, X_std, exclude_self=True)
        values.append(np.mean(0.5 * np.sum(residual**2, axis=1))
                      + alpha * np.mean(np.sum(E**2, axis=1)))
    assert values[1] < values[0]
    reference = UKR(init=finalists[1], alpha=alpha).fit(X)
    np.testing.assert_allclose(model.embedding_, reference.embedding_,
                               rtol=0, atol=1e-9 * np.abs(reference.embedding_).max())
    # A curved manifold: the principal components start far worse, and the
    # Isomap start is the only finalist.
    X_curve, _ = make_s_curve(500, noise=0.05, random_state=0)
    assert len(ukr_module._init.start_finalists(
        UKR(), StandardScaler().fit_transform(X_curve))) == 1


def test_auto_alpha_is_the_stated_fraction_and_small_on_a_manifold():
    X, _ = saddle(150, seed=13)
    X_std = StandardScaler().fit_transform(X)
    Z0 = ukr_module._init.initial_latents(UKR(), X_std)
    # Plain NumPy: leave-one-out error, error of the mean, spread of the start.
    error = np.mean(0.5 * np.sum(
        (X_std - numpy_nadaraya_watson(Z0, Z0, X_std, exclude_self=True)) ** 2, axis=1))
    baseline = np.mean(0.5 * np.sum(X_std**2, axis=1))
    spread = np.mean(np.sum(Z0**2, axis=1))
    expected = 0.5 * error**2 / (baseline * spread)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = UKR(max_iter=5).fit(X)
        collapsed = UKR(init="random", random_state=0, max_iter=5).fit(X)
    assert model.alpha_ == pytest.approx(expected, rel=1e-9)
    # Measured at the auto start whatever the init.
    assert collapsed.alpha_ == pytest.approx(expected, rel=1e-9)
    # A surface leaves about 1 % unexplained: the penalty starts below 1 %
    # of the error.
    assert error / baseline < 0.02
    assert model.alpha_ * spread < 0.01 * error
    # Clustered data, which neighbours reconstruct only in part, get a larger one.
    blobs = np.random.default_rng(0).normal(size=(150, 3)) + np.repeat(
        np.eye(3) * 4, 50, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert UKR(max_iter=5).fit(blobs).alpha_ > 10 * model.alpha_
