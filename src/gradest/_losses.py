"""Pointwise losses: a registry of functions written once with ``jax.numpy``.

Each built-in loss is ``loss(y_true, y_pred, hyper) -> elementwise losses``;
``hyper`` carries traced parameters such as the Huber threshold ``epsilon``.
A user loss is ``loss(y_true, y_pred) -> per-sample or elementwise losses``.

A loss may also have a form with a scale ``sigma`` estimated jointly with the
model (Owen's concomitant scale), ``loss(y_true, y_pred, sigma, hyper)``: its
threshold is then in units of that scale, so that outliers cannot move it.
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

__all__ = ["LOSSES", "LossSpec", "estimates_scale", "homogeneity_degree",
           "is_equivariant", "is_smooth", "loss_names", "sample_losses",
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


def huber_with_scale(y_true, y_pred, scale, hyper):
    """Huber loss with a concomitant scale: ``(sigma + sigma H(r / sigma)) / 2``.

    ``H(z) = z^2`` for ``|z| <= epsilon``, else ``2 epsilon |z| - epsilon^2``
    (Owen, 2007). Summed over samples it is half the objective of
    :class:`~sklearn.linear_model.HuberRegressor`; jointly convex in the
    residual and ``sigma``, and minimised over ``sigma`` it sets the scale of
    the inliers, so ``epsilon`` counts in that scale whatever the outliers do.
    """
    epsilon = hyper["epsilon"]
    residual = jnp.abs(y_pred - y_true)
    # sigma * H(r / sigma), written without dividing r by sigma twice.
    scaled = jnp.where(residual <= epsilon * scale, residual**2 / scale,
                       2.0 * epsilon * residual - epsilon**2 * scale)
    return 0.5 * (scale + scaled)


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
        Location and scale equivariant as the linear models fit it: fitted to
        ``a * y + b`` its minimiser is the same affine map of the minimiser
        fitted to y. Only then may a linear model standardise its targets and
        map the solution back exactly; ``standardize_targets="auto"``
        standardises the targets of these losses only. True for
        "squared_error" and "absolute_error" (each residual scales with
        ``a``), and for "huber", whose threshold is in units of a scale fitted
        with the model (`with_scale`) and scaling with ``a`` too. False where
        a threshold is in the units of y ("epsilon_insensitive") and for
        "log_loss", whose targets are labels.
    tasks : frozenset of str
        Where the loss is offered: "regression", "classification",
        "reconstruction" (UKR).
    with_scale : callable or None
        ``with_scale(y_true, y_pred, scale, hyper) -> elementwise losses``:
        the form with a scale per output estimated jointly with the model
        (Owen's concomitant scale), which the linear models minimise instead
        of `fn`. UKR, which has no such parameter, keeps `fn`.
    degree : int or None
        For the equivariant losses as the linear models fit them: scaling
        the residuals (and the concomitant scale) by ``a`` scales the loss by
        ``a ** degree`` (2 for squared error, 1 for the absolute error and
        the Huber loss with its scale). A penalty stated in the units of y
        is converted to standardised targets with it.
    """

    name: str
    fn: Callable
    smooth: bool
    equivariant: bool
    tasks: frozenset
    with_scale: Callable | None = None
    degree: int | None = None


_REGISTRY = (
    LossSpec("squared_error", squared_error, smooth=True, equivariant=True,
             tasks=frozenset({"regression", "reconstruction"}), degree=2),
    # A fixed threshold in the units of the residuals would let rescaling y
    # (or outliers inflating its spread) move points across it; the linear
    # models fit the threshold's scale with the model, which makes it
    # equivariant. UKR keeps the fixed threshold, in standardised units.
    LossSpec("huber", huber, smooth=True, equivariant=True,
             tasks=frozenset({"regression", "reconstruction"}),
             with_scale=huber_with_scale, degree=1),
    LossSpec("absolute_error", absolute_error, smooth=False, equivariant=True,
             tasks=frozenset({"regression"}), degree=1),
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


def is_equivariant(loss: str | Callable) -> bool:
    """Whether `loss` is a built-in loss whose targets may be standardised.

    A user's callable is not taken to be: a likelihood such as Poisson's means
    its targets in the user's units.
    """
    return isinstance(loss, str) and LOSSES[loss].equivariant


def homogeneity_degree(loss: str | Callable) -> int | None:
    """The :attr:`LossSpec.degree` of a built-in loss; None for a callable."""
    return LOSSES[loss].degree if isinstance(loss, str) else None


def estimates_scale(loss: str | Callable) -> bool:
    """Whether a linear model fits `loss` with a concomitant scale."""
    return isinstance(loss, str) and LOSSES[loss].with_scale is not None


def sample_losses(loss: str | Callable, y_true, y_pred, hyper, *,
                  squeeze: bool = False, scale=None) -> jax.Array:
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
    scale : jax.Array of shape (n_outputs,), optional
        The concomitant scale of a loss that :func:`estimates_scale`; the
        loss's `with_scale` form is used when given.
    """
    if scale is not None:
        elementwise = LOSSES[loss].with_scale(y_true, y_pred, scale, hyper)
    elif isinstance(loss, str):
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
