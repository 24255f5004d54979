"""Where UKR starts: the latent points of a fit, and the reach of each."""

import numpy as np
from scipy.sparse.csgraph import connected_components, shortest_path
from sklearn.base import clone
from sklearn.utils import check_array, check_random_state
from sklearn.utils.extmath import svd_flip

from ._reconstruction import map_to_data

__all__ = ["auto_alpha", "initial_latents", "latent_reach", "loo_error",
           "start_finalists"]

# Scales tried for an initial embedding, in units of n_samples ** (1 /
# n_components) times its spread: that many bandwidths span it, so that
# neighbouring points are about one bandwidth apart at the scale 1. Not
# beyond: on noise-free data the leave-one-out error keeps falling as the
# points spread (each reconstructed by its nearest neighbour), but there the
# kernels of neighbours barely overlap, the gradient fades and the descent
# stalls near its start (a swiss roll of 500 points from Isomap's embedding:
# started at scale 2 the fit ended at an objective of 0.0072, at scale 1 at
# 0.0040, its training points projected 0.9 and 0.3 latent spacings from
# their latent points).
_INIT_SCALES = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
# Standard deviation of init="random": far inside one bandwidth, so that the
# first reconstructions are all close to the mean and nothing is imposed.
_RANDOM_INIT_SCALE = 0.01
# Neighbourhood sizes of the Isomap embeddings init="auto" tries beside the
# principal components. Too few neighbours cut a curved sheet into pieces
# (or leave the graph disconnected), too many short-cut across its folds
# (a swiss roll with 1,000 points: 10 unrolls it, 20 already folds it);
# which suits the data is left to the leave-one-out error.
_AUTO_NEIGHBORS = (5, 10, 20, 30)
# Isomap's geodesic distances and eigenvectors cost n ** 2 memory and more
# than n ** 2 time: above this many rows they are computed on evenly spaced
# rows and the others placed by their geodesic distances to them.
_AUTO_MAX_ROWS = 1500
# Landmark rows of those Isomap embeddings: the shortest paths from this
# many rows only, not from every row (de Silva and Tenenbaum's landmark
# Isomap).
_LANDMARKS = 128
# Rows of one block of geodesic distances in _geodesic_through: a block and
# its buffer (1 MB each in float64 with all 1,500 graph rows as landmarks)
# stay in cache.
_THROUGH_BLOCK_ROWS = 128
# The leave-one-out error that picks the start is a mean over this many
# evenly spaced rows at most (each still reconstructed from all the others):
# at 10,000 rows its 31 evaluations cost 11.5 s over every row. The
# candidates it compares differ by far more than the estimate's error.
_LOO_MAX_ROWS = 2000
# alpha="auto": the penalty at the start, as a fraction of the leave-one-out
# error times the fraction of the data it leaves unexplained. A half gives
# about 0.02 on digits and breast cancer. On digits (80 % of it, fitted from
# the principal components) a quarter (0.011) gave a trustworthiness of
# 0.972 for the embedding and 0.930 for held-out projections, a half 0.972
# and 0.938, for held-out reconstructions 0.38 of PCA's instead of 0.36;
# an alpha of 0.05 loosens the clusters' insides (embedding 0.963).
_AUTO_ALPHA_FRACTION = 0.5
# init="auto" judges the best starts of the principal components and of the
# graph embeddings by this many iterations of the fit, not by the
# leave-one-out error at the start, when the runner-up's error is within
# _RIVAL_RATIO of the best. On digits the Isomap start is 18 % better at the
# start, the principal components' better after 3 iterations (by 3 % after
# 5, 8 % at the end) and their embedding keeps the clusters apart better
# (held-out trustworthiness 0.938 against 0.916); on curved manifolds the
# principal components start 30-80 times worse, and are not tried on.
_RIVAL_ITERATIONS = 10
_RIVAL_RATIO = 1.5


def initial_latents(estimator, X_std, init=None):
    """Starting latent points of shape (n_samples, n_components) for `estimator`.

    From `init` when given, else from ``estimator.init``: the candidate of
    smallest leave-one-out error (see :func:`start_finalists`).
    """
    return start_finalists(estimator, X_std, init)[0]


