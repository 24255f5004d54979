"""Nadaraya-Watson reconstructions, UKR's objective and its one-off passes.

Above 1024 rows the kernel matrix is computed in blocks of rows, inside the
objective and again in its gradient, so that memory grows linearly.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._engine import (
    PAD_QUADRATIC_ROWS,
    bucket_columns,
    bucket_rows,
    map_row_blocks,
    pad,
    padded_weights,
    run_pass,
)
from .._losses import sample_losses, weighted_mean
from ._kernels import _UNDERFLOW, KERNELS, nadaraya_watson, squared_distances

__all__ = ["Reconstruction", "UKRObjective", "WithinReach", "map_to_data",
           "padded_model", "padded_shape", "reconstruct", "reconstruction_losses",
           "within_reach"]

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
        return nadaraya_watson(Zq[rows], Z, X, weights, kernel)

    return map_row_blocks(block, Zq.shape[0])


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
        F = nadaraya_watson(Z[rows], Z, X, weights, kernel, exclude)
        return sample_losses(loss, X[rows], F, hyper)

    return map_row_blocks(block, n_rows)


@dataclass(frozen=True)
class UKRObjective:
    """Mean reconstruction loss plus ``alpha`` times the mean squared latent norm.

    Frozen, so equal objectives hash alike and share compiled code.
    """

    kernel: str | Callable
    loss: str | Callable
    loo: bool

    def __call__(self, Z, X, weights, hyper):
        total = jnp.sum(weights)
        total = jnp.where(total > 0, total, 1)
        # The reconstruction part has an analytic gradient (summed_loss); the
        # penalty's comes from autodiff.
        losses = summed_loss(self, Z, X, weights, hyper) / total
        penalty = weighted_mean(jnp.sum(jnp.square(Z), axis=1), weights)
        return losses + hyper["alpha"] * penalty


# Rows per block of the fused value and gradient: a block's kernel terms and
# their derivatives (a few arrays of block * n_rows) stay small, and a few
# hundred rows keep the products with X efficient. 128 and 256 ran alike on
# the saddle at 10,000 rows; 1,024 rows ran 1.3 times slower.
FUSED_BLOCK = 256


def _fused_block_size(n_rows: int) -> int:
    """All rows when few, else the largest power of two dividing `n_rows`, capped."""
    if n_rows <= FUSED_BLOCK:
        return n_rows
    return min(FUSED_BLOCK, n_rows & -n_rows)


def _kernel_and_slope(d2, usable, weights, kernel):
    """Kernel terms ``k``, their derivatives ``dk / d(d2)``, and the row sums.

    As :func:`~gradest.ukr._kernels.kernel_terms`: the Gaussian measured
    from each row's nearest usable point (the shift cancels in the quotient
    and in its derivative), other kernels falling back to the nearest points
    where a row's sum underflows (weights constant in the latents there, so
    that their derivative is 0).
    """
    masked = jnp.where(usable, d2, jnp.inf)
    nearest_d2 = jnp.min(masked, axis=1, keepdims=True)
    nearest_d2 = jnp.where(jnp.isfinite(nearest_d2), nearest_d2, 0.0)
    if isinstance(kernel, str) and kernel == "gaussian":
        k = weights * jnp.exp(-0.5 * (masked - nearest_d2))
        total = jnp.sum(k, axis=1, keepdims=True)
        return k, -0.5 * k, jnp.where(total > 0, total, 1.0)
    kernel_fn = KERNELS[kernel] if isinstance(kernel, str) else kernel
    # Left-out pairs are evaluated at distance 0, where any kernel is finite.
    safe = jnp.where(usable, d2, 0.0)
    value, slope = jax.jvp(kernel_fn, (safe,), (jnp.ones_like(safe),))
    k = jnp.where(usable, weights * value, 0.0)
    total = jnp.sum(k, axis=1, keepdims=True)
    resolved = total > _UNDERFLOW[np.dtype(d2.dtype)]
    nearest = (usable & (masked <= nearest_d2)).astype(d2.dtype)
    n_nearest = jnp.maximum(jnp.sum(nearest, axis=1, keepdims=True), 1.0)
    return (jnp.where(resolved, k, nearest),
            jnp.where(resolved & usable, weights * slope, 0.0),
            jnp.where(resolved, total, n_nearest))


def _fused_pass(objective, Z, X, weights, hyper, *, gradient: bool):
    """``sum_i w_i loss(x_i, f_{-i}(z_i))`` and, with `gradient`, its gradient in Z.

    One pass over blocks of rows computes each block's kernel terms, its
    reconstructions and losses, and, by the chain rule written out, the
    gradient: with ``p_ij = k_ij / s_i`` and ``G_i`` the derivative of the
    loss in the reconstruction ``f_i = sum_j p_ij x_j``, the derivative in
    the kernel term is ``(G_i . x_j - G_i . f_i) / s_i``, in the squared
    distance that times ``dk_ij``, and ``d2_ij`` moves ``z_i`` and ``z_j``
    apart along ``z_i - z_j``. Nothing is recomputed and no kernel matrix
    outlives its block: autodiff through the blocks would store or recompute
    each block's forward pass.
    """
    n_rows, n_components = Z.shape
    block = _fused_block_size(n_rows)
    columns = jnp.arange(n_rows)
    kernel, loss = objective.kernel, objective.loss

    def one_block(carry, start):
        value, column_grad = carry
        rows = start + jnp.arange(block)
        Zb = jax.lax.dynamic_slice_in_dim(Z, start, block)
        Xb = jax.lax.dynamic_slice_in_dim(X, start, block)
        wb = jax.lax.dynamic_slice_in_dim(weights, start, block)
        d2 = squared_distances(Zb, Z)
        usable = weights[None, :] > 0
        if objective.loo:
            usable = usable & (rows[:, None] != columns[None, :])
        k, slope, total = _kernel_and_slope(d2, usable, weights, kernel)
        F = (k @ X) / total

        def block_loss(F_):
            return jnp.sum(wb * sample_losses(loss, Xb, F_, hyper))

        if not gradient:
            return (value + block_loss(F), column_grad), None
        block_value, pullback = jax.vjp(block_loss, F)
        (G,) = pullback(jnp.ones_like(block_value))
        dk = (G @ X.T - jnp.sum(G * F, axis=1, keepdims=True)) / total
        b = slope * dk
        # d2_ij = |z_i - z_j|^2: d/dz_i = 2 (z_i - z_j), d/dz_j = -2 (z_i - z_j).
        row_grad = 2 * (Zb * jnp.sum(b, axis=1, keepdims=True) - b @ Z)
        column_grad = column_grad - 2 * (b.T @ Zb - Z * jnp.sum(b, axis=0)[:, None])
        return (value + block_value, column_grad), row_grad

    zero = jnp.zeros((), Z.dtype)
    starts = jnp.arange(0, n_rows, block)
    (value, column_grad), row_grads = jax.lax.scan(
        one_block, (zero, jnp.zeros_like(Z)), starts)
    if not gradient:
        return value, None
    return value, column_grad + row_grads.reshape(n_rows, n_components)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def summed_loss(objective, Z, X, weights, hyper):
    """``sum_i w_i loss(x_i, f(z_i))`` of `objective`, with an analytic gradient in Z.

    Differentiable in the latent points `Z` only: the cotangents of `X`,
    `weights` and `hyper` are zeros (the fit never differentiates in them).
    """
    return _fused_pass(objective, Z, X, weights, hyper, gradient=False)[0]


def _summed_loss_forward(objective, Z, X, weights, hyper):
    value, grad = _fused_pass(objective, Z, X, weights, hyper, gradient=True)
    return value, (grad, X, weights, hyper)


def _summed_loss_backward(objective, residuals, cotangent):
    grad, X, weights, hyper = residuals
    return (cotangent * grad, jnp.zeros_like(X), jnp.zeros_like(weights),
            jax.tree.map(jnp.zeros_like, hyper))


summed_loss.defvjp(_summed_loss_forward, _summed_loss_backward)


@dataclass(frozen=True)
class Reconstruction:
    """The projection's model: ``f(Zq)`` from the fitted ``(Z, X, weights)``.

    Row i of ``f(Zq)`` depends on row i of Zq only, as the engine's row-wise
    minimiser requires.
    """

    kernel: str | Callable

    def __call__(self, Zq, fitted):
        Z, X, weights = fitted[:3]
        return reconstruct(Zq, Z, X, weights, self.kernel)


@dataclass(frozen=True)
class WithinReach:
    """The projection's feasible set: within reach of some training latent point.

    ``fitted`` is ``(Z, X, weights, reach)``: the set is the union of the
    balls of radius ``reach[j]`` around the latent points ``Z[j]``. Beyond
    the outermost latent points, and in the holes of the embedding, the
    Nadaraya-Watson estimate tends to the value of the nearest samples, so
    that a sample near one of them reconstructs a little better the farther
    its latent point slides; the balls stop it. A row outside them goes to
    the nearest point of the ball whose surface is nearest; rows inside are
    returned bit for bit.
    """

    def __call__(self, Zq, fitted):
        Z, _, weights, reach = fitted
        distance = jnp.sqrt(squared_distances(Zq, Z))
        beyond = jnp.where(weights[None, :] > 0, distance - reach[None, :], jnp.inf)
        ball = jnp.argmin(beyond, axis=1)
        centre, radius = Z[ball], reach[ball][:, None]
        gap = jnp.take_along_axis(distance, ball[:, None], axis=1)
        inside = jnp.min(beyond, axis=1, keepdims=True) <= 0
        shrink = radius / jnp.where(inside, 1.0, gap)
        return jnp.where(inside, Zq, centre + (Zq - centre) * shrink)


@partial(jax.jit, static_argnames=("kernel", "loss"))
def _reconstruction_pass(Zq, Z, X, weights, target, hyper, left_out, *,
                         kernel, loss):
    """``f(Zq)`` and the loss of each of its rows against the same row of `target`.

    Query row i leaves training point ``left_out[i]`` out of its
    reconstruction (none where it is -1): with ``Zq = Z[rows]``, ``target =
    X[rows]`` and ``left_out = rows`` the losses are the leave-one-out errors
    of those rows. An array, not a flag, so that scoring the initial scales,
    the reconstructions of the training latents and
    :meth:`UKR.inverse_transform` at the same number of rows run one
    compiled program.
    """
    columns = jnp.arange(Z.shape[0])

    def block(rows):
        exclude = left_out[rows][:, None] == columns[None, :]
        F = nadaraya_watson(Zq[rows], Z, X, weights, kernel, exclude)
        return F, sample_losses(loss, target[rows], F, hyper)

    return map_row_blocks(block, Zq.shape[0])


def padded_shape(n_samples: int, n_features: int, loss) -> tuple[int, int]:
    """Rows and columns UKR's arrays are padded to (the engine's policy).

    Padding rows have zero weight: they neither reconstruct nor are
    reconstructed. Columns of zeros add nothing to a built-in loss, which
    sums over columns; a callable loss keeps the user's columns.
    """
    n_rows = bucket_rows(n_samples, **PAD_QUADRATIC_ROWS)
    n_columns = n_features
    if isinstance(loss, str):
        n_columns = bucket_columns(n_features, n_rows, cost="quadratic")
    return n_rows, n_columns


def padded_model(Z, X, loss):
    """The fitted latents, data and weights, padded as in fit."""
    n_rows, n_columns = padded_shape(*X.shape, loss)
    return (pad(Z, n_rows), pad(X, n_rows, n_columns),
            padded_weights(X.shape[0], n_rows, X.dtype))


def map_to_data(Zq, Z, X, *, kernel, loss, epsilon, target=None, leave_out=False):
    """``f(Zq)`` of shape (n_queries, n_features) and its losses against `target`.

    The losses (zeros when `target` is None) have shape (n_queries,).
    `leave_out`: False, True (query row i leaves training point i out, for
    ``Zq = Z``), or an array of the training point each query row leaves out
    (for ``Zq = Z[rows]``: ``rows``). Padded as in fit, so that the
    leave-one-out errors, the reconstructions of the training latents and
    :meth:`UKR.inverse_transform` share compiled code.
    """
    dtype = X.dtype
    n_queries, (n_samples, n_features) = Zq.shape[0], X.shape
    n_rows = bucket_rows(n_queries, **PAD_QUADRATIC_ROWS)
    n_columns = padded_shape(n_samples, n_features, loss)[1]
    if target is None:
        target = np.zeros((n_queries, n_features), dtype)
    # Padding queries leave nothing out.
    left_out = np.full(n_rows, -1, dtype=np.int32)
    if leave_out is True:
        left_out[:n_queries] = np.arange(n_queries)
    elif leave_out is not False:
        left_out[:n_queries] = np.asarray(leave_out)
    model = padded_model(Z, X, loss)
    F, losses = run_pass(
        _reconstruction_pass, pad(Zq, n_rows, dtype=dtype), *model,
        pad(target, n_rows, n_columns, dtype=dtype),
        {"epsilon": np.asarray(epsilon, dtype)}, left_out,
        dtype=dtype, n_rows=model[0].shape[0], kernel=kernel, loss=loss)
    return F[:n_queries, :n_features], losses[:n_queries]


@jax.jit
def _within_reach_pass(Zq, Z, weights, reach):
    return WithinReach()(Zq, (Z, None, weights, reach))


def within_reach(Zq, Z, reach):
    """:class:`WithinReach` of the rows `Zq`, for the latents `Z` of reach `reach`.

    Padded as in fit, so that every call at the same number of rows runs one
    compiled program.
    """
    dtype = Z.dtype
    n_queries = Zq.shape[0]
    n_rows = bucket_rows(n_queries, **PAD_QUADRATIC_ROWS)
    n_model = bucket_rows(Z.shape[0], **PAD_QUADRATIC_ROWS)
    out = run_pass(_within_reach_pass, pad(Zq, n_rows, dtype=dtype), pad(Z, n_model),
                   padded_weights(Z.shape[0], n_model, dtype), pad(reach, n_model),
                   dtype=dtype)
    return out[:n_queries]
