"""The objective of every linear model: a weighted mean loss plus an L2 penalty."""

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

from .._losses import sample_losses, weighted_mean

__all__ = ["LinearObjective"]


@dataclass(frozen=True)
class LinearObjective:
    """Weighted mean loss of ``X @ coef + intercept`` plus an L2 penalty.

    Frozen, so equal objectives hash alike and share compiled code.

    Attributes
    ----------
    loss : str or callable
        A loss of :func:`gradest._losses.sample_losses`.
    squeeze : bool
        Give a user loss 1-D arrays (the user passed a 1-D target).
    """

    loss: str | Callable
    squeeze: bool = False

    def __call__(self, params, data, weights, hyper):
        X, Y = data
        predictions = X @ params["coef"]
        if "intercept" in params:
            predictions = predictions + params["intercept"]
        losses = sample_losses(self.loss, Y, predictions, hyper, squeeze=self.squeeze)
        penalty = 0.5 * hyper["penalty"] * jnp.sum(params["coef"] ** 2)
        return weighted_mean(losses, weights) + penalty
