"""The compiled minimisation loop: chunks of a `lax.while_loop` under `jax.jit`.

The loop runs in chunks of iterations; Python only looks at the state between
chunks (see :mod:`.minimize`). The learning rate, the tolerance and every
hyperparameter are traced values, so refitting with new values of them reuses
the compiled code. Shapes, the objective and the solver are static. Inside the
loop the parameters are one flat vector, so that the solver's elementwise
updates are one kernel each whatever the number of parameter arrays.
"""

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .outcome import Status
from .solvers import make_optimizer, solver_spec

__all__ = ["COMPILER_OPTIONS", "DEFAULT_CHUNK_SIZE", "PROGRESS_WINDOW", "Layout",
           "LoopState",
           "initial_state", "placeholder_opt_state", "run_chunk"]

# An objective that grows this many times above its starting value (or above
# 1, whichever is larger) is diverging; waiting for an overflow wastes steps.
_EXPLOSION_FACTOR = 1e8
# Mini-batch fits stop after this many epochs without improvement.
_N_ITER_NO_CHANGE = 5
# A monotone solver (one whose line search only accepts lower objectives)
# whose objective has not fallen by more than rounding in this many
# iterations can make no further progress in the working precision.
_N_STALL = 10
_STALL_ULPS = 4
# The relative-progress test (``rtol``) compares the objective with its value
# this many iterations earlier: over one iteration a quasi-Newton solver's
# decrease jumps about, over ten it measures how fast the fit still improves.
PROGRESS_WINDOW = 10
# Iterations per compiled chunk: long enough to hide dispatch, short enough
# for progress reports and for small `max_iter` to waste little work.
DEFAULT_CHUNK_SIZE = 256
# XLA's CPU backend compiles each fused kernel separately; its older LLVM
# emitters compile such small kernels about twice as fast as the MLIR fusion
# emitters (diabetes with adam: 0.25 s instead of 0.47 s), and the loop runs
# as fast. Other backends ignore the option.
COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


class LoopState(NamedTuple):
    """What the compiled loop carries from one iteration (and chunk) to the next."""

    params: jax.Array  # flat, see Layout
    opt_state: Any
    value: jax.Array
    grad: jax.Array  # flat
    best: jax.Array
    n_no_improve: jax.Array
    seed: jax.Array
    n_iter: jax.Array
    status: jax.Array
    # The objective's reference level for divergence: its first value, or
    # one carried over from earlier calls (NaN until known).
    reference: jax.Array
    # The objective at the last PROGRESS_WINDOW evaluations, oldest first
    # (NaN until evaluated), for the relative-progress test.
    recent: jax.Array


@dataclass(frozen=True)
class Layout:
    """Where each array of a parameter pytree lies in one flat vector.

    Hashable, so that it can be a static argument of the compiled loop (the
    shapes decide the compiled code anyway). Works on NumPy and JAX arrays,
    with any leading axes (a history of iterates).
    """

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, tree: Any) -> "Layout":
        leaves, treedef = jax.tree.flatten(tree)
        return cls(treedef, tuple(tuple(np.shape(leaf)) for leaf in leaves))

    def flatten(self, tree: Any, dtype: np.dtype) -> np.ndarray:
        leaves = [np.asarray(leaf, dtype).ravel() for leaf in jax.tree.leaves(tree)]
        return np.concatenate(leaves) if leaves else np.zeros(0, dtype)

    def unflatten(self, flat):
        leading = flat.shape[:-1]
        leaves, start = [], 0
        for shape in self.shapes:
            stop = start + math.prod(shape)
            leaves.append(flat[..., start:stop].reshape(leading + shape))
            start = stop
        return jax.tree.unflatten(self.treedef, leaves)


def _inf_norm(vector: jax.Array) -> jax.Array:
    return jnp.max(jnp.abs(vector), initial=0.0)


def _value_and_grad(fun, params, opt_state, solver):
    if solver_spec(solver).reuses_line_search_values:
        # Reuses the value and gradient the line search already computed.
        import optax  # imported on first use: see solvers.py

        return optax.value_and_grad_from_state(fun)(params, state=opt_state)
    return jax.value_and_grad(fun)(params)


def placeholder_opt_state(solver: str, flat: np.ndarray) -> Any:
    """Zeros shaped like the solver's state; the compiled loop fills them in.

    Only the shapes are worked out here (no computation, so nothing compiles).
    """
    shapes = jax.eval_shape(make_optimizer(solver, 1.0).init, flat)
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


