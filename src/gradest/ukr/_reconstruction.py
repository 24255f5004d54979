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
from ._kernels import nadaraya_watson, squared_distances

__all__ = ["Reconstruction", "UKRObjective", "WithinReach", "map_to_data",
           "padded_model", "padded_shape", "reconstruct", "reconstruction_losses"]

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
        losses = reconstruction_losses(Z, X, weights, hyper, kernel=self.kernel,
                                       loss=self.loss, loo=self.loo)
        penalty = weighted_mean(jnp.sum(jnp.square(Z), axis=1), weights)
        return weighted_mean(losses, weights) + hyper["alpha"] * penalty


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

    The losses (zeros when `target` is None) have shape (n_queries,). Padded
    as in fit, so that the leave-one-out errors, the reconstructions of the
    training latents and :meth:`UKR.inverse_transform` share compiled code.
    """
    dtype = X.dtype
    n_queries, (n_samples, n_features) = Zq.shape[0], X.shape
    n_rows = bucket_rows(n_queries, **PAD_QUADRATIC_ROWS)
    n_columns = padded_shape(n_samples, n_features, loss)[1]
    if target is None:
        target = np.zeros((n_queries, n_features), dtype)
    model = padded_model(Z, X, loss)
    F, losses = run_pass(
        _reconstruction_pass, pad(Zq, n_rows, dtype=dtype), *model,
        pad(target, n_rows, n_columns, dtype=dtype),
        {"epsilon": np.asarray(epsilon, dtype)}, np.bool_(leave_out),
        dtype=dtype, n_rows=model[0].shape[0], kernel=kernel, loss=loss)
    return F[:n_queries, :n_features], losses[:n_queries]
