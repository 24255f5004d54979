"""Penalties on the coefficients: a registry of (value, proximal map, optimality).

Each penalty is a :class:`PenaltySpec` whose functions are written once with
``jax.numpy`` on an array of coefficients ``w`` and read their strengths from
the traced hyperparameters ``hyper["l1_strength"]`` and
``hyper["l2_strength"]`` (scalars, or arrays that broadcast against ``w``,
such as one strength per output column). Every penalty is a case of

    g(w) = l1_strength * ||w||_1 + 0.5 * l2_strength * ||w||^2,

whose proximal map ``argmin_v g(v) + ||v - w||^2 / (2 step)`` is soft
thresholding followed by a shrinkage, in closed form. The engine asks an
entry whether it is smooth: a smooth penalty joins the objective that
autodiff differentiates, a nonsmooth one is applied by its proximal map after
each step, and the loop stops on its optimality measure (the distance of the
negative gradient to the subdifferential, which reaches 0 at an L1 optimum,
where the largest gradient component never does). No code outside this
module compares penalty names.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = ["PENALTIES", "PenaltySpec", "PenaltyTerms", "penalty_hyper",
           "penalty_names", "penalty_spec"]


def _soft_threshold(w, threshold):
    return jnp.sign(w) * jnp.maximum(jnp.abs(w) - threshold, 0)


def _l1_value(w, hyper):
    return jnp.sum(hyper["l1_strength"] * jnp.abs(w))


def _l2_value(w, hyper):
    return 0.5 * jnp.sum(hyper["l2_strength"] * w**2)


def _l1_residual(w, grad, hyper):
    """The smallest element of ``grad + l1 * d|w|`` per component.

    Where ``w != 0`` the subdifferential is the single point ``l1 sign(w)``;
    where ``w == 0`` it is ``[-l1, l1]``, whose distance to ``-grad`` is
    ``grad`` soft-thresholded by ``l1``.
    """
    l1 = hyper["l1_strength"]
    return jnp.where(w != 0, grad + l1 * jnp.sign(w), _soft_threshold(grad, l1))


def _none_value(w, hyper):
    return jnp.zeros((), w.dtype)


def _identity_prox(w, step, hyper):
    return w


def _gradient_residual(w, grad, hyper):
    return grad


def _l2_prox(w, step, hyper):
    return w / (1 + step * hyper["l2_strength"])


def _l2_residual(w, grad, hyper):
    return grad + hyper["l2_strength"] * w


def _l1_prox(w, step, hyper):
    return _soft_threshold(w, step * hyper["l1_strength"])


def _elasticnet_value(w, hyper):
    return _l1_value(w, hyper) + _l2_value(w, hyper)


def _elasticnet_prox(w, step, hyper):
    # The prox of a sum of |.| and a square is the shrinkage of the soft
    # threshold (both act componentwise and commute in this order).
    return _l1_prox(w, step, hyper) / (1 + step * hyper["l2_strength"])


def _elasticnet_residual(w, grad, hyper):
    return _l1_residual(w, _l2_residual(w, grad, hyper), hyper)


@dataclass(frozen=True)
class PenaltySpec:
    """A penalty on the coefficients and what the engine and estimators need of it.

    Frozen (and its fields module-level functions), so that it can be a
    static argument of compiled code.

    Attributes
    ----------
    name : str or None
        The estimators' ``penalty`` value.
    value : callable
        ``value(w, hyper) -> scalar``.
    prox : callable
        ``prox(w, step, hyper)``: the proximal map of ``step * value``.
    residual : callable
        ``residual(w, grad, hyper)``: given the gradient of the smooth part of
        the objective, the element of smallest magnitude, per component, of
        the objective's subdifferential (``grad`` plus the penalty's). Its
        largest component is the optimality measure, 0 exactly at a minimiser.
    split : callable
        ``split(strength, l1_ratio) -> (l1_strength, l2_strength)``: an
        estimator's overall strength shared between the two terms.
    smooth : bool
        Differentiable everywhere: the engine adds it to the objective that
        autodiff differentiates (every solver applies), rather than taking
        proximal steps.
    sums_losses : bool
        In scikit-learn's regressors the strength `alpha` of this penalty
        multiplies a sum of squared errors (:class:`~sklearn.linear_model.Ridge`)
        rather than their mean (:class:`~sklearn.linear_model.Lasso`,
        :class:`~sklearn.linear_model.ElasticNet`).
    centres_classes : bool
        Adding a common vector to every class's coefficients of a
        multinomial model raises this penalty least when the vector centres
        them (a sum of squares, or nothing): the centred coefficients are
        then as good a minimiser as any. Not so for an L1 term, whose best
        common shift is a median and whose minimiser has exact zeros that
        centring would destroy.
    """

    name: str | None
    value: Callable
    prox: Callable
    residual: Callable
    split: Callable
    smooth: bool
    sums_losses: bool
    centres_classes: bool


_REGISTRY = (
    PenaltySpec("l2", _l2_value, _l2_prox, _l2_residual,
                split=lambda strength, l1_ratio: (0.0, strength),
                smooth=True, sums_losses=True, centres_classes=True),
    PenaltySpec("l1", _l1_value, _l1_prox, _l1_residual,
                split=lambda strength, l1_ratio: (strength, 0.0),
                smooth=False, sums_losses=False, centres_classes=False),
    PenaltySpec("elasticnet", _elasticnet_value, _elasticnet_prox,
                _elasticnet_residual,
                split=lambda strength, l1_ratio: (strength * l1_ratio,
                                                  strength * (1 - l1_ratio)),
                smooth=False, sums_losses=False, centres_classes=False),
    PenaltySpec(None, _none_value, _identity_prox, _gradient_residual,
                split=lambda strength, l1_ratio: (0.0, 0.0),
                smooth=True, sums_losses=True, centres_classes=True),
)
PENALTIES: dict[str | None, PenaltySpec] = {spec.name: spec for spec in _REGISTRY}


def penalty_names() -> set[str]:
    """Names of the penalties that are strings (for parameter constraints)."""
    return {name for name in PENALTIES if name is not None}


def penalty_spec(penalty: str | None) -> PenaltySpec:
    """The :class:`PenaltySpec` that `penalty` names.

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    try:
        return PENALTIES[penalty]
    except KeyError:
        raise ValueError(f"Unknown penalty {penalty!r}; expected one of "
                         f"{sorted(penalty_names())} or None.") from None