def start_finalists(estimator, X_std, init=None) -> list[np.ndarray]:
    """The starts worth a fit's first iterations, best leave-one-out error first.

    One start unless ``init="auto"`` finds the best start of the principal
    components within :data:`_RIVAL_RATIO` of the best from a neighbourhood
    graph (or the reverse): then both, for :data:`_RIVAL_ITERATIONS` of the
    fit to decide between them.
    """
    n_samples, dtype = X_std.shape[0], X_std.dtype
    init = estimator.init if init is None else init
    n_components = estimator.n_components
    if isinstance(init, str) and init == "random":
        rng = check_random_state(estimator.random_state)
        shape = (n_samples, n_components)
        return [(_RANDOM_INIT_SCALE * rng.standard_normal(shape)).astype(dtype)]
    if isinstance(init, str):
        # The principal components first: ties go to them.
        best = [_best_start(_pca_scores(X_std, n_components), X_std, estimator)]
        if init == "auto":
            graph = _graph_start(X_std, n_components, estimator)
            if graph is not None:
                best.append(graph)
    elif hasattr(init, "fit_transform"):
        return [_best_start(_transformer_embedding(
            init, X_std, n_components, estimator.random_state), X_std, estimator)[1]]
    else:
        Z0 = check_array(init, dtype=dtype, input_name="init")
        if Z0.shape != (n_samples, n_components):
            raise ValueError(
                f"init has shape {Z0.shape}, but (n_samples, n_components) = "
                f"({n_samples}, {n_components}) is needed.")
        return [Z0]
    # A stable sort: ties still go to the principal components.
    (error, winner), *rest = sorted(best, key=lambda pair: pair[0])
    if rest and np.isfinite(error) and rest[0][0] <= _RIVAL_RATIO * error:
        return [winner, rest[0][1]]
    return [winner]


def _best_start(embedding: np.ndarray, X_std: np.ndarray,
                estimator) -> tuple[float, np.ndarray]:
    """The scaled candidate of `embedding` of least leave-one-out error, and that error.

    The scale decides how many neighbours a kernel of unit bandwidth
    reaches, and the embedding whether neighbours in latent space are
    neighbours in the data; the mean leave-one-out error, without the
    penalty, judges both. Ties go to the smaller scale.
    """
    candidates = _scaled_candidates(embedding.astype(X_std.dtype))
    errors = np.array([loo_error(Z, X_std, estimator) for Z in candidates])
    errors[~np.isfinite(errors)] = np.inf
    i = int(np.argmin(errors))
    return float(errors[i]), candidates[i]


def _graph_start(X_std: np.ndarray, n_components: int,
                 estimator) -> tuple[float, np.ndarray] | None:
    """The best start from an Isomap embedding, and its leave-one-out error.

    Landmark embeddings rank the neighbourhood sizes of
    :data:`_AUTO_NEIGHBORS` at a fraction of the cost; the best is then
    embedded from every graph row's shortest paths, since on clustered data
    the landmarks' embedding is a worse start (digits: a leave-one-out
    error of 16.6 from 128 landmarks, 16.0 from 512, 15.3 from every row)
    while it ranks the sizes alike (on digits, breast cancer and three
    curved surfaces). None if no graph is connected.
    """
    ranked = {k: _best_start(embedding, X_std, estimator)
              for k, embedding in _isomap_embeddings(X_std, n_components).items()}
    if not ranked:
        return None
    # The first of equals: the fewest neighbours.
    k = min(ranked, key=lambda key: ranked[key][0])
    if min(X_std.shape[0], _AUTO_MAX_ROWS) <= _LANDMARKS:
        return ranked[k]
    exact = _isomap_embeddings(X_std, n_components, ks=(k,), n_landmarks=None)
    return _best_start(exact[k], X_std, estimator) if exact else ranked[k]


