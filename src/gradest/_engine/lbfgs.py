"""A compact L-BFGS for convex objectives: two-loop recursion, backtracking.

optax's :func:`optax.lbfgs` pairs the quasi-Newton direction with a zoom line
search (strong Wolfe conditions), which is what a non-convex objective such as
UKR's needs. On a convex objective the curvature condition holds by itself
whenever the step lowers the objective enough, so Armijo backtracking is
enough; and XLA compiles the short loop below in a fraction of the time. On
diabetes in a fresh process, optax's L-BFGS with zoom cost 1.05 s of CPU for
the first fit (0.49 s of it compiling), and with optax's backtracking line
search still 0.83 s; this one ends the same fit, to the same tolerance, for
less (see the benchmark "lbfgs: first fit in a fresh process").

The transformation follows optax's conventions (an ``init``/``update`` pair
whose state carries the value and gradient at the current point, which
:func:`optax.value_and_grad_from_state` reads), on the engine's flat parameter
vector, without importing optax: a fresh process whose first fit takes this
solver does not pay optax's import (0.09-0.11 s of a 0.55 s fit).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["ExtraArgsTransformation", "LbfgsState", "backtracking_lbfgs",
           "value_and_grad_from_state"]

# Armijo's sufficient-decrease constant, as in scipy's and optax's searches.
_ARMIJO = 1e-4
# Trial steps per line search: halving 30 times reaches 1e-9 of the first
# trial, beyond which a direction of descent cannot fail but for rounding.
_MAX_BACKTRACKING = 30
# Hager and Zhang's constants for the approximate Wolfe conditions (their
# delta, sigma and epsilon: the objective may rise by epsilon |f| where the
# directional derivative shows progress), the allowance at least a few ulps.
_ARMIJO_HZ = 0.1
_WOLFE = 0.9
_HZ_EPSILON = 1e-6
_ROUNDING_ULPS = 4


class ExtraArgsTransformation(NamedTuple):
    """An ``init``/``update`` pair whose update takes optax's extra arguments.

    What :class:`optax.GradientTransformationExtraArgs` holds, without the
    import: ``update(updates, state, params, *, value, grad, value_fn)``.
    """

    init: Callable
    update: Callable


class LbfgsState(NamedTuple):
    """Memory of the last curvature pairs, and the value and gradient at the point."""

    s: jax.Array  # (memory, n): steps, newest at index - 1 (circular)
    y: jax.Array  # (memory, n): gradient changes
    rho: jax.Array  # (memory,): 1 / (s'y); 0 marks an empty slot
    index: jax.Array  # int32: the slot the next pair goes to
    value: jax.Array
    grad: jax.Array


def _direction(grad: jax.Array, state: LbfgsState) -> jax.Array:
    """``-H grad`` by the two-loop recursion over the stored pairs.

    Nocedal & Wright, *Numerical Optimization*, Algorithm 7.4.
    """
    memory = state.rho.shape[0]
    newest = (state.index - 1) % memory
    # Slots from newest to oldest; empty slots (rho = 0) change nothing.
    order = (newest - jnp.arange(memory)) % memory

    def backward(q, slot):
        alpha = state.rho[slot] * jnp.dot(state.s[slot], q)
        return q - alpha * state.y[slot], alpha

    q, alphas = jax.lax.scan(backward, grad, order)
    s_new, y_new = state.s[newest], state.y[newest]
    yy = jnp.dot(y_new, y_new)
    # The initial inverse Hessian gamma * I, gamma = s'y / y'y of the newest
    # pair (1 while the memory is empty).
    gamma = jnp.where(state.rho[newest] > 0, jnp.dot(s_new, y_new) / jnp.where(
        yy > 0, yy, 1), 1)

    def forward(r, slot_alpha):
        slot, alpha = slot_alpha
        beta = state.rho[slot] * jnp.dot(state.y[slot], r)
        return r + (alpha - beta) * state.s[slot], None

    r, _ = jax.lax.scan(forward, gamma * q, (order[::-1], alphas[::-1]))
    return -r


def backtracking_lbfgs(memory_size: int = 10) -> Any:
    """L-BFGS with an Armijo backtracking line search, for convex objectives.

    Parameters
    ----------
    memory_size : int, default=10
        Curvature pairs kept (optax's and scipy's default).

    Returns
    -------
    ExtraArgsTransformation
        ``update(grad, state, params, *, value, grad, value_fn)`` returns the
        step to add to the flat parameters. A step that no trial of the line
        search accepts is zero, which the engine's loop reads as a stall.
    """

    def init(params):
        n = params.shape[0]
        return LbfgsState(
            s=jnp.zeros((memory_size, n), params.dtype),
            y=jnp.zeros((memory_size, n), params.dtype),
            rho=jnp.zeros(memory_size, params.dtype),
            index=jnp.zeros((), jnp.int32),
            value=jnp.asarray(jnp.inf, params.dtype),
            grad=jnp.zeros_like(params))

    def update(updates, state, params, *, value, grad, value_fn, **extra):
        del updates, extra
        direction = _direction(grad, state)
        slope = jnp.dot(grad, direction)
        # The stored pairs keep H positive definite, so this only guards
        # against rounding: fall back to steepest descent.
        descent = slope < 0
        direction = jnp.where(descent, direction, -grad)
        slope = jnp.where(descent, slope, -jnp.dot(grad, grad))
        # Without curvature pairs the direction has the gradient's length;
        # the first trial step is then at most 1 / |g|, as scipy's.
        eps = jnp.finfo(grad.dtype).eps
        # The objective's rounding can far exceed eps |f| where it is a
        # difference of large terms (least squares from its statistics).
        allowance = jnp.maximum(_HZ_EPSILON, _ROUNDING_ULPS * eps) * jnp.abs(value)
        empty = ~jnp.any(state.rho > 0)
        first = jnp.where(empty, jnp.minimum(1, 1 / jnp.linalg.norm(grad)), 1)

        def untried(carry):
            _, k, accepted, _, _ = carry
            return (k < _MAX_BACKTRACKING) & ~accepted

        def trial(carry):
            _, k, _, _, _ = carry
            step = first * 0.5 ** k.astype(grad.dtype)
            new_value, new_grad = jax.value_and_grad(value_fn)(
                params + step * direction)
            # A NaN compares False: rejected, and the step halves.
            armijo = new_value <= value + _ARMIJO * step * slope
            # Near the minimiser the decrease Armijo asks for is below the
            # rounding of the objective, so the test is decided by noise.
            # Hager and Zhang's approximate Wolfe conditions then judge by the
            # directional derivative instead (it is accurate there): the
            # value at most epsilon |f| above the start and the slope along
            # the direction shrunk (Hager & Zhang, SIAM J. Optim. 16, 2005).
            new_slope = jnp.dot(new_grad, direction)
            approximate = ((new_value <= value + allowance)
                           & (new_slope >= _WOLFE * slope)
                           & (new_slope <= (2 * _ARMIJO_HZ - 1) * slope))
            return step, k + 1, armijo | approximate, new_value, new_grad

        step, _, accepted, new_value, new_grad = jax.lax.while_loop(
            untried, trial,
            (first, jnp.zeros((), jnp.int32), jnp.zeros((), bool), value, grad))
        s = step * direction
        y = new_grad - grad
        sy = jnp.dot(s, y)
        # Keep a pair only if it has curvature beyond rounding, so that the
        # inverse Hessian stays positive definite.
        keep = accepted & (sy > eps * jnp.linalg.norm(s) * jnp.linalg.norm(y))
        slot = state.index % memory_size
        state = LbfgsState(
            s=state.s.at[slot].set(jnp.where(keep, s, state.s[slot])),
            y=state.y.at[slot].set(jnp.where(keep, y, state.y[slot])),
            rho=state.rho.at[slot].set(
                jnp.where(keep, 1 / jnp.where(keep, sy, 1), state.rho[slot])),
            index=jnp.where(keep, state.index + 1, state.index),
            value=jnp.where(accepted, new_value, value),
            grad=jnp.where(accepted, new_grad, grad))
        return jnp.where(accepted, s, jnp.zeros_like(s)), state

    return ExtraArgsTransformation(init, update)


def value_and_grad_from_state(fun: Callable, params: jax.Array, state: LbfgsState):
    """The value and gradient the last line search left in `state`, or computed.

    As :func:`optax.value_and_grad_from_state`: computed by
    :func:`jax.value_and_grad` while the stored value is not finite (before
    the first step).
    """
    return jax.lax.cond(jnp.isfinite(state.value),
                        lambda p: (state.value, state.grad),
                        jax.value_and_grad(fun), params)
