"""The iterations of the compiled loop, and the tests that end it.

One full-batch iteration (:func:`_full_batch_iteration`: evaluate, test,
step) and one epoch of mini-batches (:func:`_epoch_iteration`), the split of
a penalty into the objective's smooth part and a nonsmooth part with its
proximal map (:func:`_split_penalty`), and the tests the chunk applies after
each iteration: divergence (:func:`_diverged`), improvement
(:func:`_improved`), validation scores (:func:`_validate`) and the status
they give (:func:`_status`). The chunk that runs them is in :mod:`.loop`.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .lbfgs import LbfgsState, value_and_grad_from_state
from .outcome import Status
from .solvers import solver_spec
from .sparse import take_rows

__all__ = ["PROGRESS_WINDOW"]

# An objective that grows this many times above its starting value (or above
# 1, whichever is larger) is diverging; waiting for an overflow wastes steps.
_EXPLOSION_FACTOR = 1e8
# A monotone solver (one whose line search only accepts lower objectives)
# whose objective has not fallen by more than rounding in this many
# iterations can make no further progress in the working precision.
_N_STALL = 10
_STALL_ULPS = 4
# The relative-progress test (``rtol``) compares the objective with its value
# this many iterations earlier: over one iteration a quasi-Newton solver's
# decrease jumps about, over ten it measures how fast the fit still improves.
PROGRESS_WINDOW = 10


class _Nonsmooth(NamedTuple):
    """The objective's nonsmooth part on the flat parameters (see _split_penalty)."""

    value: Any  # flat -> scalar
    prox: Any  # (flat, step) -> flat
    residual: Any  # (flat, grad of the smooth part) -> flat
    strengths: Any  # flat -> (l1, l2, penalized), flat vectors


def _split_penalty(penalty, penalized, layout, hyper):
    """The penalty's smooth part (added to the objective) and nonsmooth part.

    The penalty acts on the parameters named in `penalized` (the
    coefficients, never an intercept or a scale), each with the strengths of
    `hyper`, which broadcast against it. A smooth penalty joins the objective
    that autodiff differentiates; a nonsmooth one is a value, a proximal map
    and a subdifferential residual on the flat vector.
    """
    def on_penalized(fn, flat, *others):
        tree = layout.unflatten(flat)
        pieces = [layout.unflatten(other) for other in others]
        return {name: fn(tree[name], *(piece[name] for piece in pieces))
                for name in penalized}, tree

    def value(flat):
        parts, _ = on_penalized(lambda w: penalty.value(w, hyper), flat)
        return sum(parts.values(), jnp.zeros((), flat.dtype))

    def mapped(fn, flat, *others, base=None):
        parts, tree = on_penalized(fn, flat, *others)
        base = tree if base is None else layout.unflatten(base)
        return layout.flatten_traced({**base, **parts}).astype(flat.dtype)

    def strengths(flat):
        # Every penalty is l1 |w| + l2 w^2 / 2 (see gradest._penalties), with
        # strengths that broadcast against each penalised array.
        zero = jnp.zeros_like(flat)

        def each(key):
            return mapped(lambda w: jnp.broadcast_to(hyper[key], w.shape),
                          flat, base=zero)

        marked = mapped(lambda w: jnp.ones_like(w), flat, base=zero) > 0
        return each("l1_strength"), each("l2_strength"), marked

    if penalty is None or penalty.smooth:
        def none(flat):
            zero = jnp.zeros_like(flat)
            return zero, zero, zero > 0

        return (value if penalty is not None else None), _Nonsmooth(
            value=lambda flat: jnp.zeros((), flat.dtype),
            prox=lambda flat, step: flat, residual=lambda flat, grad: grad,
            strengths=none)
    return None, _Nonsmooth(
        value=value, strengths=strengths,
        # `step` is a scalar or one per parameter.
        prox=lambda flat, step: mapped(
            lambda w, s: penalty.prox(w, s, hyper), flat,
            jnp.broadcast_to(step, flat.shape).astype(flat.dtype)),
        residual=lambda flat, grad: mapped(
            lambda w, g: penalty.residual(w, g, hyper), flat, grad, base=grad))


def _inf_norm(vector: jax.Array) -> jax.Array:
    return jnp.max(jnp.abs(vector), initial=0.0)


def _value_and_grad(fun, params, opt_state, solver):
    if solver_spec(solver).reuses_line_search_values:
        # Reuses the value and gradient the line search already computed.
        if isinstance(opt_state, LbfgsState):
            return value_and_grad_from_state(fun, params, opt_state)
        import optax  # imported on first use: see solvers.py

        return optax.value_and_grad_from_state(fun)(params, state=opt_state)
    return jax.value_and_grad(fun)(params)


