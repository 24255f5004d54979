"""Pointwise losses: a registry of functions written once with ``jax.numpy``.

Each built-in loss is ``loss(y_true, y_pred, hyper) -> elementwise losses``;
``hyper`` carries traced parameters such as the Huber threshold ``epsilon``.
A user loss is ``loss(y_true, y_pred) -> per-sample or elementwise losses``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

__all__ = ["LOSSES", "LossSpec", "is_smooth", "loss_names", "sample_losses",
           "weighted_mean"]


def squared_error(y_true, y_pred, hyper):
    # Half the square, so that the minimiser with an L2 penalty 0.5*alpha|w|^2
    # is exactly Ridge(alpha)'s.
    return 0.5 * (y_pred - y_true) ** 2


def huber(y_true, y_pred, hyper):
    epsilon = hyper["epsilon"]
    residual = jnp.abs(y_pred - y_true)
    return jnp.where(residual <= epsilon, 0.5 * residual**2,
                     epsilon * (residual - 0.5 * epsilon))


def absolute_error(y_true, y_pred, hyper):
    return jnp.abs(y_pred - y_true)


def epsilon_insensitive(y_true, y_pred, hyper):
    return jnp.maximum(jnp.abs(y_pred - y_true) - hyper["epsilon"], 0.0)


def log_loss(y_true, logits, hyper):
    """Binomial (one logit column) or multinomial negative log-likelihood.

    `y_true` holds 0/1 for one logit column, else a one-hot encoding.
    """
    if logits.shape[-1] == 1:
        return jax.nn.softplus(logits) - y_true * logits
    return (jax.nn.logsumexp(logits, axis=-1, keepdims=True) - logits) * y_true


@dataclass(frozen=True)
class LossSpec:
    """A built-in loss and what the estimators and the engine need to know of it.

    Attributes
    ----------
    name : str
        The estimators' ``loss`` value.
    fn : callable
        ``fn(y_true, y_pred, hyper) -> elementwise losses``.
    smooth : bool
        Continuously differentiable, so that Gauss-Newton and quasi-Newton
        steps apply (kinks stall them).
    equivariant : bool
        Location and scale equivariant: fitted to ``a * y + b`` its minimiser
        is the same affine map of the minimiser fitted to y, so the targets
        may be standardised and the solution mapped back exactly.
    tasks : frozenset of str
        Where the loss is offered: "regression", "classification",
        "reconstruction" (UKR).
    """

    name: str
    fn: Callable
    smooth: bool
    equivariant: bool
    tasks: frozenset


_REGISTRY = (
    LossSpec("squared_error", squared_error, smooth=True, equivariant=True,
             tasks=frozenset({"regression", "reconstruction"})),
    # Its threshold is in the units of the residuals, so rescaling y moves
    # points across it.
    LossSpec("huber", huber, smooth=True, equivariant=False,
             tasks=frozenset({"regression", "reconstruction"})),
    LossSpec("absolute_error", absolute_error, smooth=False, equivariant=True,
             tasks=frozenset({"regression"})),
    LossSpec("epsilon_insensitive", epsilon_insensitive, smooth=False,
             equivariant=False, tasks=frozenset({"reconstruction"})),
    LossSpec("log_loss", log_loss, smooth=True, equivariant=False,
             tasks=frozenset({"classification"})),
)
LOSSES: dict[str, LossSpec] = {spec.name: spec for spec in _REGISTRY}


def loss_names(task: str) -> set[str]:
    """Names of the built-in losses offered for `task` (for parameter constraints)."""
    return {spec.name for spec in _REGISTRY if task in spec.tasks}


def is_smooth(loss: str | Callable) -> bool:
    """Whether `loss` is smooth; a user's callable is taken to be."""
    return not isinstance(loss, str) or LOSSES[loss].smooth


def sample_losses(loss: str | Callable, y_true, y_pred, hyper, *,
                  squeeze: bool = False) -> jax.Array:
    """Per-sample losses of shape (n_samples,), summed over output columns.

    Parameters
    ----------
    loss : str or callable
        A built-in name or a user function ``loss(y_true, y_pred)``.
    y_true, y_pred : jax.Array of shape (n_samples, n_outputs)
        Targets and predictions.
    hyper : dict
        Traced loss parameters.
    squeeze : bool
        Give a user loss 1-D arrays (the user passed a 1-D target).
    """
    if isinstance(loss, str):
        elementwise = LOSSES[loss].fn(y_true, y_pred, hyper)
    else:
        if squeeze:
            y_true, y_pred = y_true[:, 0], y_pred[:, 0]
        elementwise = jnp.asarray(loss(y_true, y_pred))
        if elementwise.shape[:1] != y_true.shape[:1]:
            raise ValueError(
                "A callable loss must return one loss per sample (shape "
                f"({y_true.shape[0]},) or {tuple(y_true.shape)}), got shape "
                f"{tuple(elementwise.shape)}.")
    return elementwise.reshape(elementwise.shape[0], -1).sum(axis=1)


def weighted_mean(values, weights):
    """Weighted mean that is 0, not NaN, when every weight is 0."""
    total = jnp.sum(weights)
    return jnp.sum(weights * values) / jnp.where(total > 0, total, 1)
