"""The starting point of a linear fit, in standardised units.

The coefficients (zero, or the previous model mapped into the units of this
fit), the intercept of targets left in the user's units (a loss's best
constant, else the better of 0 and the link of the mean) and the log of a
concomitant scale.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._engine import run_pass
from .._losses import best_constant
from .._scaling import scale_linear

__all__ = ["_starting_intercept", "_starting_log_scale", "_starting_point"]


def _starting_point(previous, x_stats, y_stats, n_columns, n_outputs, dtype,
                    fit_intercept):
    """The parameters to start from, in standardised units, padded to `n_columns`."""
    coef0 = np.zeros((n_columns, n_outputs), dtype=dtype)
    intercept0 = np.zeros(n_outputs, dtype=dtype)
    if previous is not None:
        scaled, intercept0 = scale_linear(*previous[:2], x_stats, y_stats)
        coef0[: scaled.shape[0]] = scaled
    params = {"coef": coef0}
    if fit_intercept:
        params["intercept"] = intercept0.astype(dtype)
    return params


def _starting_log_scale(previous, y_stats, dtype):
    """log(sigma) to start from, in standardised units.

    The previous fit's scale if there is one, else 1 in the units the
    optimiser sees: the spread of y when it is standardised.
    """
    if previous is not None and len(previous) > 2:
        return np.log(previous[2] / y_stats.scale).astype(dtype)
    return np.zeros(y_stats.scale.shape, dtype=dtype)


def _starting_intercept(objective, Y_fit, weights, hyper, Y, sample_weight):
    """The best constant of a built-in loss, else the better of 0 and the
    link of the weighted mean of Y, as the intercept.

    For targets left in the user's units: a first-order solver moves the
    intercept by about `learning_rate` per step, so a least-squares-like loss
    on targets far from 0 would take many steps from 0, while a user's
    likelihood with an exponential link (Poisson) may overflow at the mean
    of counts. For a built-in family with a log link the link of the mean,
    ``log(mean)``, is the exact minimiser among constants; it is not a
    candidate where the mean is not positive. Comparing the objective at
    both constants (with zero coefficients) suits every case. Where the
    loss knows the exact minimiser among constants
    (:attr:`~gradest._losses.LossSpec.best_constant`), that is the start,
    with nothing to evaluate: the evaluation compiles a program of its own
    (0.1-0.15 s in each new process, such as each worker of a grid search).
    """
    mean = (sample_weight @ Y) / sample_weight.sum()
    exact = best_constant(objective.loss, mean)
    if exact is not None:
        return exact.astype(Y.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        linked = objective.link.forward(mean)
    candidates = np.stack([np.zeros_like(mean),
                           np.where(np.isfinite(linked), linked, 0)]).astype(Y.dtype)
    if objective.estimates_scale:
        return candidates[0]
    values = run_pass(_constant_objective, Y_fit, weights, hyper, candidates,
                      dtype=Y.dtype, objective=objective)
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=np.inf)
    return candidates[int(values[1] < values[0])]


@partial(jax.jit, static_argnames="objective")
def _constant_objective(Y, weights, hyper, candidates, *, objective):
    """`objective` with zero coefficients at each row of `candidates`."""
    no_features = jnp.zeros((Y.shape[0], 0), Y.dtype)
    coef = jnp.zeros((0, Y.shape[1]), Y.dtype)
    return jax.vmap(lambda intercept: objective(
        {"coef": coef, "intercept": intercept}, (no_features, Y), weights, hyper)
    )(candidates)
