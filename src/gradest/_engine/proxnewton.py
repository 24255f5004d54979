"""A proximal Newton solver on working sets, for an L1 or elastic-net penalty.

For an objective ``f(x) + g(x)`` whose smooth part ``f`` has a Hessian that
the objective can give on any few coordinates (a linear model's weighted
Gram of a few columns, see ``LinearObjective.hessian_block``) and whose
penalty ``g(x) = sum_j l1_j |x_j| + 0.5 l2_j x_j^2`` is separable. Each
iteration (Lee, Sun and Saunders, 2014; the working sets of skglm's
``ProxNewton``, Bertrand et al., 2022):

1. ranks the coordinates by their distance to optimality (the
   subdifferential residual) and keeps a working set: every coordinate
   that is nonzero or unpenalised, then the worst of the rest, twice as
   many coordinates as the support holds (at least `_MIN_WORKING_SET`,
   at most `working_set`);
2. minimises the quadratic model of ``f`` plus ``g`` over the working set
   by cyclic coordinate descent on its Hessian block, to a precision tied
   to the current residual (loose far from the minimum, tight near it);
3. takes the longest step ``t`` in ``1, 1/2, 1/4, ...`` along the model's
   minimiser that lowers ``f + g`` by at least a fraction of what the model
   promised (Tseng and Yun's rule).

Coordinates outside the working set keep their values, so each iteration
is a descent step of a block method: it converges whatever the size of the
working set, and is a Newton method on the support once the support fits.
Exact zeros come from the soft threshold of the coordinate updates.

The cost of an iteration is one Hessian block (the weighted Gram of at most
`working_set` columns), a few products for the line search and the
coordinate sweeps on the block, so it suits problems whose solution is
sparse, where first-order methods need thousands of full products.

No library we depend on has one: optax has no second-order proximal method
and no coordinate descent.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["ProxNewtonState", "prox_newton"]

# Working sets hold at least this many coordinates (fewer if there are fewer).
_MIN_WORKING_SET = 16
# Ranking the coordinates gathers those with a positive score first while
# they are at most this many times the working set (see _largest).
_POOL_FACTOR = 8
# Coordinate sweeps of one subproblem, at most.
_MAX_SWEEPS = 100
# A subproblem is solved when no coordinate moves the model's gradient by
# more than this fraction of the objective's current optimality residual.
_INNER_FRACTION = 0.1
# Halvings of the step the line search tries before giving up (the loop then
# reports a stall).
_MAX_HALVINGS = 30
# Sufficient decrease: the fraction of the model's promised decrease a step
# must achieve (Armijo's constant).
_SUFFICIENT = 1e-4
# Rounding of the objective's value that the decrease test forgives, in ulps.
_SLACK_ULPS = 8


class ProxNewtonState(NamedTuple):
    """What the solver keeps between iterations (for diagnostics)."""

    step: jax.Array  # the last accepted step length t
    n_sweeps: jax.Array  # coordinate sweeps of the last subproblem


def _soft_threshold(x, threshold):
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - threshold, 0)


def _penalty(x, l1, l2):
    return jnp.sum(l1 * jnp.abs(x) + 0.5 * l2 * x * x)


def _largest(score, size):
    """``jax.lax.top_k(score, size)`` for the positive scores; the others'
    slots hold index 0 and score 0.

    XLA's top_k sorts: 7.6 ms on 50,000 scores of which 512 are wanted,
    where it runs every iteration. Few coordinates violate optimality once
    the support is found, so the positive scores are gathered first (a
    prefix sum) and only those ranked, unless they are too many.
    """
    def ranked(score):
        values, index = jax.lax.top_k(score, size)
        return jnp.maximum(values, 0), jnp.where(values > 0, index, 0)

    pool = _POOL_FACTOR * size
    if pool >= score.shape[0]:
        return ranked(score)
    positive = score > 0
    count = jnp.sum(positive)

    def gathered(score):
        (candidates,) = jnp.nonzero(positive, size=pool, fill_value=0)
        values = jnp.where(jnp.arange(pool) < count, score[candidates], 0)
        values, where = jax.lax.top_k(values, size)
        return values, jnp.where(values > 0, candidates[where], 0).astype(where.dtype)

    return jax.lax.cond(count <= pool, gathered, ranked, score)


def _working_set(params, residual, penalized, size):
    """The `size` indices to optimise and which of them are in use, given the
    subdifferential residual at `params` (the loop's optimality measure)."""
    residual = jnp.abs(residual)
    largest = jnp.max(residual, initial=0.0)
    keep = (params != 0) | ~penalized
    n_keep = jnp.sum(keep)
    # The kept coordinates first, worst first, while they leave a quarter of
    # the set to others; beyond that, the worst of all coordinates, so that
    # the sets taken in turn visit every coordinate that is not yet optimal.
    fits = 4 * n_keep <= 3 * size
    score = jnp.where(keep & fits, residual + largest + 1, residual)
    top, index = _largest(score, size)
    wanted = jnp.clip(2 * n_keep, min(_MIN_WORKING_SET, size), size)
    rank = jnp.arange(size)
    # Beyond the kept coordinates, only those not yet optimal are worth a slot
    # (the scores are sorted, so the active slots are the first ones).
    active = (rank < wanted) & (((rank < n_keep) & fits) | (top > 0))
    return index, active, largest


def _coordinate_descent(H, b, x0, l1, l2, active, tolerance):
    """Minimise ``b'd + d'Hd / 2 + g(x0 + d)`` over d by cyclic coordinate descent.

    Inactive coordinates stay at ``d = 0``. Returns d and the sweeps done.
    """
    # The active slots come first (see _working_set): sweep those only.
    size = jnp.sum(active)
    diagonal = jnp.diagonal(H)
    movable = active & (diagonal > 0)
    safe = jnp.where(movable, diagonal, 1)

    def update(j, carry):
        d, Hd, largest = carry
        a = safe[j]
        v = x0[j] + d[j] - (b[j] + Hd[j]) / a
        x = _soft_threshold(v, l1[j] / a) / (1 + l2[j] / a)
        delta = jnp.where(movable[j], x - x0[j] - d[j], 0)
        return (d.at[j].add(delta), Hd + delta * H[j],
                jnp.maximum(largest, a * jnp.abs(delta)))

    def sweep(carry):
        d, Hd, _, n = carry
        d, Hd, largest = jax.lax.fori_loop(0, size, update,
                                           (d, Hd, jnp.zeros((), d.dtype)))
        return d, Hd, largest, n + 1

    def unfinished(carry):
        _, _, largest, n = carry
        return (largest > tolerance) & (n < _MAX_SWEEPS)

    zeros = jnp.zeros_like(b)
    start = (zeros, zeros, jnp.full((), jnp.inf, b.dtype), jnp.zeros((), jnp.int32))
    d, _, _, n = jax.lax.while_loop(unfinished, sweep, start)
    return d, n


def prox_newton(working_set: int) -> object:
    """The proximal Newton method as an optax transformation with extra arguments.

    Parameters
    ----------
    working_set : int
        Most coordinates a working set holds (static: the Hessian block is
        ``working_set x working_set``); at most the number of parameters.

    Returns
    -------
    optax.GradientTransformationExtraArgs
        Its `update` takes the gradient of ``f`` at `params` and needs the
        keyword arguments ``value`` (``f`` at `params`), ``value_fn``,
        ``hessian_block`` (``hessian_block(params, index)``: the Hessian of
        ``f`` on the coordinates `index`), ``strengths`` (the flat
        ``(l1, l2, penalized)`` of the penalty) and ``residual`` (the
        subdifferential residual at `params`, which ranks the coordinates).
    """
    import optax

    def init_fn(params):
        return ProxNewtonState(step=jnp.ones((), params.dtype),
                               n_sweeps=jnp.zeros((), jnp.int32))

    def update_fn(updates, state, params, *, value, grad, value_fn,
                  hessian_block: Callable, strengths, residual, **extra_args):
        del updates, state, extra_args
        dtype = params.dtype
        l1, l2, penalized = strengths
        size = min(working_set, params.shape[0])
        index, active, largest = _working_set(params, residual, penalized, size)
        # Unused slots are no coordinate (-1): the block skips their work.
        H = hessian_block(params, jnp.where(active, index, -1)).astype(dtype)
        # Unused slots take no part: their rows and columns are zeroed.
        H = jnp.where(active[:, None] & active[None, :], H, 0)
        x0, b = params[index], grad[index]
        l1s, l2s = l1[index], l2[index]
        tolerance = _INNER_FRACTION * largest
        d, n_sweeps = _coordinate_descent(H, b, x0, l1s, l2s, active, tolerance)
        before = _penalty(x0, l1s, l2s)
        # The decrease the model promises (negative unless d = 0).
        promised = jnp.vdot(b, d) + _penalty(x0 + d, l1s, l2s) - before
        slack = _SLACK_ULPS * jnp.finfo(dtype).eps * jnp.abs(value)

        def change(t):
            moved = params.at[index].add(t * d)
            return value_fn(moved) + _penalty(x0 + t * d, l1s, l2s) - before - value

        def too_long(carry):
            t, n = carry
            return (~(change(t) <= _SUFFICIENT * t * promised + slack)
                    & (n < _MAX_HALVINGS))

        def halve(carry):
            t, n = carry
            return t / 2, n + 1

        t, n = jax.lax.while_loop(too_long, halve,
                                  (jnp.ones((), dtype), jnp.zeros((), jnp.int32)))
        # No acceptable step (a rounding floor): stay, and the loop stalls.
        t = jnp.where((n < _MAX_HALVINGS) & (promised < 0), t, 0).astype(dtype)
        step = jnp.zeros_like(params).at[index].add(t * d)
        return step, ProxNewtonState(step=t, n_sweeps=n_sweeps)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