def loo_error(Z: np.ndarray, X_std: np.ndarray, estimator) -> float:
    """Mean leave-one-out error of the latent points `Z` (no penalty).

    Above :data:`_LOO_MAX_ROWS` rows, the mean over that many evenly spaced
    rows, each reconstructed from all the others: an estimate of the same
    mean at a fraction of the n ** 2 cost.
    """
    rows = _evenly_spaced(Z.shape[0], _LOO_MAX_ROWS)
    losses = map_to_data(Z[rows], Z, X_std, kernel=estimator.kernel,
                         loss=estimator.loss, epsilon=estimator.epsilon,
                         target=X_std[rows], leave_out=rows)[1]
    return float(np.mean(losses))


def _evenly_spaced(n_samples: int, at_most: int) -> np.ndarray:
    """All of `n_samples` rows, or `at_most` of them evenly spaced."""
    if n_samples > at_most:
        return np.unique(np.linspace(0, n_samples - 1, at_most).astype(np.intp))
    return np.arange(n_samples)


def _isomap_embeddings(X: np.ndarray, n_components: int, ks=_AUTO_NEIGHBORS,
                       n_landmarks: int | None = _LANDMARKS) -> dict[int, np.ndarray]:
    """Landmark Isomap embeddings of `X` for each neighbourhood size in `ks`.

    Isomap [1]_ as :class:`sklearn.manifold.Isomap` computes it (classical
    scaling of the shortest-path distances in the k-nearest-neighbour
    graph), with the neighbours searched once for every k, and with the
    shortest paths taken from `n_landmarks` landmark rows only [2]_:
    classical scaling of the landmarks' distances among themselves, and
    every row placed by its distances to them, as
    :meth:`Isomap.transform` places new points. With no more graph rows
    than landmarks (or `n_landmarks` None), every graph row is a landmark
    and this is Isomap itself. A k whose graph is disconnected is skipped.
    Above :data:`_AUTO_MAX_ROWS` rows the graph holds evenly spaced rows,
    and each other row's distances to the landmarks run through its k
    nearest graph rows.

    Returns
    -------
    dict
        The embedding of shape (n_samples, n_components) of each k whose
        graph is connected, in the order of `ks`.

    References
    ----------
    .. [1] J. B. Tenenbaum, V. de Silva and J. C. Langford, "A global
       geometric framework for nonlinear dimensionality reduction", Science,
       290(5500), 2319-2323, 2000.
    .. [2] V. de Silva and J. B. Tenenbaum, "Global versus local methods in
       nonlinear dimensionality reduction", NIPS 15, 721-728, 2003.
    """
    n_samples = X.shape[0]
    base = _evenly_spaced(n_samples, _AUTO_MAX_ROWS)
    others = np.setdiff1d(np.arange(n_samples), base)
    ks = [k for k in ks if k < base.size - 1]
    if not ks or base.size <= n_components + 1:
        return {}
    k_max = max(ks)
    # Imported here rather than with gradest (about 40 ms): see
    # ._projection.projection_state.
    from sklearn.decomposition import KernelPCA
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=k_max).fit(X[base])
    if others.size:
        other_distances, other_indices = search.kneighbors(X[others])
    # Positions among the graph rows; a fixed seed keeps a fit reproducible.
    n_landmarks = base.size if n_landmarks is None else min(n_landmarks, base.size)
    landmarks = (np.sort(np.random.RandomState(0).choice(
        base.size, n_landmarks, replace=False)) if n_landmarks < base.size
        else np.arange(base.size))
    embeddings = {}
    for k in ks:
        # Without X: each graph row's neighbours other than itself.
        graph = search.kneighbors_graph(n_neighbors=k, mode="distance")
        if connected_components(graph, directed=False)[0] > 1:
            continue
        # Graph rows by landmarks.
        geodesic = np.ascontiguousarray(shortest_path(
            graph, method="D", directed=False, indices=landmarks).T)
        # Seeded: ARPACK's start vector is random where it is chosen.
        kernel_pca = KernelPCA(n_components=n_components, kernel="precomputed",
                               random_state=0)
        kernel_pca.fit(-0.5 * geodesic[landmarks] ** 2)
        embedding = np.empty((n_samples, n_components))
        embedding[base] = kernel_pca.transform(-0.5 * geodesic**2)
        if others.size:
            # In the data's precision: the pass is memory-bound, and a start
            # needs no more (10,000 float32 rows, 30 neighbours: 1.5 -> 0.8 s).
            through = _geodesic_through(geodesic.astype(X.dtype, copy=False),
                                        other_indices[:, :k],
                                        other_distances[:, :k].astype(X.dtype))
            np.square(through, out=through)
            through *= -0.5
            embedding[others] = kernel_pca.transform(through)
        if np.all(np.isfinite(embedding)):
            embeddings[k] = embedding
    return embeddings