def _apply(params, updates):
    """``params + updates`` in the parameters' dtype (optax's apply_updates for
    the flat vector)."""
    return (params + updates).astype(params.dtype)


def _full_batch_iteration(state, optimizer, fun, tol, rtol, solver, min_iter,
                          nonsmooth, step, curvature=None):
    """Evaluate at the current point; step unless it already passes a stopping test.

    `fun` is the smooth part of the objective; `nonsmooth` the penalty's
    nonsmooth part, whose proximal map (with `step`) follows the solver's
    step unless the solver takes proximal steps itself. The optimality
    measure is the largest component of the subdifferential residual (the
    gradient, for a smooth objective), which is what the state records as
    its gradient. The tests: every component of it at most `tol` in
    absolute value, or (with a positive `rtol`) an objective that has
    fallen by at most `rtol` times its value per iteration on average over
    the last :data:`PROGRESS_WINDOW` iterations. `curvature` holds the
    Hessian block and penalty strengths of a solver that
    ``needs_curvature``. Returns the new state, whether a test holds, and
    whether a monotone solver has stalled.
    """
    smooth_value, grad = _value_and_grad(fun, state.params, state.opt_state, solver)
    value = smooth_value + nonsmooth.value(state.params)
    residual = nonsmooth.residual(state.params, grad)
    oldest = state.recent[0]
    # Only a fall counts as slow progress: a first-order solver's objective
    # may rise over the window and fall again, which is no convergence.
    fall = oldest - value
    slow = ((rtol > 0) & ~jnp.isnan(oldest) & (fall >= 0)
            & (fall <= PROGRESS_WINDOW * rtol * jnp.abs(value)))
    converged = ((_inf_norm(residual) <= tol) | slow) & (state.n_iter >= min_iter)
    # A solver that needs the curvature ranks coordinates by the residual.
    extra = {} if curvature is None else {**curvature, "residual": residual}
    spec = solver_spec(solver)

    def take_step(_):
        updates, opt_state = optimizer.update(
            grad, state.opt_state, state.params, value=smooth_value, grad=grad,
            value_fn=fun, **extra)
        params = _apply(state.params, updates)
        if not spec.applies_prox:
            params = nonsmooth.prox(params, spec.prox_step(step, opt_state))
        return params, opt_state

    # A converged point is returned as evaluated, not stepped past, and the
    # step is not even computed: a line search's evaluations cost as much as
    # a whole iteration (UKR on 10,000 samples: 35 s of a 62 s fit went to
    # the line search from a start that already passed the gradient test).
    params, opt_state = jax.lax.cond(
        converged, lambda _: (state.params, state.opt_state), take_step, None)
    eps = jnp.finfo(value.dtype).eps
    improved = value < state.best - _STALL_ULPS * eps * jnp.abs(state.best)
    improved |= ~jnp.isfinite(state.best)
    n_no_improve = jnp.where(improved, 0, state.n_no_improve + 1)
    stalled = (spec.monotone & ~converged
               & ((n_no_improve >= _N_STALL) | jnp.all(params == state.params)))
    recent = jnp.concatenate([state.recent[1:], value[None]])
    state = state._replace(params=params, opt_state=opt_state, value=value,
                           grad=residual, best=jnp.minimum(state.best, value),
                           n_no_improve=n_no_improve, recent=recent)
    return state, converged, stalled