def initial_state(flat, opt_state, seed, dtype, reference=None) -> LoopState:
    """The loop state before the first iteration, in NumPy."""
    return LoopState(
        params=flat,
        opt_state=opt_state,
        value=np.asarray(np.nan, dtype),
        grad=np.zeros_like(flat),
        best=np.asarray(np.inf, dtype),
        n_no_improve=np.int32(0),
        seed=np.int32(seed),
        n_iter=np.int32(0),
        status=np.int32(int(Status.RUNNING)),
        reference=np.asarray(np.nan if reference is None else reference, dtype),
        recent=np.full(PROGRESS_WINDOW, np.nan, dtype),
    )


def _apply(params, updates):
    """``params + updates`` in the parameters' dtype (optax's apply_updates for
    the flat vector)."""
    return (params + updates).astype(params.dtype)


def _tree_where(condition, on_true, on_false):
    return jax.tree.map(lambda t, f: jnp.where(condition, t, f), on_true, on_false)


def _full_batch_iteration(state, optimizer, fun, tol, rtol, solver, min_iter):
    """Evaluate at the current point; step unless it already passes a stopping test.

    The tests: every gradient component at most `tol` in absolute value, or
    (with a positive `rtol`) an objective that has fallen by at most `rtol`
    times its value per iteration on average over the last
    :data:`PROGRESS_WINDOW` iterations.
    Returns the new state, whether a test holds, and whether a monotone
    solver has stalled.
    """
    value, grad = _value_and_grad(fun, state.params, state.opt_state, solver)
    oldest = state.recent[0]
    slow = ((rtol > 0) & ~jnp.isnan(oldest)
            & (oldest - value <= PROGRESS_WINDOW * rtol * jnp.abs(value)))
    converged = ((_inf_norm(grad) <= tol) | slow) & (state.n_iter >= min_iter)
    updates, opt_state = optimizer.update(
        grad, state.opt_state, state.params, value=value, grad=grad, value_fn=fun)
    params = _apply(state.params, updates)
    # A converged point is returned as evaluated, not stepped past.
    params = jnp.where(converged, state.params, params)
    eps = jnp.finfo(value.dtype).eps
    improved = value < state.best - _STALL_ULPS * eps * jnp.abs(state.best)
    improved |= ~jnp.isfinite(state.best)
    n_no_improve = jnp.where(improved, 0, state.n_no_improve + 1)
    stalled = (solver_spec(solver).monotone & ~converged
               & ((n_no_improve >= _N_STALL) | jnp.all(params == state.params)))
    recent = jnp.concatenate([state.recent[1:], value[None]])
    state = state._replace(params=params, opt_state=opt_state, value=value, grad=grad,
                           best=jnp.minimum(state.best, value),
                           n_no_improve=n_no_improve, recent=recent)
    return state, converged, stalled


