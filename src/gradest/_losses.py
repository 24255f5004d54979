"""Pointwise losses: a registry of functions written once with ``jax.numpy``.

Each built-in loss is ``loss(y_true, y_pred, hyper) -> elementwise losses``;
``hyper`` carries traced parameters such as the Huber threshold ``epsilon``
or the Tweedie ``power``. ``y_pred`` is the linear predictor: for a family
with a log link (Poisson, Gamma, Tweedie) the log of the predicted mean; the
GLM families and the links are in :mod:`._families`.
A user loss is ``loss(y_true, y_pred) -> per-sample or elementwise losses``.

A loss may also have a form with a scale ``sigma`` estimated jointly with the
model (Owen's concomitant scale), ``loss(y_true, y_pred, sigma, hyper)``: its
threshold is then in units of that scale, so that outliers cannot move it.
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ._families import (
    IDENTITY,
    LOG,
    Link,
    _identity,
    _log_of_mean,
    _logit_of_mean,
    _nonnegative,
    _positive,
    _tweedie_domain,
    gamma_deviance,
    log_loss,
    poisson_deviance,
    tweedie_deviance,
)

__all__ = ["IDENTITY", "LOSSES", "Link", "LossSpec", "best_constant", "check_targets",
           "estimates_scale", "has_statistics", "homogeneity_degree", "is_convex",
           "is_equivariant", "is_smooth", "link_of", "loss_hyper", "loss_names",
           "sample_losses", "scales_targets", "smoothed_form", "weighted_mean"]


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


def smoothed_absolute_error(y_true, y_pred, width, hyper):
    """The absolute error with its kink rounded over `width`.

    Twice the smoothed pinball loss of the median, ``width * (softplus(r /
    width) + softplus(-r / width))``: at most ``2 width log(2)`` above ``|r|``.
    """
    residual = (y_true - y_pred) / width
    return width * (jax.nn.softplus(residual) + jax.nn.softplus(-residual))


def epsilon_insensitive(y_true, y_pred, hyper):
    return jnp.maximum(jnp.abs(y_pred - y_true) - hyper["epsilon"], 0.0)


def pinball(y_true, y_pred, hyper):
    """Pinball loss of quantile `q`: ``q r`` above the prediction, ``(q - 1) r`` below.

    ``r = y_true - y_pred``; the loss of
    :class:`~sklearn.linear_model.QuantileRegressor`, whose minimiser is the
    conditional `q`-quantile.
    """
    residual = y_true - y_pred
    return jnp.maximum(hyper["quantile"] * residual, (hyper["quantile"] - 1) * residual)


def smoothed_pinball(y_true, y_pred, width, hyper):
    """The pinball loss with its kink rounded over `width`: smooth, convex.

    ``(q - 1) r + width * softplus(r / width)``, above the pinball loss by at
    most ``width * log(2)`` (at ``r = 0``) and equal to it as `width` -> 0,
    so the smoothed minimiser's pinball objective is within ``width *
    log(2)`` of the minimum.
    """
    residual = y_true - y_pred
    return ((hyper["quantile"] - 1) * residual
            + width * jax.nn.softplus(residual / width))


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
    link : Link
        The mean of y is ``link.inverse(y_pred)``: what ``predict`` returns,
        and (through ``link.forward``) where the intercept starts.
    target_domain : callable or None
        ``target_domain(hyper) -> (lower, inclusive) or None``: the targets
        the loss is defined for (``y >= lower`` or ``y > lower``), None for
        any real y. See :func:`check_targets`.
    scalable_targets : bool
        Whether the targets may be centred and scaled at all. False for the
        log-link families, whose targets are counts or amounts in their own
        units (a centred count is no count); their intercept starts at the
        link of the weighted mean of y instead.
    hyperparameters : tuple of str
        The estimator parameters the loss reads from ``hyper``, traced, so
        that a search over them compiles once.
    smoothed : callable or None
        For a loss that is not `smooth`: ``smoothed(y_true, y_pred, width,
        hyper) -> elementwise losses``, a smooth convex surrogate that
        tends to `fn` as `width` -> 0. Solvers that need a smooth objective
        minimise it for decreasing widths, each fit starting from the last.
    statistics : bool
        The loss depends on the data only through their weighted means and
        cross-products (squared error), so a fit may iterate on those.
    convex : bool
        Convex in the prediction (so a linear model's objective is convex in
        its coefficients), which lets the engine use solvers that rely on it.
        The form `with_scale` is not convex in the log of its scale.
    degree : int or None
        For the equivariant losses as the linear models fit them: scaling
        the residuals (and the concomitant scale) by ``a`` scales the loss by
        ``a ** degree`` (2 for squared error, 1 for the absolute error and
        the Huber loss with its scale). A penalty stated in the units of y
        is converted to standardised targets with it.
    best_constant : callable or None
        ``best_constant(mean) -> predictions``: from the weighted mean of the
        targets (one value per output column), the constant linear predictor
        that minimises the weighted mean loss exactly, where it is finite
        (the mean itself for squared error, its log for the log-link
        families, its logit for the binomial and the centred log for the
        multinomial log-loss: where the loss's derivative in a constant
        predictor vanishes). A linear model's intercept starts there. None
        where no closed form exists (the intercept then starts at the better
        of 0 and the link of the mean, by evaluating both).
    """

    name: str
    fn: Callable
    smooth: bool
    equivariant: bool
    tasks: frozenset
    with_scale: Callable | None = None
    link: Link = IDENTITY
    target_domain: Callable | None = None
    scalable_targets: bool = True
    hyperparameters: tuple = ()
    smoothed: Callable | None = None
    statistics: bool = False
    convex: bool = False
    degree: int | None = None
    best_constant: Callable | None = None


