"""The data fit of every linear model: a weighted mean loss.

The penalty on the coefficients is the engine's to add (see
:mod:`gradest._penalties`): a smooth one to this objective, a nonsmooth one
by proximal steps.
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

from .._losses import estimates_scale, sample_losses, weighted_mean

__all__ = ["SCALE_PARAM", "LinearObjective"]

# The parameter holding log(sigma) of a loss with a concomitant scale: the log
# keeps sigma positive without bounds, which the first-order solvers lack.
SCALE_PARAM = "log_scale"


@dataclass(frozen=True)
class LinearObjective:
    """Weighted mean loss of ``X @ coef + intercept``.

    Frozen, so equal objectives hash alike and share compiled code. A loss
    that :func:`~gradest._losses.estimates_scale` has one more parameter,
    ``params[SCALE_PARAM]`` of shape (n_outputs,), the log of its scale.

    Attributes
    ----------
    loss : str or callable
        A loss of :func:`gradest._losses.sample_losses`.
    squeeze : bool
        Give a user loss 1-D arrays (the user passed a 1-D target).
    """

    loss: str | Callable
    squeeze: bool = False

    @property
    def estimates_scale(self) -> bool:
        """Whether the parameters include the log of a concomitant scale."""
        return estimates_scale(self.loss)

    def __call__(self, params, data, weights, hyper):
        X, Y = data
        predictions = X @ params["coef"]
        if "intercept" in params:
            predictions = predictions + params["intercept"]
        scale = jnp.exp(params[SCALE_PARAM]) if self.estimates_scale else None
        losses = sample_losses(self.loss, Y, predictions, hyper, squeeze=self.squeeze,
                               scale=scale)
        return weighted_mean(losses, weights)
