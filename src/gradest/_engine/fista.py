"""FISTA: accelerated proximal gradient steps with backtracking and restarts.

For an objective ``f(x) + g(x)`` with ``f`` smooth and ``g`` a penalty with a
proximal map (Beck and Teboulle, 2009). Written as an optax transformation
with extra arguments, so that the engine's loop runs it like any other
solver: the loop evaluates ``f`` and its gradient at the current point (its
stopping test needs them there), and `update` returns the step to the next
proximal point. The step length ``1 / L`` comes from a backtracking search on
the quadratic upper bound of ``f``, started each iteration a little below the
last accepted ``L`` so that it can also lengthen the steps. The momentum is
restarted whenever it points against the last step (O'Donoghue and Candès's
gradient scheme), which makes the method converge linearly on problems that
are strongly convex near their minimiser, such as a Lasso on its support.

No library we depend on has one: optax has projections (constraint sets), not
proximal maps, and no accelerated proximal method.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["FistaState", "fista"]

# Each iteration first tries L shrunk by this factor, and grows it by
# `_GROW` until the sufficient-decrease test holds.
_SHRINK = 0.9
_GROW = 2.0
# Growths tried before giving up (L grows 2 ** 60-fold: an objective whose
# curvature is beyond that is not finite in practice).
_MAX_BACKTRACKS = 60
# Rounding of the objective's value that the sufficient-decrease test
# forgives, in ulps of its value.
_SLACK_ULPS = 8


class FistaState(NamedTuple):
    """FISTA's state between iterations."""

    previous: jax.Array  # the proximal point before the current one
    momentum: jax.Array  # t_k of Beck and Teboulle
    lipschitz: jax.Array  # the last accepted L (steps are 1 / L)


def fista(prox: Callable) -> object:
    """FISTA as an optax transformation with extra arguments.

    Parameters
    ----------
    prox : callable
        ``prox(x, step)``: the proximal map of ``step * g``; the identity
        for a smooth objective (accelerated gradient descent).

    Returns
    -------
    optax.GradientTransformationExtraArgs
        Its `update` takes the gradient of ``f`` at `params` and needs the
        ``value``, ``grad`` and ``value_fn`` keyword arguments (``f`` and its
        value at `params`).
    """
    import optax

    def init_fn(params):
        one = jnp.ones((), params.dtype)
        return FistaState(previous=params, momentum=one, lipschitz=one)

    def update_fn(updates, state, params, *, value, grad, value_fn, **extra_args):
        del updates, extra_args
        dtype = params.dtype
        t_next = 0.5 * (1 + jnp.sqrt(1 + 4 * state.momentum**2))
        beta = ((state.momentum - 1) / t_next).astype(dtype)
        point = params + beta * (params - state.previous)
        # Without momentum the extrapolated point is the current one, whose
        # value and gradient the loop has already computed.
        f_point, g_point = jax.lax.cond(
            beta == 0, lambda: (value.astype(dtype), grad),
            lambda: jax.value_and_grad(value_fn)(point))
        slack = _SLACK_ULPS * jnp.finfo(dtype).eps * jnp.abs(f_point)

        def candidate(lipschitz):
            x = prox(point - g_point / lipschitz, 1 / lipschitz).astype(dtype)
            step = x - point
            bound = (f_point + jnp.vdot(g_point, step)
                     + 0.5 * lipschitz * jnp.vdot(step, step))
            # A NaN value (a step into overflow) fails the test too.
            return x, ~(value_fn(x) <= bound + slack)

        def too_long(carry):
            _, _, rejected, n = carry
            return rejected & (n < _MAX_BACKTRACKS)

        def grow(carry):
            lipschitz, _, _, n = carry
            lipschitz = lipschitz * _GROW
            return (lipschitz, *candidate(lipschitz), n + 1)

        lipschitz = (state.lipschitz * _SHRINK).astype(dtype)
        start = (lipschitz, *candidate(lipschitz), jnp.zeros((), jnp.int32))
        lipschitz, x, _, _ = jax.lax.while_loop(too_long, grow, start)
        # Restart when the momentum opposes the step it led to.
        restart = jnp.vdot(point - x, x - params) > 0
        t_next = jnp.where(restart, jnp.ones((), t_next.dtype), t_next)
        new_state = FistaState(previous=params, momentum=t_next.astype(dtype),
                               lipschitz=lipschitz)
        return (x - params).astype(dtype), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