_REGRESSION = frozenset({"regression"})
_REGISTRY = (
    LossSpec("squared_error", squared_error, smooth=True, equivariant=True,
             tasks=frozenset({"regression", "reconstruction"}), statistics=True,
             convex=True, degree=2, best_constant=_identity),
    # A fixed threshold in the units of the residuals would let rescaling y
    # (or outliers inflating its spread) move points across it; the linear
    # models fit the threshold's scale with the model, which makes it
    # equivariant. UKR keeps the fixed threshold, in standardised units.
    LossSpec("huber", huber, smooth=True, equivariant=True,
             tasks=frozenset({"regression", "reconstruction"}),
             with_scale=huber_with_scale, hyperparameters=("epsilon",), convex=True,
             degree=1),
    LossSpec("absolute_error", absolute_error, smooth=False, equivariant=True,
             tasks=_REGRESSION, smoothed=smoothed_absolute_error, convex=True,
             degree=1),
    LossSpec("epsilon_insensitive", epsilon_insensitive, smooth=False,
             equivariant=False, tasks=frozenset({"reconstruction"}),
             hyperparameters=("epsilon",), convex=True),
    LossSpec("log_loss", log_loss, smooth=True, equivariant=False,
             tasks=frozenset({"classification"}), convex=True,
             best_constant=_logit_of_mean),
    # Quantiles follow any increasing affine map of y, as the median does.
    LossSpec("quantile", pinball, smooth=False, equivariant=True, tasks=_REGRESSION,
             hyperparameters=("quantile",), smoothed=smoothed_pinball,
             convex=True, degree=1),
    LossSpec("poisson", poisson_deviance, smooth=True, equivariant=False,
             tasks=_REGRESSION, link=LOG, target_domain=_nonnegative,
             scalable_targets=False, convex=True, best_constant=_log_of_mean),
    LossSpec("gamma", gamma_deviance, smooth=True, equivariant=False,
             tasks=_REGRESSION, link=LOG, target_domain=_positive,
             scalable_targets=False, convex=True, best_constant=_log_of_mean),
    LossSpec("tweedie", tweedie_deviance, smooth=True, equivariant=False,
             tasks=_REGRESSION, link=LOG, target_domain=_tweedie_domain,
             scalable_targets=False, hyperparameters=("power",),
             best_constant=_log_of_mean),
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


def is_convex(loss: str | Callable) -> bool:
    """Whether `loss` is a built-in loss convex in the prediction; a user's
    callable is not taken to be."""
    return isinstance(loss, str) and LOSSES[loss].convex


def homogeneity_degree(loss: str | Callable) -> int | None:
    """The :attr:`LossSpec.degree` of a built-in loss; None for a callable."""
    return LOSSES[loss].degree if isinstance(loss, str) else None


def estimates_scale(loss: str | Callable) -> bool:
    """Whether a linear model fits `loss` with a concomitant scale."""
    return isinstance(loss, str) and LOSSES[loss].with_scale is not None


def scales_targets(loss: str | Callable) -> bool:
    """Whether `loss` allows its targets to be centred and scaled at all."""
    return not isinstance(loss, str) or LOSSES[loss].scalable_targets


def has_statistics(loss: str | Callable) -> bool:
    """Whether `loss` is a built-in loss with sufficient statistics (squared error)."""
    return isinstance(loss, str) and LOSSES[loss].statistics


def smoothed_form(loss: str | Callable) -> Callable | None:
    """The smooth surrogate of a non-smooth built-in loss, else None."""
    return LOSSES[loss].smoothed if isinstance(loss, str) else None


def best_constant(loss: str | Callable, mean: np.ndarray) -> np.ndarray | None:
    """The :attr:`LossSpec.best_constant` of a built-in loss at the weighted
    mean `mean` of the targets; None for a callable, a loss without one, or
    where it is not finite (a class or a count of weight 0)."""
    if not isinstance(loss, str) or LOSSES[loss].best_constant is None:
        return None
    constant = LOSSES[loss].best_constant(np.asarray(mean, float))
    return constant if np.all(np.isfinite(constant)) else None


def link_of(loss: str | Callable) -> Link:
    """The link of `loss`; the identity for a user's callable."""
    return LOSSES[loss].link if isinstance(loss, str) else IDENTITY


def loss_hyper(loss: str | Callable, params: dict) -> dict:
    """The traced hyperparameters `loss` reads, taken from `params` (by name)."""
    if not isinstance(loss, str):
        return {}
    return {name: params[name] for name in LOSSES[loss].hyperparameters}


def check_targets(loss: str | Callable, y, hyper: dict) -> None:
    """Raise a ValueError if some target lies outside the domain of `loss`.

    Parameters
    ----------
    loss : str or callable
        A built-in name (a callable is not checked).
    y : ndarray
        The targets.
    hyper : dict
        The loss's hyperparameters (the domain of "tweedie" depends on its
        power).

    Raises
    ------
    ValueError
        Naming the loss, its hyperparameters, the condition and the offending
        targets.
    """
    if not isinstance(loss, str) or LOSSES[loss].target_domain is None:
        return
    domain = LOSSES[loss].target_domain(hyper)
    if domain is None:
        return
    lower, inclusive = domain
    bad = y < lower if inclusive else y <= lower
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        settings = "".join(f" with {name}={hyper[name]:g}" for name in
                           LOSSES[loss].hyperparameters)
        raise ValueError(
            f"loss={loss!r}{settings} needs targets y {'>=' if inclusive else '>'} "
            f"{lower:g}, but {n_bad} of {np.size(y)} targets are not (the smallest "
            f"is {np.min(y):g}).")


def sample_losses(loss: str | Callable, y_true, y_pred, hyper, *,
                  squeeze: bool = False, scale=None, width=None) -> jax.Array:
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
    width : jax.Array of shape (), optional
        The smoothing width of a non-smooth loss's :func:`smoothed_form`,
        which is used when given.
    """
    if scale is not None:
        elementwise = LOSSES[loss].with_scale(y_true, y_pred, scale, hyper)
    elif width is not None:
        elementwise = LOSSES[loss].smoothed(y_true, y_pred, width, hyper)
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