def _epoch_iteration(state, optimizer_at, loss, data, weights, tol, batch_size,
                     shuffle, n_iter_no_change, nonsmooth, solver):
    """One pass over the rows in mini-batches, shuffled unless `shuffle` is False.

    ``loss(flat_params, data, weights)`` is the smooth objective of a batch;
    ``optimizer_at(step, n_batches)`` the optimizer and rate of a step; the
    proximal map of `nonsmooth` follows each step.
    """
    n_rows = weights.shape[0]
    n_batches = -(-n_rows // batch_size)
    if shuffle:
        # A key per epoch from the seed and the epoch number: nothing random
        # to carry from chunk to chunk.
        key = jax.random.fold_in(jax.random.key(state.seed), state.n_iter)
        order = jax.random.permutation(key, n_rows)
    else:
        order = jnp.arange(n_rows)
    n_padded = n_batches * batch_size
    # The last batch is filled up with repeated rows of zero weight, so that
    # every batch has the same shape.
    order = jnp.concatenate([order, order[: n_padded - n_rows]])
    keep = (jnp.arange(n_padded) < n_rows).astype(weights.dtype)
    batches = (order.reshape(n_batches, batch_size),
               keep.reshape(n_batches, batch_size),
               state.n_iter * n_batches + jnp.arange(n_batches, dtype=jnp.int32))

    def one_batch(carry, batch):
        params, opt_state, _, _ = carry
        rows, mask, step = batch
        batch_data = take_rows(data, rows)
        value, grad = jax.value_and_grad(loss)(params, batch_data,
                                               weights[rows] * mask)
        value = value + nonsmooth.value(params)
        optimizer, rate = optimizer_at(step, n_batches)
        updates, opt_state = optimizer.update(grad, opt_state, params)
        params_next = nonsmooth.prox(_apply(params, updates),
                                     solver_spec(solver).prox_step(rate, opt_state))
        return (params_next, opt_state, nonsmooth.residual(params, grad), rate), value

    (params, opt_state, last_grad, rate), values = jax.lax.scan(
        one_batch, (state.params, state.opt_state, state.grad, state.rate), batches)
    value = jnp.mean(values)
    n_no_improve = jnp.where(_improved(value, state.best, tol), 0,
                             state.n_no_improve + 1)
    state = state._replace(
        params=params, opt_state=opt_state, value=value, grad=last_grad,
        best=jnp.minimum(state.best, value), n_no_improve=n_no_improve, rate=rate)
    return state, n_no_improve >= n_iter_no_change, jnp.zeros((), bool)


def _improved(value, best, tol):
    """Whether `value` is below `best` by ``tol * max(|best|, 1)`` (or nothing
    is known yet): the improvement the no-change counts ask for."""
    return (value < best - tol * jnp.maximum(jnp.abs(best), 1)) | ~jnp.isfinite(best)


def _status(diverged, converged, stalled, done, no_improvement):
    """The first of diverged, converged, no_improvement, stalled, done that
    holds, else RUNNING."""
    status = jnp.where(done, int(Status.MAX_ITER), int(Status.RUNNING))
    status = jnp.where(stalled, int(Status.STALLED), status)
    status = jnp.where(no_improvement, int(Status.NO_IMPROVEMENT), status)
    status = jnp.where(converged, int(Status.CONVERGED), status)
    return jnp.where(diverged, int(Status.DIVERGED), status)


def _diverged(state, new, converged, full_batch, last=False):
    """Whether the iteration `state` -> `new` shows a divergence, and the reference.

    Diverging: a non-finite objective or gradient, an objective far above
    its reference level (steps too long) or far below it (an objective
    unbounded below), or, for full batches, a stop by the gradient test at
    a point above the start (the iterates flew off to where the objective
    is flat), or a `last` iteration (the fit's max_iter, where it has a
    tolerance) that ends above the start by more than the level
    ``max(|start|, 1)``: constant steps too long for the objective that
    wander without exploding (gd at learning_rate=1e6 on a UKR took its
    objective from 0.0083 to 14.1). A converged point is not stepped past,
    so a fit that ends where it started (a warm start at the optimum) is
    not flagged; Adam restarted at an optimum rises by about the square of
    its step, far below the level.
    """
    reference = jnp.where(jnp.isnan(state.reference), new.value, state.reference)
    level = jnp.maximum(jnp.abs(reference), 1)
    explosion = _EXPLOSION_FACTOR * level
    diverged = (~jnp.isfinite(new.value) | ~jnp.isfinite(_inf_norm(new.grad))
                | (new.value > reference + explosion)
                | (new.value < reference - explosion))
    if full_batch:
        margin = jnp.sqrt(jnp.finfo(new.value.dtype).eps) * level
        diverged |= converged & (new.value > reference + margin)
        diverged |= last & (new.value > reference + level)
    return diverged, reference


def _validate(state, new, score, layout, validation, hyper, tol, n_iter):
    """Score the new parameters on the validation rows; keep the best.

    As scikit-learn's MLP: the best parameters follow any higher score, the
    count of iterations without improvement only resets on one above the
    best by more than `tol`. Returns the new state and the score.
    """
    value = score(layout.unflatten(new.params), *validation, hyper)
    value = jnp.where(jnp.isfinite(value), value, -jnp.inf)
    improved = value > state.best_score + tol
    better = value > state.best_score
    return new._replace(
        best_score=jnp.where(better, value, state.best_score),
        best_params=jnp.where(better, new.params, state.best_params),
        best_iter=jnp.where(better, n_iter, state.best_iter),
        n_score_stale=jnp.where(improved, 0, state.n_score_stale + 1),
    ), value