class PenaltyTerms(NamedTuple):
    """An estimator's penalty as the fit path applies it.

    Attributes
    ----------
    spec : PenaltySpec
        Which penalty.
    l1, l2 : float
        Strengths of the two terms, before the normalisation below.
    per_weight : bool
        The strengths are of a penalty added to the sum of the weighted
        losses (Ridge, LogisticRegression): they are divided by the total
        sample weight, since the engine minimises a weighted mean. Else they
        are added to the mean (Lasso, ElasticNet) and stated in the units of
        the targets (see :func:`penalty_hyper`).
    """

    spec: PenaltySpec
    l1: float
    l2: float
    per_weight: bool


def penalty_hyper(terms: PenaltyTerms, total_weight: float,
                  target_scale: np.ndarray | None = None,
                  degree: int | None = None) -> dict:
    """The traced strengths for a fit in standardised units.

    Parameters
    ----------
    terms : PenaltyTerms
        The estimator's penalty.
    total_weight : float
        The sample weight the strengths of a per-weight penalty are divided by.
    target_scale : ndarray of shape (n_outputs,) or None
        The spread of each target column, when the targets are standardised
        and the penalty is stated in the targets' units.
    degree : int or None
        The loss's homogeneity in its residuals (and scale): scaling the
        targets by ``s`` scales the loss by ``s ** degree`` (2 for squared
        error). With a target scale, a mean-based penalty in the targets'
        units becomes, on standardised targets (coefficients divided by
        ``s``, the objective by ``s ** degree``), ``l1 * s ** (1 - degree)``
        and ``l2 * s ** (2 - degree)``.

    Returns
    -------
    dict
        ``{"l1_strength": ..., "l2_strength": ...}``.
    """
    l1, l2 = np.float64(terms.l1), np.float64(terms.l2)
    if terms.per_weight:
        l1, l2 = l1 / total_weight, l2 / total_weight
    elif target_scale is not None and degree is not None:
        scale = np.asarray(target_scale, np.float64)
        l1, l2 = l1 * scale ** (1 - degree), l2 * scale ** (2 - degree)
    return {"l1_strength": l1, "l2_strength": l2}