def _epoch_iteration(state, optimizer, loss, data, weights, tol, batch_size):
    """One shuffled pass over the rows in mini-batches.

    ``loss(flat_params, data, weights)`` is the objective of a batch.
    """
    n_rows = weights.shape[0]
    n_batches = -(-n_rows // batch_size)
    # A key per epoch from the seed and the epoch number: nothing random to
    # carry from chunk to chunk.
    key = jax.random.fold_in(jax.random.key(state.seed), state.n_iter)
    order = jax.random.permutation(key, n_rows)
    n_padded = n_batches * batch_size
    # The last batch is filled up with repeated rows of zero weight, so that
    # every batch has the same shape.
    order = jnp.concatenate([order, order[: n_padded - n_rows]])
    keep = (jnp.arange(n_padded) < n_rows).astype(weights.dtype)
    batches = (order.reshape(n_batches, batch_size),
               keep.reshape(n_batches, batch_size))

    def one_batch(carry, batch):
        params, opt_state, _ = carry
        rows, mask = batch
        batch_data = jax.tree.map(lambda leaf: leaf[rows], data)
        value, grad = jax.value_and_grad(loss)(params, batch_data,
                                               weights[rows] * mask)
        updates, opt_state = optimizer.update(grad, opt_state, params)
        return (_apply(params, updates), opt_state, grad), value

    (params, opt_state, last_grad), values = jax.lax.scan(
        one_batch, (state.params, state.opt_state, state.grad), batches)
    value = jnp.mean(values)
    improved = value < state.best - tol * jnp.maximum(jnp.abs(state.best), 1)
    improved |= ~jnp.isfinite(state.best)
    n_no_improve = jnp.where(improved, 0, state.n_no_improve + 1)
    state = state._replace(
        params=params, opt_state=opt_state, value=value, grad=last_grad,
        best=jnp.minimum(state.best, value), n_no_improve=n_no_improve)
    return state, n_no_improve >= _N_ITER_NO_CHANGE, jnp.zeros((), bool)


def _status(diverged, converged, stalled, done):
    """The first of diverged, converged, stalled, done that holds, else RUNNING."""
    status = jnp.where(done, int(Status.MAX_ITER), int(Status.RUNNING))
    status = jnp.where(stalled, int(Status.STALLED), status)
    status = jnp.where(converged, int(Status.CONVERGED), status)
    return jnp.where(diverged, int(Status.DIVERGED), status)


def _diverged(state, new, converged, full_batch):
    """Whether the iteration `state` -> `new` shows a divergence, and the reference.

    Diverging: a non-finite objective or gradient, an objective far above
    its reference level (steps too long) or far below it (an objective
    unbounded below), or, for full batches, a stop by the gradient test at
    a point above the start (the iterates flew off to where the objective
    is flat). A converged point is not stepped past, so a fit that ends
    where it started (a warm start at the optimum) is not flagged.
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
    return diverged, reference


@partial(jax.jit, static_argnames=(
    "objective", "layout", "solver", "batch_size", "chunk_size", "record_history"),
    compiler_options=COMPILER_OPTIONS)
def run_chunk(state, data, weights, hyper, learning_rate, tol, rtol, max_iter,
              min_iter, fresh, limit,
              *, objective, layout, solver, batch_size, chunk_size,
              record_history):
    """Up to `limit` (at most `chunk_size`) iterations; one compiled function per
    problem shape.

    With `fresh` (a traced flag, so that it costs no second compilation) the
    solver's state is initialised here rather than taken from `state`.
    `limit` is traced too, so that the caller can bound each chunk's wall
    time without compiling again.
    """
    optimizer = make_optimizer(solver, learning_rate)

    def loss(flat, data, weights):
        return objective(layout.unflatten(flat), data, weights, hyper)

    def fun(flat):
        return loss(flat, data, weights)

    state = state._replace(opt_state=_tree_where(
        fresh, optimizer.init(state.params), state.opt_state))
    # Written at the loop index whether or not the iteration stepped: the
    # index only advances on a step, and the caller reads the first n_done.
    losses = jnp.full(chunk_size, jnp.nan, dtype=state.value.dtype)
    history = (jnp.zeros((chunk_size, state.params.size), state.params.dtype)
               if record_history else None)

    def keep_going(carry):
        state, i, _, _ = carry
        return (i < jnp.minimum(limit, chunk_size)) & (
            state.status == int(Status.RUNNING))

    def iterate(carry):
        state, i, losses, history = carry
        if batch_size is None:
            new, converged, stalled = _full_batch_iteration(
                state, optimizer, fun, tol, rtol, solver, min_iter)
        else:
            new, converged, stalled = _epoch_iteration(
                state, optimizer, loss, data, weights, tol, batch_size)
        diverged, reference = _diverged(state, new, converged, batch_size is None)
        # A full-batch convergence is found before stepping: that evaluation
        # is not an iteration. Mini-batch epochs always count.
        stepped = (~converged | (batch_size is not None)).astype(jnp.int32)
        n_iter = state.n_iter + stepped
        status = _status(diverged, converged, stalled, n_iter >= max_iter)
        losses = jax.lax.dynamic_update_slice(losses, new.value[None], (i,))
        if record_history:
            # Index dtypes must agree; a literal 0 is int64 under x64.
            history = jax.lax.dynamic_update_slice(
                history, new.params[None], (i, jnp.zeros((), i.dtype)))
        new = new._replace(n_iter=n_iter, status=status.astype(jnp.int32),
                           reference=reference)
        return new, i + stepped, losses, history

    state, n_done, losses, history = jax.lax.while_loop(
        keep_going, iterate, (state, jnp.zeros((), jnp.int32), losses, history))
    return state, n_done, losses, history
