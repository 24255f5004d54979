"""UKR's maps both ways: samples projected onto the manifold, latent points mapped back.

:func:`projection_state` is what a fit keeps for projecting new samples (how
far a projection may stray from each training latent point, the training
reconstructions and the data-space neighbours), :func:`project` the numerics
of :meth:`UKR.transform <gradest.UKR.transform>`, starting each row from
:func:`nearest_rows` and :func:`neighbour_starts`, and :func:`map_back` those
of :meth:`UKR.inverse_transform <gradest.UKR.inverse_transform>`; each of the
three takes the (fitted) estimator.
"""

import numpy as np

from .._engine import RowProblem, minimize_rows, pad
from .._losses import is_smooth
from .._scaling import standardize
from ._init import latent_reach
from ._reconstruction import (
    Reconstruction,
    WithinReach,
    map_to_data,
    padded_model,
    within_reach,
)

__all__ = ["map_back", "nearest_rows", "neighbour_starts", "project",
           "projection_state"]

# A projection stays within reach of a training latent point: the distance
# from that point to its (2 * n_components)-th nearest neighbour, at least
# one kernel bandwidth, so that the balls cover the gaps between neighbouring
# latent points and end a spacing or two beyond the outermost. Fewer
# neighbours leave more held-out points pressed against the border, short of
# their best reconstruction; more let training points slide farther along it.
_REACH_NEIGHBORS_PER_COMPONENT = 2
_MIN_REACH = 1.0
# A projection also tries starting among the latent points of the sample's
# nearest training samples in data space.
_START_NEIGHBORS = 10
# Elements of one block of pairwise differences in the search for the
# nearest reconstruction (about 80 MB in float64).
_SEARCH_BLOCK_ELEMENTS = 10_000_000


def projection_state(estimator, X_std):
    """What projecting new samples needs, from the UKR `estimator`'s `embedding_`.

    Parameters
    ----------
    estimator : UKR
        The estimator being fitted, its `embedding_` set.
    X_std : ndarray of shape (n_samples, n_features)
        The standardised training data.

    Returns
    -------
    reach : ndarray of shape (n_samples,)
        How far a projection may lie from each training latent point.
    reconstructions : ndarray of shape (n_samples, n_features)
        The reconstruction of each training sample from its latent point.
    neighbors : NearestNeighbors
        Fitted to `X_std`, for the starts among data-space neighbours.
    """
    n_samples = X_std.shape[0]
    reach = latent_reach(
        estimator.embedding_,
        _REACH_NEIGHBORS_PER_COMPONENT * estimator.n_components, _MIN_REACH)
    reconstructions = map_to_data(
        estimator.embedding_, estimator.embedding_, X_std, kernel=estimator.kernel,
        loss=estimator.loss, epsilon=estimator.epsilon)[0]
    # Imported on the first fit: sklearn.neighbors costs about 40 ms of
    # `import gradest`, which a process using only the linear models
    # should not pay.
    from sklearn.neighbors import NearestNeighbors

    neighbors = NearestNeighbors(
        n_neighbors=min(_START_NEIGHBORS, n_samples)).fit(X_std)
    return reach, reconstructions, neighbors


def project(estimator, X):
    """:meth:`~gradest.UKR.transform` of the validated array `X` by the fitted
    `estimator`."""
    dtype = estimator.embedding_.dtype
    Xq = standardize(X.astype(dtype), estimator._stats,
                     center=estimator.standardize)
    # Each row starts at the better, by its objective below, of two points:
    # the training latent point whose reconstruction is nearest to it, and
    # the kernel-weighted mean of its data neighbours' latent points (within
    # reach).
    nearest = estimator.embedding_[nearest_rows(Xq, estimator._reconstructions)]
    among = within_reach(neighbour_starts(*estimator._neighbors.kneighbors(Xq),
                                          estimator.embedding_),
                         estimator.embedding_, estimator._reach)
    losses = [map_to_data(Z, estimator.embedding_, estimator._X_fit,
                          kernel=estimator.kernel, loss=estimator.loss,
                          epsilon=estimator.epsilon, target=Xq)[1]
              + estimator.alpha_ * np.sum(Z ** 2, axis=1)
              for Z in (nearest, among)]
    start = np.where((losses[1] < losses[0])[:, None], among, nearest)
    Z_fit, X_fit, weights = padded_model(estimator.embedding_, estimator._X_fit,
                                         estimator.loss)
    reach = pad(estimator._reach, Z_fit.shape[0])
    # Each row minimises its own term of the fit's objective: its
    # reconstruction loss plus the fit's penalty alpha_ * |z|^2 on its latent
    # point. Without the penalty a training row moved 0.145 (iris, 95th
    # percentile, in spans of the embedding) from its own latent point and 6
    # of 150 left the embedding's box + 10 %, sliding outward where the
    # reconstruction improves a little; with it, 0.043 and none.
    problem = RowProblem(Reconstruction(estimator.kernel), estimator.loss,
                         (Z_fit, X_fit, weights, reach),
                         {"epsilon": np.asarray(estimator.epsilon, dtype)},
                         project=WithinReach(), ridge=float(estimator.alpha_))
    # Gauss-Newton steps stall at the kinks of a non-smooth loss, while
    # steps of a fixed length do not.
    Z = minimize_rows(problem, pad(Xq, Xq.shape[0], X_fit.shape[1]), start,
                      method="lm" if is_smooth(estimator.loss) else "adam",
                      name=type(estimator).__name__)
    return Z.astype(X.dtype)


def map_back(estimator, Z):
    """:meth:`~gradest.UKR.inverse_transform` of the validated latent points `Z`
    by the fitted `estimator`, in the units of the training data."""
    F = map_to_data(Z, estimator.embedding_, estimator._X_fit,
                    kernel=estimator.kernel, loss=estimator.loss,
                    epsilon=estimator.epsilon)[0]
    return (F * estimator._stats.scale + estimator._stats.mean).astype(Z.dtype)


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


def neighbour_starts(distances: np.ndarray, indices: np.ndarray,
                     Z: np.ndarray) -> np.ndarray:
    """Kernel-weighted means of the latent points of each row's data neighbours.

    Parameters
    ----------
    distances, indices : ndarray of shape (n_queries, n_neighbors)
        Each query row's nearest training rows in data space, nearest first,
        and their distances.
    Z : ndarray of shape (n_samples, n_components)
        Latent points of the training rows.

    Returns
    -------
    ndarray of shape (n_queries, n_components)
        Gaussian weights of the data-space distances, of a bandwidth the
        median distance of the row's neighbours: a row among its
        neighbours starts among their latent points, where the manifold's
        local chart puts it.
    """
    bandwidth = np.median(distances, axis=1, keepdims=True)
    scaled = distances / np.where(bandwidth > 0, bandwidth, 1.0)
    weights = np.exp(-0.5 * (scaled**2 - scaled[:, :1] ** 2))
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("ij,ijk->ik", weights, Z[indices]).astype(Z.dtype)
