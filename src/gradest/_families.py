"""GLM families: the Poisson, Gamma and Tweedie deviances, the log-loss and the links.

Each is ``loss(y_true, y_pred, hyper) -> elementwise losses`` of the linear
predictor: the log of the predicted mean for the log-link families (Poisson,
Gamma, Tweedie, whose ``power`` is a traced entry of ``hyper``), the logits
for the binomial and multinomial log-loss. Beside them are the links
(:class:`Link`, :data:`IDENTITY`, :data:`LOG`), the targets each log-link
family allows (``domain(hyper) -> (lower, inclusive) or None``) and each
family's best constant predictor (the log of the mean, the logit), which the
registry in :mod:`._losses` records.
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

__all__ = ["IDENTITY", "LOG", "Link", "gamma_deviance", "log_loss",
           "poisson_deviance", "tweedie_deviance"]


def log_loss(y_true, logits, hyper):
    """Binomial (one logit column) or multinomial negative log-likelihood.

    `y_true` holds 0/1 for one logit column, else a one-hot encoding.
    """
    if logits.shape[-1] == 1:
        return jax.nn.softplus(logits) - y_true * logits
    return (jax.nn.logsumexp(logits, axis=-1, keepdims=True) - logits) * y_true


def poisson_deviance(y_true, log_mean, hyper):
    """Half the Poisson deviance of the mean ``exp(log_mean)``.

    ``y log(y / mu) - y + mu``: 0 at ``mu = y``. Up to terms in y alone it is
    the negative log-likelihood, and it is the per-sample loss of
    :class:`~sklearn.linear_model.PoissonRegressor`.
    """
    return jnp.exp(log_mean) - y_true * log_mean + xlogy(y_true, y_true) - y_true


def gamma_deviance(y_true, log_mean, hyper):
    """Half the Gamma deviance of the mean ``mu = exp(log_mean)``.

    ``log(mu / y) + y / mu - 1``, the loss of
    :class:`~sklearn.linear_model.GammaRegressor`.
    """
    # Padding rows (of zero weight) have y = 0: a finite loss there keeps
    # their zero weight from multiplying an infinity.
    log_y = jnp.log(jnp.where(y_true > 0, y_true, 1.0))
    return log_mean + y_true * jnp.exp(-log_mean) - log_y - 1


def _box_cox_exp(a, eta):
    """``(exp(a eta) - 1) / a``, and its limit ``eta`` at ``a = 0``, for a traced `a`.

    The second ``where`` keeps the branch not taken finite, so that its
    gradient does not turn into NaN (0 times infinity).
    """
    safe = jnp.where(a == 0, 1.0, a)
    return jnp.where(a == 0, eta, jnp.expm1(safe * eta) / safe)


def tweedie_deviance(y_true, log_mean, hyper):
    """Half the Tweedie deviance of power `p` of the mean ``mu = exp(log_mean)``.

    With ``B_a(x) = (x^a - 1) / a`` (``log x`` at ``a = 0``) the half deviance
    is ``y (B_{1-p}(y) - B_{1-p}(mu)) - (B_{2-p}(y) - B_{2-p}(mu))``: one
    expression, continuous in `p` and without a branch on it, so that `p` is a
    traced hyperparameter. It equals the half deviance of
    :class:`~sklearn.linear_model.TweedieRegressor` (``HalfTweedieLoss``
    with its constant): Poisson at ``p = 1``, Gamma at ``p = 2``, Normal at
    ``p = 0``. The terms in y alone (no gradient) are written for every
    target the power allows: ``y > 0`` through ``log y``; ``y = 0`` (``p <
    2``) by their limit; ``y < 0`` (``p < 0``) as scikit-learn writes them,
    with ``max(y, 0)`` in the power; at ``p = 0`` the half deviance is
    ``(y - mu)^2 / 2`` for every y.
    """
    power = hyper["power"]
    positive = y_true > 0
    log_y = jnp.log(jnp.where(positive, y_true, 1.0))
    # The same terms at mu = y, so that the deviance is 0 there.
    at_y = _box_cox_exp(2 - power, log_y) - y_true * _box_cox_exp(1 - power, log_y)
    # y <= 0: B_{2-p}(0) = -1 / (2 - p) and y B_{1-p}(y) = -y / (1 - p), whose
    # denominators are safe where such targets are allowed (p < 1, p < 2).
    below_one = jnp.where(power < 1, 1 - power, 1.0)
    below_two = jnp.where(power < 2, 2 - power, 1.0)
    at_nonpositive = jnp.minimum(y_true, 0) / below_one - 1 / below_two
    constant = jnp.where(positive, at_y, at_nonpositive)
    # p = 0 is the Normal: the terms are polynomials, exact for every sign.
    constant = jnp.where(power == 0, y_true - 0.5 - 0.5 * y_true**2, constant)
    return (_box_cox_exp(2 - power, log_mean)
            - y_true * _box_cox_exp(1 - power, log_mean) - constant)


@dataclass(frozen=True)
class Link:
    """A link function: the mean of y is ``inverse(linear predictor)``.

    Attributes
    ----------
    name : str
        "identity" or "log".
    forward : callable
        NumPy function from the mean to the linear predictor.
    inverse : callable
        NumPy function from the linear predictor to the mean (what
        ``predict`` returns).
    """

    name: str
    forward: Callable
    inverse: Callable


def _identity(values):
    return values


IDENTITY = Link("identity", _identity, _identity)
LOG = Link("log", np.log, np.exp)


def _nonnegative(hyper):
    return (0.0, True)


def _positive(hyper):
    return (0.0, False)


def _tweedie_domain(hyper):
    """scikit-learn's ``HalfTweedieLoss``: y real for p <= 0, y >= 0 below 2, y > 0."""
    if hyper["power"] <= 0:
        return None
    return (0.0, hyper["power"] < 2)


def _log_of_mean(mean):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(mean)


def _logit_of_mean(mean):
    """The binomial logit of the mean, or the multinomial centred log of the
    class frequencies (the logits are defined up to a common shift)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if mean.shape[-1] == 1:
            return np.log(mean) - np.log1p(-mean)
        logs = np.log(mean)
        return logs - np.mean(logs)