def _geodesic_through(geodesic: np.ndarray, indices: np.ndarray,
                      distances: np.ndarray) -> np.ndarray:
    """Each row's geodesic distances to the landmarks, through its graph neighbours.

    `geodesic` holds the graph rows' distances to the landmarks, one row
    each. Row i's distance to landmark l is the least of ``distances[i, j]
    + geodesic[indices[i, j], l]`` over its neighbours j. Taken a block of
    :data:`_THROUGH_BLOCK_ROWS` rows at a time, each block's running minimum
    kept in cache across the neighbours: one neighbour at a time over all
    rows streams the whole result through memory once per neighbour, 2.3x
    slower (8,500 rows, 1,500 landmarks, 30 neighbours: 2.9 s against
    1.2 s in float64).
    """
    n_rows, n_landmarks = indices.shape[0], geodesic.shape[1]
    out = np.empty((n_rows, n_landmarks), geodesic.dtype)
    buffer = np.empty((min(_THROUGH_BLOCK_ROWS, n_rows), n_landmarks), geodesic.dtype)
    for start in range(0, n_rows, _THROUGH_BLOCK_ROWS):
        stop = min(start + _THROUGH_BLOCK_ROWS, n_rows)
        block, step = out[start:stop], buffer[:stop - start]
        np.add(geodesic[indices[start:stop, 0]], distances[start:stop, :1], out=block)
        for j in range(1, indices.shape[1]):
            np.take(geodesic, indices[start:stop, j], axis=0, out=step)
            step += distances[start:stop, j, None]
            np.minimum(block, step, out=block)
    return out


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


def latent_reach(Z: np.ndarray, n_neighbors: int, floor: float) -> np.ndarray:
    """Distance from each row of `Z` to its `n_neighbors`-th nearest other row.

    At least `floor`, and at most the farthest other row (when there are
    fewer). A tree search: the latent space has few dimensions, where it
    costs n log n instead of the n ** 2 of all pairs (10,000 rows in 2-D:
    0.05 s instead of 3.3 s).
    """
    # Imported here rather than with gradest (about 40 ms): see
    # ._projection.projection_state.
    from sklearn.neighbors import NearestNeighbors

    k = min(n_neighbors, Z.shape[0] - 1)
    # Each row is its own nearest neighbour, at distance 0 (or tied with a
    # duplicate, at the same distance): the k-th other row is column k.
    distances = NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z)[0]
    return np.maximum(distances[:, k], floor).astype(Z.dtype)


def auto_alpha(X_std: np.ndarray, estimator, Z0: np.ndarray) -> float:
    """The penalty weight of ``alpha="auto"`` (see UKR), from the start `Z0`.

    Measured at the start ``init="auto"`` makes, whatever the `init`: a
    start collapsed on purpose (``init="random"``) or folded (a curved
    manifold's principal components) says little about the data.
    """
    if not (isinstance(estimator.init, str) and estimator.init == "auto"):
        Z0 = initial_latents(estimator, X_std, init="auto")
    error = loo_error(Z0, X_std, estimator)
    # Latent points all at one place reconstruct every sample by the mean;
    # its loss estimated over the rows of the leave-one-out error's estimate.
    rows = _evenly_spaced(X_std.shape[0], _LOO_MAX_ROWS)
    flat = np.zeros_like(Z0)
    baseline = float(np.mean(map_to_data(
        flat[rows], flat, X_std, kernel=estimator.kernel, loss=estimator.loss,
        epsilon=estimator.epsilon, target=X_std[rows])[1]))
    spread = float(np.mean(np.sum(np.square(Z0), axis=1)))
    if not (baseline > 0 and spread > 0 and np.isfinite(error)):
        return 0.0
    return _AUTO_ALPHA_FRACTION * error**2 / (baseline * spread)
