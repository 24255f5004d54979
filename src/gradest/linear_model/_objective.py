"""The data fit of every linear model: a weighted mean loss.

The penalty on the coefficients is the engine's to add (see
:mod:`gradest._penalties`): a smooth one to this objective, a nonsmooth one
by proximal steps.
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from .._engine import matvec, weighted_gram
from .._losses import (
    IDENTITY,
    LOSSES,
    Link,
    estimates_scale,
    is_convex,
    link_of,
    sample_losses,
    smoothed_form,
    weighted_mean,
)

__all__ = ["SCALE_PARAM", "SMOOTHING", "LinearObjective", "LinearScore"]

# The parameter holding log(sigma) of a loss with a concomitant scale: the log
# keeps sigma positive without bounds, which the first-order solvers lack.
SCALE_PARAM = "log_scale"
# The hyperparameter holding the smoothing width of a smoothed loss: traced,
# so that every width of a continuation shares one compiled loop.
SMOOTHING = "smoothing"


def _predictions(params, X):
    """``X @ coef + intercept``; X a dense array or a sparse design (see
    gradest._engine.sparse)."""
    predictions = matvec(X, params["coef"])
    if "intercept" in params:
        predictions = predictions + params["intercept"]
    return predictions


@dataclass(frozen=True)
class LinearObjective:
    """Weighted mean loss of ``X @ coef + intercept``.

    X is a dense array or a :class:`~gradest._engine.SparseDesign`: the
    product goes through :func:`~gradest._engine.matvec`, so one objective
    serves both.

    Frozen, so equal objectives hash alike and share compiled code. A loss
    that :func:`~gradest._losses.estimates_scale` has one more parameter,
    ``params[SCALE_PARAM]`` of shape (n_outputs,), the log of its scale.

    Attributes
    ----------
    loss : str or callable
        A loss of :func:`gradest._losses.sample_losses`.
    squeeze : bool
        Give a user loss 1-D arrays (the user passed a 1-D target).
    smoothed : bool
        Minimise the loss's smooth surrogate of width ``hyper[SMOOTHING]``
        (see :func:`~gradest._losses.smoothed_form`) instead of the loss.
    """

    loss: str | Callable
    squeeze: bool = False
    smoothed: bool = False

    @property
    def link(self) -> Link:
        """The loss's link (the identity for a user's callable)."""
        return link_of(self.loss)

    @property
    def estimates_scale(self) -> bool:
        """Whether the parameters include the log of a concomitant scale."""
        return estimates_scale(self.loss)

    @property
    def convex(self) -> bool:
        """Whether the objective is convex in the parameters: a convex loss,
        without the log of a concomitant scale (the L2 penalty keeps it so)."""
        return is_convex(self.loss) and not self.estimates_scale

    @property
    def differentiable(self) -> bool:
        """Whether the fit minimises a differentiable function: a smooth
        built-in loss, or a kinked one through its smooth surrogate (a user's
        callable is of unknown smoothness), so that "auto" may choose a
        quasi-Newton solver."""
        return isinstance(self.loss, str) and (
            LOSSES[self.loss].smooth or smoothed_form(self.loss) is not None)

    def __call__(self, params, data, weights, hyper):
        X, Y = data
        return self._mean_loss(_predictions(params, X), params, Y, weights, hyper)

    def _mean_loss(self, predictions, params, Y, weights, hyper):
        scale = jnp.exp(params[SCALE_PARAM]) if self.estimates_scale else None
        width = hyper[SMOOTHING] if self.smoothed else None
        losses = sample_losses(self.loss, Y, predictions, hyper, squeeze=self.squeeze,
                               scale=scale, width=width)
        return weighted_mean(losses, weights)

    def has_curvature(self, params) -> bool:
        """Whether :meth:`hessian_block` applies: a smooth convex built-in loss
        of one output column, without a concomitant scale (the proximal
        Newton solver's condition; see ``SolverSpec.needs_curvature``)."""
        return (self.convex and not self.smoothed and LOSSES[self.loss].smooth
                and set(params) <= {"coef", "intercept"}
                and params["coef"].shape[1] == 1)

    def hessian_block(self, params, data, weights, hyper, index):
        """The Hessian of the objective on the flat coordinates `index`.

        The flat parameters are the coefficients (one output column) followed
        by the intercept, if any, which is ``index == n_coef``. The Hessian
        of a weighted mean loss of ``A theta`` (A the design with a column of
        ones) is ``A' diag(h) A`` with ``h`` the weighted second derivatives
        of the per-sample losses, so a block is the weighted Gram of a few
        columns of A (see :func:`~gradest._engine.weighted_gram`).

        Parameters
        ----------
        params : dict
            ``coef`` of shape (n_coef, 1) and an optional ``intercept``.
        data, weights, hyper
            As for the objective.
        index : int array of shape (k,)
            Distinct flat coordinates.

        Returns
        -------
        array of shape (k, k)
        """
        X, Y = data
        coef = params["coef"]
        predictions = _predictions(params, X)

        def mean_loss(predictions):
            return self._mean_loss(predictions, params, Y, weights, hyper)

        # The per-sample losses are separate, so their Hessian in the
        # predictions is diagonal: one product with ones gives it.
        _, curvature = jax.jvp(jax.grad(mean_loss), (predictions,),
                               (jnp.ones_like(predictions),))
        is_coef = index < coef.shape[0]
        gram, shares, total = weighted_gram(X, jnp.where(is_coef, index, -1),
                                            curvature[:, 0])
        return jnp.where(
            is_coef[:, None] & is_coef[None, :], gram,
            jnp.where(is_coef[:, None], shares[:, None],
                      jnp.where(is_coef[None, :], shares[None, :], total)))


@dataclass(frozen=True)
class LinearScore:
    """The estimator's ``score`` of ``X @ coef + intercept``, for early stopping.

    Evaluated inside the compiled loop on the standardised validation rows:
    R^2 (the mean over outputs, as :func:`~sklearn.metrics.r2_score`) is the
    same in standardised and user units, since standardising y maps targets
    and predictions by the same affine map; accuracy depends on the signs
    (or the largest) of the logits only. Rows are weighted; rows of zero
    weight (padding) do not count.

    Attributes
    ----------
    kind : {"r2", "accuracy"}
        R^2 of regression targets; accuracy of 0/1 codes (one column) or
        one-hot codes (one column per class).
    link : Link
        The loss's link: R^2 compares the targets with the predicted means
        ``link.inverse(X @ coef + intercept)``.
    """

    kind: str
    link: Link = IDENTITY

    def __call__(self, params, data, weights, hyper):
        X, Y = data
        predictions = _predictions(params, X)
        total = jnp.sum(weights)
        if self.kind == "accuracy":
            if Y.shape[1] == 1:
                correct = (predictions[:, 0] > 0) == (Y[:, 0] > 0.5)
            else:
                correct = (jnp.argmax(predictions, axis=1)
                           == jnp.argmax(Y, axis=1))
            return jnp.sum(weights * correct) / total
        predictions = self.link.inverse(predictions)
        mean = weights @ Y / total
        residual = weights @ (Y - predictions) ** 2
        spread = weights @ (Y - mean) ** 2
        # A constant target: 1 for a perfect fit, else 0, as r2_score.
        r2 = jnp.where(spread > 0, 1 - residual / jnp.where(spread > 0, spread, 1),
                       jnp.where(residual == 0, 1.0, 0.0))
        return jnp.mean(r2)
