"""Unsupervised kernel regression: a nonlinear manifold that maps both ways.

The latent points are the parameters. Each data point is reconstructed by the
Nadaraya-Watson estimate over the latent points of all the others, and the
latent points move, by gradients of that leave-one-out reconstruction error,
until they explain the data. New data are projected by minimising their own
reconstruction error, and any latent point maps back to data space.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.extmath import svd_flip
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import ENGINE_CONSTRAINTS, atomic_fit
from ._engine import bucket_rows, minimize
from ._losses import sample_losses, weighted_mean
from ._scaling import fit_standardization, identity_standardization, standardize

__all__ = ["UKR", "KERNELS", "nadaraya_watson_weights", "reconstruct",
           "reconstruction_losses", "squared_distances"]

_FLOAT_DTYPES = [np.float64, np.float32]


def gaussian_kernel(d2):
    """Gaussian kernel of unit bandwidth, as a function of the squared distance."""
    return jnp.exp(-0.5 * d2)


def quartic_kernel(d2):
    """Quartic (biweight) kernel: zero beyond unit distance."""
    return jnp.square(jnp.maximum(1.0 - d2, 0.0))


def student_kernel(d2):
    """Student-t kernel with one degree of freedom: heavy, polynomial tails."""
    return 1.0 / (1.0 + d2)


KERNELS: dict[str, Callable] = {
    "gaussian": gaussian_kernel,
    "quartic": quartic_kernel,
    "student": student_kernel,
}

# Above this many rows the kernel matrix is computed in blocks of rows, so
# that memory grows as block * n_samples rather than n_samples ** 2.
_MAX_BLOCK = 1024
# A row of kernel weights summing to less than this is treated as underflow:
# the quotient rule then squares the sum, which must stay finite.
_UNDERFLOW = {np.dtype(np.float32): 1e-15, np.dtype(np.float64): 1e-150}
# Scales tried for an initial embedding, in units of n_samples ** (1 /
# n_components) times its spread: that many bandwidths span it, so that
# neighbouring points are about one bandwidth apart at the scale 1.
_INIT_SCALES = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0)
# Standard deviation of init="random": far inside one bandwidth, so that the
# first reconstructions are all close to the mean and nothing is imposed.
_RANDOM_INIT_SCALE = 0.01
# Levenberg-Marquardt iterations of the out-of-sample projection, at most.
# The fitted latent points lie a few bandwidths apart, so that f is nearly
# flat around each of them and steep between them: rows typically travel a
# few bandwidths from their start and take 10 to 40 iterations, and the few
# that wander across flat regions stop here.
_PROJECTION_MAX_ITER = 100
# The longest step along any latent axis, in bandwidths: beyond about one the
# Gauss-Newton model of f says little, and where f is flat its step is huge.
_MAX_STEP = 1.0
# Damping of the first step, in units of the mean curvature of the row's
# Gauss-Newton matrix, its factors after a step that lowers the loss and
# after one that does not, and its bounds: a row whose damping passes the
# upper bound can no longer lower its loss in the working precision.
_DAMPING_START = 1e-3
_DAMPING_DOWN = 0.25
_DAMPING_UP = 8.0
_DAMPING_MIN = 1e-6
_DAMPING_MAX = 1e8
# Adam steps of the projection with epsilon_insensitive, and their size in
# bandwidths: its loss has kinks at every minimum, where Gauss-Newton steps
# stall while steps of a fixed length do not.
_ADAM_PROJECTION_STEPS = 200
_ADAM_PROJECTION_LEARNING_RATE = 0.1
# Elements of one block of pairwise differences in the search for the
# nearest reconstruction before Adam steps (about 80 MB in float64).
_SEARCH_BLOCK_ELEMENTS = 10_000_000
# Elements of one block of the kernel matrix between the rows in progress
# and the training latent points in the projection (1 MB in float64), and
# rows queued for one call of the compiled projection (a power of two, so a
# multiple of the block).
_PROJECTION_BLOCK_ELEMENTS = 2**17
_ROWS_PER_CALL = 4096
# Small problems are padded with rows of zero weight and, with a built-in
# loss, with columns of zeros (which add nothing to any built-in loss), so
# that small data sets of most shapes share compiled code; compiling costs
# seconds, while the padding costs nothing noticeable at these sizes.
_MIN_ROWS = 128
_SMALL_ROWS = 256
_MIN_COLUMNS = 16


def squared_distances(A, B):
    """Squared Euclidean distances between the rows of `A` and of `B`.

    Summed coordinate by coordinate: with a few latent dimensions this is
    cheaper than a third broadcast axis, and unlike ``|a|^2 + |b|^2 - 2 a.b``
    it is exact for near points, whose weights matter most.
    """
    return sum(jnp.square(A[:, k, None] - B[None, :, k]) for k in range(A.shape[1]))


def nadaraya_watson_weights(Zq, Z, weights, kernel, exclude=None):
    """Kernel weights of the training latents `Z` at the query latents `Zq`.

    Parameters
    ----------
    Zq : jax.Array of shape (n_queries, n_components)
        Latent points at which to reconstruct.
    Z : jax.Array of shape (n_samples, n_components)
        Latent points of the training data.
    weights : jax.Array of shape (n_samples,)
        Weights of the training points; a zero weight leaves a point out.
    kernel : str or callable
        A name from :data:`KERNELS` or a function of the squared distance.
    exclude : jax.Array of bool of shape (n_queries, n_samples), default=None
        Pairs to leave out, such as each point with itself.

    Returns
    -------
    jax.Array of shape (n_queries, n_samples)
        Non-negative weights that sum to 1 along each row. A row whose kernel
        weights all underflow (far from every point, or outside a compact
        support) puts its weight on its nearest points instead.
    """
    k, total = _kernel_terms(Zq, Z, weights, kernel, exclude)
    return k / total


def _kernel_terms(Zq, Z, weights, kernel, exclude=None):
    """Kernel terms and their row sums, whose quotient is the weights.

    Dividing the product ``k @ X`` by the row sums rather than `k` itself
    saves a division per pair, and in the derivative several: computing a
    reconstruction and its Jacobian this way is several times faster.

    Returns
    -------
    k : jax.Array of shape (n_queries, n_samples)
    total : jax.Array of shape (n_queries, 1)
        Positive; ``k / total`` is :func:`nadaraya_watson_weights`.
    """
    d2 = squared_distances(Zq, Z)
    usable = weights[None, :] > 0
    if exclude is not None:
        usable = usable & ~exclude
    masked = jnp.where(usable, d2, jnp.inf)
    nearest_d2 = jnp.min(masked, axis=1, keepdims=True)
    nearest_d2 = jax.lax.stop_gradient(
        jnp.where(jnp.isfinite(nearest_d2), nearest_d2, 0.0))
    if isinstance(kernel, str) and kernel == "gaussian":
        # exp(-(d2 - c) / 2) is proportional to exp(-d2 / 2): measured from
        # the nearest point the weights are unchanged, but the largest is 1,
        # so that the row sum never underflows.
        k = weights * jnp.exp(-0.5 * (masked - nearest_d2))
        total = jnp.sum(k, axis=1, keepdims=True)
        return k, jnp.where(total > 0, total, 1.0)
    kernel_fn = KERNELS[kernel] if isinstance(kernel, str) else kernel
    # Left-out pairs are evaluated at distance 0, where any kernel is finite,
    # so that no NaN reaches the gradient through the discarded branch.
    k = jnp.where(usable, weights * kernel_fn(jnp.where(usable, d2, 0.0)), 0.0)
    total = jnp.sum(k, axis=1, keepdims=True)
    resolved = total > _UNDERFLOW[np.dtype(d2.dtype)]
    nearest = (usable & (masked <= nearest_d2)).astype(d2.dtype)
    n_nearest = jnp.maximum(jnp.sum(nearest, axis=1, keepdims=True), 1.0)
    return (jnp.where(resolved, k, nearest),
            jnp.where(resolved, total, n_nearest))


def _nadaraya_watson(Zq, Z, X, weights, kernel, exclude=None):
    """``nadaraya_watson_weights(Zq, ...) @ X``, as a product then a quotient."""
    k, total = _kernel_terms(Zq, Z, weights, kernel, exclude)
    return (k @ X) / total


def _block_size(n_rows: int) -> int:
    """All rows when few, else the largest power of two dividing `n_rows`, capped."""
    if n_rows <= _MAX_BLOCK:
        return n_rows
    return min(_MAX_BLOCK, n_rows & -n_rows)


def _map_row_blocks(fn, n_rows: int):
    """``fn(rows)`` over consecutive blocks of row indices, concatenated.

    Each block is recomputed in the backward pass rather than stored, so the
    gradient never holds more than one block of the kernel matrix either.
    """
    block = _block_size(n_rows)
    rows = jnp.arange(n_rows)
    if block == n_rows:
        return fn(rows)
    blocks = jax.lax.map(jax.checkpoint(fn), rows.reshape(-1, block))
    return jax.tree.map(lambda b: b.reshape(n_rows, *b.shape[2:]), blocks)


def reconstruct(Zq, Z, X, weights, kernel):
    """Nadaraya-Watson estimate ``f(Zq)`` of the data `X` with latents `Z`.

    Parameters
    ----------
    Zq : jax.Array of shape (n_queries, n_components)
        Latent points to map to data space.
    Z : jax.Array of shape (n_samples, n_components)
        Latent points of the training data.
    X : jax.Array of shape (n_samples, n_features)
        Training data.
    weights : jax.Array of shape (n_samples,)
        Weights of the training points (0 for padding).
    kernel : str or callable
        See :func:`nadaraya_watson_weights`.

    Returns
    -------
    jax.Array of shape (n_queries, n_features)
    """

    def block(rows):
        return _nadaraya_watson(Zq[rows], Z, X, weights, kernel)

    return _map_row_blocks(block, Zq.shape[0])


def reconstruction_losses(Z, X, weights, hyper, *, kernel, loss, loo):
    """Loss of each row of `X` against its reconstruction from the latents `Z`.

    Parameters
    ----------
    Z : jax.Array of shape (n_samples, n_components)
        Latent points.
    X : jax.Array of shape (n_samples, n_features)
        Data.
    weights : jax.Array of shape (n_samples,)
        Weights of the points (0 for padding).
    hyper : dict
        Traced loss parameters (``epsilon``).
    kernel : str or callable
        See :func:`nadaraya_watson_weights`.
    loss : str or callable
        See :func:`gradest._losses.sample_losses`.
    loo : bool
        Leave each point's own kernel term out of its reconstruction.

    Returns
    -------
    jax.Array of shape (n_samples,)
    """
    n_rows = Z.shape[0]
    columns = jnp.arange(n_rows)

    def block(rows):
        exclude = rows[:, None] == columns[None, :] if loo else None
        F = _nadaraya_watson(Z[rows], Z, X, weights, kernel, exclude)
        return sample_losses(loss, X[rows], F, hyper)

    return _map_row_blocks(block, n_rows)


@dataclass(frozen=True)
class _UKRObjective:
    """Mean reconstruction loss plus ``alpha`` times the mean squared latent norm.

    Frozen, so equal objectives hash alike and share compiled code.
    """

    kernel: str | Callable
    loss: str | Callable
    loo: bool

    def __call__(self, Z, X, weights, hyper):
        losses = reconstruction_losses(Z, X, weights, hyper, kernel=self.kernel,
                                       loss=self.loss, loo=self.loo)
        penalty = weighted_mean(jnp.sum(jnp.square(Z), axis=1), weights)
        return weighted_mean(losses, weights) + hyper["alpha"] * penalty


@dataclass(frozen=True)
class _ProjectionObjective:
    """Summed loss of reconstructing the query rows from their own latents.

    A sum, not a mean: each latent's gradient then depends on its own row
    only, whichever rows are projected with it.
    """

    kernel: str | Callable
    loss: str | Callable

    def __call__(self, Zq, data, weights, hyper):
        # Only the first array has a row per query; the fitted model rides
        # along in `data` because the projection is full-batch.
        Xq, Z, X, train_weights = data
        F = reconstruct(Zq, Z, X, train_weights, self.kernel)
        return jnp.sum(weights * sample_losses(self.loss, Xq, F, hyper))


@partial(jax.jit, static_argnames=("kernel", "loss"))
def _reconstruction_pass(Zq, Z, X, weights, target, hyper, leave_out, *,
                         kernel, loss):
    """``f(Zq)`` and the loss of each of its rows against the same row of `target`.

    With `leave_out`, row i leaves training point i out: with ``Zq = Z`` and
    ``target = X`` the losses are then the leave-one-out errors. The flag is
    traced, so that scoring the initial scales, the reconstructions of the
    training latents and :meth:`UKR.inverse_transform` at the same number of
    rows run one compiled program.
    """
    columns = jnp.arange(Z.shape[0])

    def block(rows):
        exclude = (rows[:, None] == columns[None, :]) & leave_out
        F = _nadaraya_watson(Zq[rows], Z, X, weights, kernel, exclude)
        return F, sample_losses(loss, target[rows], F, hyper)

    return _map_row_blocks(block, Zq.shape[0])


def _n_rows(n_samples: int) -> int:
    return max(bucket_rows(n_samples), _MIN_ROWS)


def _n_columns(n_features: int, n_samples: int, zero_columns_free: bool) -> int:
    if zero_columns_free and _n_rows(n_samples) <= _SMALL_ROWS:
        return max(n_features, _MIN_COLUMNS)
    return n_features


def _pad(array: np.ndarray, n_rows: int, n_columns: int | None = None) -> np.ndarray:
    """`array` in the top-left corner of zeros of shape (n_rows, n_columns)."""
    shape = (n_rows, *array.shape[1:])
    if n_columns is not None:
        shape = (n_rows, n_columns)
    padded = np.zeros(shape, dtype=array.dtype)
    padded[: array.shape[0], : array.shape[1]] = array
    return padded


def _padded_weights(n_samples: int, n_rows: int, dtype) -> np.ndarray:
    return (np.arange(n_rows) < n_samples).astype(dtype)


def _map_to_data(Zq, Z, X, *, kernel, loss, epsilon, target=None, leave_out=False):
    """NumPy front end of :func:`_reconstruction_pass`, padded to shared shapes.

    Returns ``f(Zq)`` of shape (n_queries, n_features) and the losses against
    `target` (zeros when None) of shape (n_queries,).
    """
    dtype = X.dtype
    n_queries, (n_samples, n_features) = Zq.shape[0], X.shape
    n_rows, n_train = _n_rows(n_queries), _n_rows(n_samples)
    # As in fit, so that the leave-one-out errors and the reconstructions
    # of the training latents share the fit's padded shapes.
    n_columns = _n_columns(n_features, n_samples, isinstance(loss, str))
    if target is None:
        target = np.zeros((n_queries, n_features), dtype)
    with jax.enable_x64(dtype == np.float64):
        # NumPy arguments: jnp.asarray would compile a copy for each new shape.
        F, losses = _reconstruction_pass(
            _pad(Zq.astype(dtype), n_rows), _pad(Z, n_train),
            _pad(X, n_train, n_columns), _padded_weights(n_samples, n_train, dtype),
            _pad(target.astype(dtype), n_rows, n_columns),
            {"epsilon": np.asarray(epsilon, dtype)}, np.bool_(leave_out),
            kernel=kernel, loss=loss)
        return np.asarray(F)[:n_queries, :n_features], np.asarray(losses)[:n_queries]


def _reconstruction_and_jacobian(Zq, Z, X, weights, kernel):
    """``f(Zq)`` and its Jacobian with respect to each row's own latent point.

    Returns
    -------
    F : jax.Array of shape (n_queries, n_features)
    J : jax.Array of shape (n_queries, n_features, n_components)
        ``J[i, :, k]`` is the derivative of ``f(Zq[i])`` along latent axis k.
    """

    def f(Zq_):
        return _nadaraya_watson(Zq_, Z, X, weights, kernel)

    # Row i of f depends on row i of Zq only, so moving every row along axis
    # k at once gives each row's own derivative: n_components forward passes
    # rather than one per row and axis. A loop, not vmap: batched products
    # of the kernel block with X are several times slower on CPU.
    F, pushforward = jax.linearize(f, Zq)
    columns = [pushforward(jnp.zeros_like(Zq).at[:, k].set(1))
               for k in range(Zq.shape[1])]
    return F, jnp.stack(columns, axis=2)


@partial(jax.jit, static_argnames=("kernel", "loss", "block"))
def _project_rows(Xq, starts, n_queries, Z, X, weights, hyper, *, kernel, loss,
                  block):
    """Latent points minimising each row's loss ``loss(x, f(z))``.

    Each row starts at its given point, usually the training latent point
    whose reconstruction is nearest to it, and takes damped Gauss-Newton
    (Levenberg-Marquardt) steps in the latent space, each at most
    `_MAX_STEP` along any axis. The Gauss-Newton matrix ``J^T J`` of the
    reconstruction preconditions the gradient of the loss: the exact
    Gauss-Newton step for squared_error and a descent direction for any
    other smooth loss. A step is taken only if it lowers the row's loss, so
    that the result reconstructs at least as well as the start.

    `block` rows are in progress at a time, each in a slot of its own; a
    slot whose row has converged takes the next waiting row, so that the
    work follows the number of steps each row needs rather than the most
    any row of a block needs. Every quantity is per row (the damping and the
    stopping test included) and every evaluation has `block` rows, so a row's
    result does not depend on the rows projected with it.

    Parameters
    ----------
    Xq : jax.Array of shape (n_rows, n_features)
        Standardised query rows, n_rows a multiple of `block`.
    starts : jax.Array of shape (n_rows, n_components)
        Their starting latent points.
    n_queries : jax.Array of int
        The leading rows of `Xq` to project; the rest are padding.
    Z, X, weights : jax.Array
        The training latents, data and weights (0 for padding).
    hyper : dict
        Traced loss parameters (``epsilon``).
    kernel, loss : str or callable
        As in :func:`reconstruction_losses`.
    block : int
        Rows in progress at a time.

    Returns
    -------
    jax.Array of shape (n_rows, n_components)
        Zeros in the rows of padding.
    """
    dtype = Xq.dtype
    n_rows = Xq.shape[0]
    n_components = Z.shape[1]

    def evaluate(Xb, Zq):
        F, J = _reconstruction_and_jacobian(Zq, Z, X, weights, kernel)
        losses, pullback = jax.vjp(lambda F_: sample_losses(loss, Xb, F_, hyper), F)
        (slope,) = pullback(jnp.ones_like(losses))
        gradient = jnp.sum(J * slope[:, :, None], axis=1)
        gauss_newton = jnp.sum(J[:, :, :, None] * J[:, :, None, :], axis=1)
        return losses, gradient, gauss_newton

    eye = jnp.eye(n_components, dtype=dtype)
    tiny = jnp.finfo(dtype).tiny
    # Steps this small change f by about the rounding error of its terms.
    step_tol = float(np.sqrt(np.finfo(dtype).eps))

    def keep_going(state):
        return jnp.any(state["active"])

    def iterate(state):
        rows, fresh = state["rows"], state["fresh"]
        Zq, gradient = state["Zq"], state["gradient"]
        gauss_newton = state["gauss_newton"]
        curvature = jnp.trace(gauss_newton, axis1=1, axis2=2) / n_components
        # The floor keeps the system regular where f is flat (J = 0, so that
        # the gradient and the step are 0 as well).
        shift = state["damping"] * curvature + tiny
        step = -jnp.linalg.solve(gauss_newton + shift[:, None, None] * eye,
                                 gradient[..., None])[..., 0]
        longest = jnp.max(jnp.abs(step), axis=1)
        step = step * jnp.minimum(1, _MAX_STEP / jnp.maximum(longest, tiny))[:, None]
        # A slot that has just taken a row evaluates its start instead.
        trial = jnp.where(fresh[:, None], starts[rows], Zq + step)
        new_losses, new_gradient, new_gauss_newton = evaluate(Xq[rows], trial)
        accept = fresh | (new_losses < state["losses"])
        damping = jnp.where(
            fresh, _DAMPING_START,
            jnp.where(accept, jnp.maximum(state["damping"] * _DAMPING_DOWN,
                                          _DAMPING_MIN),
                      state["damping"] * _DAMPING_UP))
        n_iter = jnp.where(fresh, 0, state["n_iter"] + 1)
        small = ~fresh & (longest <= step_tol * (1 + jnp.max(jnp.abs(Zq), axis=1)))
        Zq = jnp.where(accept[:, None], trial, Zq)
        finished = state["active"] & (
            small | (damping > _DAMPING_MAX) | (n_iter >= _PROJECTION_MAX_ITER))
        out = state["out"].at[jnp.where(finished, rows, n_rows)].set(Zq, mode="drop")
        # Finished slots take the next waiting rows, in slot order.
        waiting = state["next"] + jnp.cumsum(finished) - 1
        refill = finished & (waiting < n_queries)
        return {
            "rows": jnp.where(refill, waiting, rows).astype(rows.dtype),
            "Zq": Zq,
            "losses": jnp.where(accept, new_losses, state["losses"]),
            "gradient": jnp.where(accept[:, None], new_gradient, gradient),
            "gauss_newton": jnp.where(accept[:, None, None], new_gauss_newton,
                                      gauss_newton),
            "damping": damping,
            "n_iter": n_iter,
            "fresh": refill,
            "active": jnp.where(finished, refill, state["active"]),
            "next": state["next"] + jnp.sum(finished, dtype=rows.dtype),
            "out": out,
        }

    slots = jnp.arange(block, dtype=jnp.int32)
    state = {
        "rows": slots,
        "Zq": jnp.zeros((block, n_components), dtype),
        "losses": jnp.zeros(block, dtype),
        "gradient": jnp.zeros((block, n_components), dtype),
        "gauss_newton": jnp.zeros((block, n_components, n_components), dtype),
        "damping": jnp.zeros(block, dtype),
        "n_iter": jnp.zeros(block, jnp.int32),
        "fresh": slots < n_queries,
        "active": slots < n_queries,
        "next": jnp.asarray(block, jnp.int32),
        "out": jnp.zeros((n_rows, n_components), dtype),
    }
    return jax.lax.while_loop(keep_going, iterate, state)["out"]


def _projection_block(n_train: int) -> int:
    """Rows in progress in the projection: a power of two from 16 to 1024."""
    rows = max(_PROJECTION_BLOCK_ELEMENTS // n_train, 1)
    return min(max(1 << (rows.bit_length() - 1), 16), 1024)


def _project(Xq, start, Z, X, *, kernel, loss, epsilon) -> np.ndarray:
    """NumPy front end of :func:`_project_rows`, a fixed number of rows per call.

    Every call has the same shapes, however many rows are transformed, and
    so runs the same compiled program: a row's arithmetic is then the same
    whichever rows come with it. That matters more than usual here, because
    a step is taken or not by comparing two losses, and a difference in the
    last bit can send a row elsewhere.
    """
    dtype = Z.dtype
    (n_queries, n_features), n_samples = Xq.shape, Z.shape[0]
    n_train = _n_rows(n_samples)
    n_columns = _n_columns(n_features, n_samples, isinstance(loss, str))
    block = _projection_block(n_train)
    per_call = max(_ROWS_PER_CALL, block)
    n_padded = -(-n_queries // per_call) * per_call
    queries = _pad(Xq, n_padded, n_columns)
    starts = _pad(start, n_padded)
    with jax.enable_x64(dtype == np.float64):
        # Moved to the device once for all calls; device_put, unlike
        # jnp.asarray, compiles nothing.
        model = jax.device_put((_pad(Z, n_train), _pad(X, n_train, n_columns),
                                _padded_weights(n_samples, n_train, dtype)))
        hyper = {"epsilon": np.asarray(epsilon, dtype)}
        # Dispatched all at once: JAX queues the calls and NumPy waits below.
        parts = [_project_rows(queries[first:first + per_call],
                               starts[first:first + per_call],
                               np.int32(min(per_call, n_queries - first)), *model,
                               hyper, kernel=kernel, loss=loss, block=block)
                 for first in range(0, n_padded, per_call)]
        return np.concatenate([np.asarray(part) for part in parts])[:n_queries]


def _nearest_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
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


def _project_by_adam(Xq, start, Z, X, *, kernel, loss, epsilon) -> np.ndarray:
    """Fixed Adam steps on all rows at once, from the latent points `start`.

    Adam moves each coordinate by its own gradient history and the objective
    is a sum over rows, so with a fixed number of steps each row follows the
    path it would follow alone.
    """
    dtype = Z.dtype
    n_queries, n_samples = Xq.shape[0], Z.shape[0]
    n_rows, n_train = _n_rows(n_queries), _n_rows(n_samples)
    n_columns = _n_columns(Xq.shape[1], n_samples, isinstance(loss, str))
    model = (_pad(Xq, n_rows, n_columns), _pad(Z, n_train),
             _pad(X, n_train, n_columns), _padded_weights(n_samples, n_train, dtype))
    result = minimize(
        _ProjectionObjective(kernel, loss), _pad(start, n_rows), model,
        _padded_weights(n_queries, n_rows, dtype), {"epsilon": epsilon},
        solver="adam", learning_rate=_ADAM_PROJECTION_LEARNING_RATE,
        max_iter=_ADAM_PROJECTION_STEPS, tol=0.0, fixed_steps=True, name="UKR")
    return np.asarray(result.params[:n_queries])


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


class UKR(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Unsupervised kernel regression: nonlinear dimensionality reduction both ways.

    Read more in the :ref:`User Guide <ukr>`.

    Each sample ``x_i`` gets a latent point ``z_i``. The data are modelled by
    the Nadaraya-Watson estimate over the latent points,
    ``f(z) = sum_j K(z - z_j) x_j / sum_j K(z - z_j)``, with a kernel of unit
    bandwidth, and the latent points minimise the mean loss between each
    (standardised) sample and its reconstruction ``f(z_i)``. With leave-one-out
    the sample's own kernel term is left out of its reconstruction, which
    keeps the latent points from spreading until each point explains only
    itself; the bandwidth then sets the scale of the latent space. Gradients
    come from JAX autodiff through the whole objective.

    :meth:`transform` projects new samples onto the manifold (the latent
    point that reconstructs each best) and :meth:`inverse_transform` maps
    latent points back to data space.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space; at most n_features.
    kernel : {"gaussian", "quartic", "student"} or callable, default="gaussian"
        Kernel of unit bandwidth, as a function of the squared latent
        distance: ``exp(-d2 / 2)``, ``max(1 - d2, 0) ** 2`` (compact
        support) or ``1 / (1 + d2)``. A callable ``kernel(d2)`` must be
        written with ``jax.numpy``, non-negative and finite at 0.
    loss : {"squared_error", "huber", "epsilon_insensitive"} or callable, \
            default="squared_error"
        Loss between a sample and its reconstruction, summed over features
        (squared_error is half the squared error). A callable
        ``loss(x_true, x_pred)`` written with ``jax.numpy`` returns
        per-sample or elementwise losses of standardised data.
    loo : bool, default=True
        Leave each sample's own kernel term out of its reconstruction. Without
        it the objective is smallest when the latent points fly apart, so a
        positive `alpha` is then needed.
    alpha : float, default=0.0
        Weight of the penalty ``mean ||z_i||^2`` on the latent points.
    epsilon : float, default=0.1
        Threshold of the huber and epsilon_insensitive losses, in
        standardised units.
    standardize : bool, default=True
        Fit standardised data (each feature centred and scaled to unit
        variance), so that features in different units count alike.
        :meth:`inverse_transform` returns the user's units either way.
    init : {"pca", "random"}, array-like or transformer, default="pca"
        Initial latent points. "pca": principal components, tried at several
        scales, keeping the one with the smallest leave-one-out error.
        "random": Gaussian with standard deviation 0.01, seeded by
        `random_state`. An array of shape (n_samples, n_components) is used
        as given. An unfitted transformer with an ``n_components`` parameter
        (such as ``Isomap()``) is cloned, given our `n_components`, fitted to
        the standardised data and its embedding scaled like "pca"'s.
    solver : {"gd", "momentum", "nesterov", "rmsprop", "adam", "lbfgs"}, \
            default="lbfgs"
        Optimiser of the latent points.
    learning_rate : float, default=0.1
        Step size of the first-order solvers (ignored by "lbfgs").
    max_iter : int, default=1000
        Maximum number of iterations.
    tol : float, default=0.05
        Stop once no latent coordinate has a gradient of the summed loss
        (n_samples times the mean objective's) larger than `tol`, so that
        `tol` means the same at any n_samples. Much smaller values let the
        latent points keep drifting apart after the manifold has unfolded,
        which lowers the reconstruction error slightly but makes
        neighbourhoods less faithful.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init="random"`` and ``init`` transformers that take a seed.
    record_history : bool, default=False
        Keep the latent points of every iteration in `history_`.
    verbose : int, default=0
        Print progress while fitting when positive.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components)
        Latent points of the training samples.
    n_iter_ : int
        Number of iterations run.
    loss_curve_ : ndarray of shape (`n_iter_`,)
        Objective before each step (standardised units).
    history_ : ndarray of shape (`n_iter_` + 1, n_samples, n_components)
        The initial latent points and those after each iteration; only with
        ``record_history=True``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, if X has string column names.

    See Also
    --------
    sklearn.decomposition.PCA : The linear counterpart, also invertible.
    sklearn.manifold.Isomap : Nonlinear embedding by geodesic distances.
    sklearn.manifold.LocallyLinearEmbedding : Nonlinear embedding by local fits.

    Notes
    -----
    The kernel matrix has n_samples ** 2 entries; above 1024 samples it is
    computed in blocks of rows, inside the objective and again in its
    gradient, so that memory grows linearly. :meth:`transform` starts each
    sample at the training latent point whose reconstruction is nearest and
    takes damped Gauss-Newton (Levenberg-Marquardt) steps in the latent
    space, each kept only if it lowers that sample's loss (with
    ``loss="epsilon_insensitive"``, whose kinks stall such steps, a fixed
    number of Adam steps instead). Each sample is projected on its own, so
    that its projection does not depend on the others transformed with it.
    :meth:`fit_transform` returns that projection of the training data,
    which lies near `embedding_`.

    References
    ----------
    .. [1] P. Meinicke, S. Klanke, R. Memisevic and H. Ritter, "Principal
       surfaces from unsupervised kernel regression", IEEE Transactions on
       Pattern Analysis and Machine Intelligence, 27(9), 1379-1391, 2005.
    .. [2] S. Klanke and H. Ritter, "Variants of unsupervised kernel
       regression: General cost functions", Neurocomputing, 70(7-9),
       1289-1303, 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from gradest import UKR
    >>> t = np.linspace(0, 3, 40)
    >>> X = np.c_[np.cos(t), np.sin(t), t]
    >>> ukr = UKR(n_components=1).fit(X)
    >>> ukr.embedding_.shape
    (40, 1)
    >>> X_back = ukr.inverse_transform(ukr.transform(X))
    >>> bool(np.abs(X_back - X).max() < 0.1)
    True
    """

    _parameter_constraints: dict = {
        **ENGINE_CONSTRAINTS,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "kernel": [StrOptions(set(KERNELS)), callable],
        "loss": [StrOptions({"squared_error", "huber", "epsilon_insensitive"}),
                 callable],
        "loo": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "standardize": ["boolean"],
        "init": [StrOptions({"pca", "random"}), "array-like",
                 HasMethods(["fit_transform"])],
        "record_history": ["boolean"],
    }

    def __init__(self, n_components=2, *, kernel="gaussian", loss="squared_error",
                 loo=True, alpha=0.0, epsilon=0.1, standardize=True, init="pca",
                 solver="lbfgs", learning_rate=0.1, max_iter=1000, tol=0.05,
                 random_state=None, record_history=False, verbose=0):
        self.n_components = n_components
        self.kernel = kernel
        self.loss = loss
        self.loo = loo
        self.alpha = alpha
        self.epsilon = epsilon
        self.standardize = standardize
        self.init = init
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.record_history = record_history
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y=None):
        """Fit the latent points to the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, ensure_min_samples=2)
        n_samples, n_features = X.shape
        if self.n_components > n_features:
            raise ValueError(
                f"n_components={self.n_components} must be at most the number of "
                f"features, but X has n_features={n_features}.")
        if self.standardize:
            stats = fit_standardization(X, np.ones(n_samples, X.dtype),
                                        center=True, scale=True)
        else:
            stats = identity_standardization(n_features, X.dtype)
        X_std = standardize(X, stats, center=self.standardize)

        # Padding rows have zero weight: they neither reconstruct nor are
        # reconstructed, and sizes in one bucket share compiled code.
        n_rows = _n_rows(n_samples)
        n_columns = _n_columns(n_features, n_samples, isinstance(self.loss, str))
        X_fit = _pad(X_std, n_rows, n_columns)
        weights = _padded_weights(n_samples, n_rows, X.dtype)
        objective = _UKRObjective(self.kernel, self.loss, self.loo)
        hyper = {"alpha": self.alpha, "epsilon": self.epsilon}
        Z0 = self._initial_latents(X_std)
        result = minimize(
            objective, _pad(Z0, n_rows), X_fit, weights, hyper,
            solver=self.solver, learning_rate=self.learning_rate,
            max_iter=self.max_iter, tol=self.tol / n_samples,
            random_state=self.random_state, verbose=self.verbose,
            record_history=self.record_history, name=type(self).__name__,
            # Tiny random latents sit where the objective is nearly flat; one
            # step spreads them out before the gradient test applies.
            min_iter=1 if isinstance(self.init, str) and self.init == "random" else 0)

        self.embedding_ = np.asarray(result.params[:n_samples], dtype=X.dtype)
        self.n_iter_ = result.n_iter
        self.loss_curve_ = np.asarray(result.loss_curve)
        if self.record_history:
            self.history_ = np.asarray(result.history[:, :n_samples], dtype=X.dtype)
        self._n_features_out = self.n_components
        self._stats = stats
        self._X_fit = X_std
        self._reconstructions = _map_to_data(
            self.embedding_, self.embedding_, X_std, kernel=self.kernel,
            loss=self.loss, epsilon=self.epsilon)[0]
        return self

    def _initial_latents(self, X_std):
        """Starting latent points of shape (n_samples, n_components)."""
        n_samples, dtype = X_std.shape[0], X_std.dtype
        init = self.init
        if isinstance(init, str) and init == "random":
            rng = check_random_state(self.random_state)
            shape = (n_samples, self.n_components)
            return (_RANDOM_INIT_SCALE * rng.standard_normal(shape)).astype(dtype)
        if isinstance(init, str):
            embedding = _pca_scores(X_std, self.n_components)
        elif hasattr(init, "fit_transform"):
            embedding = self._transformer_embedding(init, X_std)
        else:
            Z0 = check_array(init, dtype=dtype, input_name="init")
            if Z0.shape != (n_samples, self.n_components):
                raise ValueError(
                    f"init has shape {Z0.shape}, but (n_samples, n_components) = "
                    f"({n_samples}, {self.n_components}) is needed.")
            return Z0
        # The scale decides how many neighbours a kernel of unit bandwidth
        # reaches; the mean leave-one-out error, without the penalty, picks it.
        candidates = _scaled_candidates(embedding.astype(dtype))
        errors = [np.mean(_map_to_data(Z, Z, X_std, kernel=self.kernel,
                                       loss=self.loss, epsilon=self.epsilon,
                                       target=X_std, leave_out=True)[1])
                  for Z in candidates]
        return candidates[int(np.nanargmin(errors)) if np.isfinite(errors).any() else 0]

    def _transformer_embedding(self, init, X_std):
        transformer = clone(init)
        params = transformer.get_params()
        if "n_components" not in params:
            raise ValueError(
                f"init={init!r} has no n_components parameter; pass 'pca', "
                "'random', an array or a transformer such as Isomap().")
        transformer.set_params(n_components=self.n_components)
        if "random_state" in params:
            transformer.set_params(random_state=self.random_state)
        embedding = np.asarray(transformer.fit_transform(X_std), dtype=X_std.dtype)
        if embedding.shape != (X_std.shape[0], self.n_components) or not np.all(
                np.isfinite(embedding)):
            raise ValueError(
                f"init={init!r} did not give a finite embedding of shape "
                f"({X_std.shape[0]}, {self.n_components}).")
        return embedding

    def transform(self, X):
        """Project samples onto the manifold: the latent points that reconstruct them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            Latent points.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        dtype = self.embedding_.dtype
        Xq = standardize(X.astype(dtype), self._stats, center=self.standardize)
        nonsmooth = isinstance(self.loss, str) and self.loss == "epsilon_insensitive"
        project = _project_by_adam if nonsmooth else _project
        # Each row starts at the training latent point whose reconstruction is
        # nearest to it.
        start = self.embedding_[_nearest_rows(Xq, self._reconstructions)]
        Z = project(Xq, start, self.embedding_, self._X_fit, kernel=self.kernel,
                    loss=self.loss, epsilon=self.epsilon)
        return Z.astype(X.dtype)

    def fit_transform(self, X, y=None):
        """Fit the model and project the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Not used, present for API consistency by convention.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            ``fit(X).transform(X)``, which lies near `embedding_`.
        """
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """Map latent points to data space, in the units of the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent points.

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_)
            The Nadaraya-Watson reconstruction of each latent point.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=_FLOAT_DTYPES)
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but {type(self).__name__} has "
                f"n_components={self.n_components} latent dimensions.")
        F = _map_to_data(Z, self.embedding_, self._X_fit, kernel=self.kernel,
                         loss=self.loss, epsilon=self.epsilon)[0]
        return (F * self._stats.scale + self._stats.mean).astype(Z.dtype)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error, in standardised units.

        Each sample goes through :meth:`transform` and
        :meth:`inverse_transform`; the squared errors are averaged over
        samples and features after dividing each feature by its training
        standard deviation (when ``standardize=True``), so that higher is
        better and features in different units count alike.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : None
            Not used, present for API consistency by convention.

        Returns
        -------
        float
            Minus the mean squared reconstruction error per standardised
            feature: higher is better, 0 is a perfect reconstruction.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        X_back = self.inverse_transform(self.transform(X))
        return -float(np.mean(np.square((X - X_back) / self._stats.scale)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
