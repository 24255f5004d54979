"""Where UKR starts: the latent points of a fit, and each projected row's start."""

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array, check_random_state
from sklearn.utils.extmath import svd_flip

from ._reconstruction import map_to_data

__all__ = ["initial_latents", "latent_reach", "nearest_rows"]

# Scales tried for an initial embedding, in units of n_samples ** (1 /
# n_components) times its spread: that many bandwidths span it, so that
# neighbouring points are about one bandwidth apart at the scale 1.
_INIT_SCALES = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0)
# Standard deviation of init="random": far inside one bandwidth, so that the
# first reconstructions are all close to the mean and nothing is imposed.
_RANDOM_INIT_SCALE = 0.01
# Elements of one block of pairwise differences in the search for the
# nearest reconstruction (about 80 MB in float64).
_SEARCH_BLOCK_ELEMENTS = 10_000_000


def initial_latents(estimator, X_std):
    """Starting latent points of shape (n_samples, n_components) for `estimator`."""
    n_samples, dtype = X_std.shape[0], X_std.dtype
    init, n_components = estimator.init, estimator.n_components
    if isinstance(init, str) and init == "random":
        rng = check_random_state(estimator.random_state)
        shape = (n_samples, n_components)
        return (_RANDOM_INIT_SCALE * rng.standard_normal(shape)).astype(dtype)
    if isinstance(init, str):
        embedding = _pca_scores(X_std, n_components)
    elif hasattr(init, "fit_transform"):
        embedding = _transformer_embedding(init, X_std, n_components,
                                           estimator.random_state)
    else:
        Z0 = check_array(init, dtype=dtype, input_name="init")
        if Z0.shape != (n_samples, n_components):
            raise ValueError(
                f"init has shape {Z0.shape}, but (n_samples, n_components) = "
                f"({n_samples}, {n_components}) is needed.")
        return Z0
    # The scale decides how many neighbours a kernel of unit bandwidth
    # reaches; the mean leave-one-out error, without the penalty, picks it.
    candidates = _scaled_candidates(embedding.astype(dtype))
    errors = [np.mean(map_to_data(Z, Z, X_std, kernel=estimator.kernel,
                                  loss=estimator.loss, epsilon=estimator.epsilon,
                                  target=X_std, leave_out=True)[1])
              for Z in candidates]
    return candidates[int(np.nanargmin(errors)) if np.isfinite(errors).any() else 0]


def _transformer_embedding(init, X_std, n_components, random_state):
    transformer = clone(init)
    params = transformer.get_params()
    if "n_components" not in params:
        raise ValueError(
            f"init={init!r} has no n_components parameter; pass 'pca', "
            "'random', an array or a transformer such as Isomap().")
    transformer.set_params(n_components=n_components)
    if "random_state" in params:
        transformer.set_params(random_state=random_state)
    embedding = np.asarray(transformer.fit_transform(X_std), dtype=X_std.dtype)
    if embedding.shape != (X_std.shape[0], n_components) or not np.all(
            np.isfinite(embedding)):
        raise ValueError(
            f"init={init!r} did not give a finite embedding of shape "
            f"({X_std.shape[0]}, {n_components}).")
    return embedding


def _pca_scores(X: np.ndarray, n_components: int) -> np.ndarray:
    """Principal component scores of `X`, zero columns beyond its rank."""
    centred = X - X.mean(axis=0)
    U, S, Vt = np.linalg.svd(centred, full_matrices=False)
    U, Vt = svd_flip(U, Vt)
    k = min(n_components, S.size)
    scores = np.zeros((X.shape[0], n_components), dtype=X.dtype)
    scores[:, :k] = U[:, :k] * S[:k]
    return scores


def _scaled_candidates(embedding: np.ndarray) -> list[np.ndarray]:
    """The centred embedding at each of the scales tried by the initialisation."""
    n_samples, n_components = embedding.shape
    centred = embedding - embedding.mean(axis=0)
    spread = float(np.sqrt(np.max(np.var(centred, axis=0))))
    if not spread > 0:
        return [centred]
    unit = centred * (n_samples ** (1.0 / n_components) / spread)
    return [unit * scale for scale in _INIT_SCALES]


def nearest_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Index of the nearest row of `B` for each row of `A`.

    Direct differences, a block of rows at a time: each row's answer is then
    computed the same way whichever rows come with it.
    """
    step = max(1, _SEARCH_BLOCK_ELEMENTS // max(1, B.size))
    out = np.empty(A.shape[0], dtype=np.intp)
    for start in range(0, A.shape[0], step):
        diff = A[start:start + step, None, :] - B[None, :, :]
        out[start:start + step] = np.argmin(np.einsum("ijk,ijk->ij", diff, diff),
                                            axis=1)
    return out


def latent_reach(Z: np.ndarray, n_neighbors: int, floor: float) -> np.ndarray:
    """Distance from each row of `Z` to its `n_neighbors`-th nearest other row.

    At least `floor`, and at most the farthest other row (when there are
    fewer). Blocks of rows, as in :func:`nearest_rows`.
    """
    n_samples = Z.shape[0]
    k = min(n_neighbors, n_samples - 1)
    step = max(1, _SEARCH_BLOCK_ELEMENTS // max(1, Z.size))
    out = np.empty(n_samples, dtype=Z.dtype)
    for start in range(0, n_samples, step):
        diff = Z[start:start + step, None, :] - Z[None, :, :]
        d2 = np.einsum("ijk,ijk->ij", diff, diff)
        # Column 0 of the partition is the row itself, at distance 0.
        out[start:start + step] = np.sqrt(np.partition(d2, k, axis=1)[:, k])
    return np.maximum(out, floor)
