"""The compiled minimisation loop: chunks of a `lax.while_loop` under `jax.jit`.

The loop runs in chunks of iterations; Python only looks at the state between
chunks (see :mod:`.minimize`). The learning rate, the tolerance and every
hyperparameter are traced values, so refitting with new values of them reuses
the compiled code. Shapes, the objective and the solver are static. Inside the
loop the parameters are one flat vector, so that the solver's elementwise
updates are one kernel each whatever the number of parameter arrays.

This module still owns the chunk driver: the state the loop carries
(:class:`LoopState`, :func:`initial_state`, the solver's placeholder state),
the flat vector (:class:`Layout`), the chunk itself and its two compiled
forms (:func:`chunk_function`, :func:`compiled_count`). What one iteration
does, and the tests that end the loop, are in :mod:`.iterations`.
"""

import functools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .iterations import (
    PROGRESS_WINDOW,
    _diverged,
    _epoch_iteration,
    _full_batch_iteration,
    _improved,
    _split_penalty,
    _status,
    _validate,
)
from .outcome import Status
from .schedules import ADAPTIVE_FACTOR, ADAPTIVE_MIN_RATE, scheduled_rate
from .solvers import make_optimizer, solver_spec

__all__ = ["COMPILER_OPTIONS", "DEFAULT_CHUNK_SIZE", "SMALL_PROBLEM", "Controls",
           "Layout", "LoopState", "chunk_function", "compiled_count",
           "initial_state", "placeholder_opt_state", "run_chunk",
           "run_small_chunk"]

# Iterations per compiled chunk: long enough to hide dispatch, short enough
# for progress reports and for small `max_iter` to waste little work.
DEFAULT_CHUNK_SIZE = 256
# XLA's CPU backend compiles each fused kernel separately; its older LLVM
# emitters compile such small kernels about twice as fast as the MLIR fusion
# emitters (diabetes with adam: 0.25 s instead of 0.47 s), and the loop runs
# as fast. Other backends ignore the option.
COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
# Rows x parameters x iterations up to which a fit compiles without LLVM's
# optimisation passes (see run_small_chunk). Unoptimised code ran logistic
# regressions 1.7-3x slower per iteration (about 1.75 ms more per million
# row-parameter-iterations), while compiling it saved 0.1-0.3 s: this bound
# keeps the loss under 30 ms.
SMALL_PROBLEM = 2**24


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
    # The learning rate of the last step (the current one for "adaptive").
    rate: jax.Array
    # "adaptive" on full batches: the best objective and the iterations
    # since it last improved by tol (mini-batches use best/n_no_improve).
    stale_best: jax.Array
    n_stale: jax.Array
    # Early stopping: the best validation score, its parameters and
    # iteration (1-based, 0 before any), and the iterations since the
    # score last improved by tol.
    best_score: jax.Array
    best_params: jax.Array
    best_iter: jax.Array
    n_score_stale: jax.Array
    # The objective at the last PROGRESS_WINDOW evaluations, oldest first
    # (NaN until evaluated), for the relative-progress test.
    recent: jax.Array


class Controls(NamedTuple):
    """Traced numbers of the training controls (schedules, stopping rules)."""

    power_t: jax.Array
    warmup_fraction: jax.Array
    n_iter_no_change: jax.Array


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

    def flatten_traced(self, tree):
        """:meth:`flatten` inside compiled code (one vector of the leaves)."""
        return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(tree)])

    def unflatten(self, flat):
        leading = flat.shape[:-1]
        leaves, start = [], 0
        for shape in self.shapes:
            stop = start + math.prod(shape)
            leaves.append(flat[..., start:stop].reshape(leading + shape))
            start = stop
        return jax.tree.unflatten(self.treedef, leaves)


def placeholder_opt_state(solver: str, flat: np.ndarray, convex: bool = False) -> Any:
    """Zeros shaped like the solver's state; the compiled loop fills them in.

    Only the shapes are worked out here (no computation, so nothing compiles).
    """
    # Integer leaves (step counts) follow JAX's 64-bit mode: part of the key.
    shapes = _opt_state_shapes(solver, flat.shape, np.dtype(flat.dtype), convex,
                               jax.dtypes.canonicalize_dtype(np.int64))
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


@functools.lru_cache(maxsize=64)
def _opt_state_shapes(solver, shape, dtype, convex, int_dtype):
    # Tracing the solver's init costs about 2.4 ms, a third of a small fit's
    # time outside the loop (a step of RFE, a fold of a grid).
    del int_dtype
    return jax.eval_shape(make_optimizer(solver, 1.0, convex=convex).init,
                          jax.ShapeDtypeStruct(shape, dtype))


def initial_state(flat, opt_state, seed, dtype, reference=None,
                  learning_rate=np.nan) -> LoopState:
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
        rate=np.asarray(learning_rate, dtype),
        stale_best=np.asarray(np.inf, dtype),
        n_stale=np.int32(0),
        best_score=np.asarray(-np.inf, dtype),
        best_params=np.array(flat),
        best_iter=np.int32(0),
        n_score_stale=np.int32(0),
        recent=np.full(PROGRESS_WINDOW, np.nan, dtype),
    )


def _tree_where(condition, on_true, on_false):
    return jax.tree.map(lambda t, f: jnp.where(condition, t, f), on_true, on_false)


def _chunk(state, data, weights, hyper, learning_rate, tol, rtol, max_iter,
           min_iter, fresh, limit, controls, validation,
           *, objective, layout, solver, convex, batch_size, chunk_size,
           record_history, penalty=None, penalized=(), schedule="constant",
           shuffle=True, score=None):
    """Up to `limit` (at most `chunk_size`) iterations; one compiled function per
    problem shape.

    With `fresh` (a traced flag, so that it costs no second compilation) the
    solver's state is initialised here rather than taken from `state`.
    `limit` is traced too, so that the caller can bound each chunk's wall
    time without compiling again. `convex` (static) lets the solver take its
    form for convex objectives. `penalty` (a
    :class:`~gradest._penalties.PenaltySpec` or None) acts on the parameters
    named in `penalized`. `controls` are the traced numbers of the
    schedule and the stopping rules; with a `score` (higher is better,
    ``score(params, data, weights, hyper)``), `validation` holds the
    ``(data, weights)`` it is evaluated on after every iteration, for early
    stopping (else None).

    Returns the state, the number of iterations done and, for each of
    them, the objective, the validation score (NaN without one) and the
    learning rate in force (of the iteration's last step), then the
    iterates if recorded.
    """
    smooth_penalty, nonsmooth = _split_penalty(penalty, penalized, layout, hyper)
    full_batch = batch_size is None
    adaptive = schedule == "adaptive"
    uses_rate = solver_spec(solver).uses_learning_rate

    def optimizer_with(rate):
        return make_optimizer(solver, rate, nonsmooth.prox, convex)

    def loss(flat, data, weights):
        value = objective(layout.unflatten(flat), data, weights, hyper)
        return value if smooth_penalty is None else value + smooth_penalty(flat)

    def fun(flat):
        return loss(flat, data, weights)

    curvature = None
    if solver_spec(solver).needs_curvature:
        def hessian_block(flat, index):
            block = objective.hessian_block(layout.unflatten(flat), data, weights,
                                            hyper, index)
            if smooth_penalty is None:
                return block
            # A smooth penalty is separable: its Hessian is the diagonal
            # that one product with ones gives.
            _, diagonal = jax.jvp(jax.grad(smooth_penalty), (flat,),
                                  (jnp.ones_like(flat),))
            return block + jnp.diag(diagonal[index])

        curvature = {"hessian_block": hessian_block,
                     "strengths": nonsmooth.strengths(state.params)}

    def rate_at(state, step, total):
        if adaptive:
            return state.rate
        return scheduled_rate(schedule, step, total, learning_rate,
                              controls.power_t, controls.warmup_fraction)

    state = state._replace(opt_state=_tree_where(
        fresh, optimizer_with(learning_rate).init(state.params),
        state.opt_state))
    # Written at the loop index whether or not the iteration stepped: the
    # index only advances on a step, and the caller reads the first n_done.
    nan = jnp.full(chunk_size, jnp.nan, dtype=state.value.dtype)
    records = (nan, nan, nan)
    history = (jnp.zeros((chunk_size, state.params.size), state.params.dtype)
               if record_history else None)

    def keep_going(carry):
        state, i, _, _ = carry
        return (i < jnp.minimum(limit, chunk_size)) & (
            state.status == int(Status.RUNNING))

    def iterate(carry):
        state, i, records, history = carry
        if full_batch:
            rate = rate_at(state, state.n_iter, max_iter)
            new, converged, stalled = _full_batch_iteration(
                state, optimizer_with(rate), fun, tol, rtol, solver, min_iter,
                nonsmooth, rate, curvature)
            new = new._replace(rate=rate)
        else:
            def optimizer_at(step, n_batches):
                rate = rate_at(state, step, max_iter * n_batches)
                return optimizer_with(rate), rate

            new, converged, stalled = _epoch_iteration(
                state, optimizer_at, loss, data, weights, tol, batch_size,
                shuffle, controls.n_iter_no_change, nonsmooth, solver)
        # A full-batch convergence is found before stepping: that evaluation
        # is not an iteration. Mini-batch epochs always count.
        stepped = (~converged | (not full_batch)).astype(jnp.int32)
        n_iter = state.n_iter + stepped
        # The fit's own last iteration; fixed steps (tol < 0: partial_fit's
        # calls, projections) end where their caller says, not here.
        diverged, reference = _diverged(state, new, converged, full_batch,
                                        last=(n_iter >= max_iter) & (tol >= 0))
        no_improvement = jnp.zeros((), bool)
        value = jnp.full((), jnp.nan, state.value.dtype)
        if score is not None:
            new, value = _validate(state, new, score, layout, validation, hyper,
                                   tol, n_iter)
            stale = new.n_score_stale >= controls.n_iter_no_change
            if not full_batch:
                # As scikit-learn's SGD: the validation score, not the
                # training loss, decides when mini-batch training ends.
                converged = jnp.zeros((), bool)
        elif full_batch and adaptive:
            # Iterations without the objective improving by tol. (Only here:
            # other consumers of the objective may change how XLA fuses its
            # sums, and so its rounding.)
            improved = _improved(new.value, state.stale_best, tol)
            new = new._replace(stale_best=jnp.minimum(state.stale_best, new.value),
                               n_stale=jnp.where(improved, 0, state.n_stale + 1))
            stale = new.n_stale >= controls.n_iter_no_change
        else:
            stale = converged
        if adaptive and uses_rate:
            # Divide the rate while it is above the floor and restart the
            # count; at the floor, the count ends the fit.
            divide = stale & (new.rate > ADAPTIVE_MIN_RATE)
            new = new._replace(
                rate=jnp.where(divide, new.rate / ADAPTIVE_FACTOR, new.rate),
                n_no_improve=jnp.where(divide, 0, new.n_no_improve),
                n_stale=jnp.where(divide, 0, new.n_stale),
                n_score_stale=jnp.where(divide, 0, new.n_score_stale))
            ends = stale & ~divide
            if score is not None:
                no_improvement = ends
            elif full_batch:
                converged |= ends
            else:
                converged = ends
        elif score is not None:
            no_improvement = stale
        status = _status(diverged, converged, stalled, n_iter >= max_iter,
                         no_improvement)
        records = tuple(
            jax.lax.dynamic_update_slice(record, entry[None].astype(record.dtype),
                                         (i,))
            for record, entry in zip(records, (new.value, value, new.rate),
                                     strict=True))
        if record_history:
            # Index dtypes must agree; a literal 0 is int64 under x64.
            history = jax.lax.dynamic_update_slice(
                history, new.params[None], (i, jnp.zeros((), i.dtype)))
        new = new._replace(n_iter=n_iter, status=status.astype(jnp.int32),
                           reference=reference)
        return new, i + stepped, records, history

    state, n_done, records, history = jax.lax.while_loop(
        keep_going, iterate, (state, jnp.zeros((), jnp.int32), records, history))
    return state, n_done, records, history


_STATIC = ("objective", "layout", "solver", "convex", "batch_size", "chunk_size",
           "record_history", "penalty", "penalized", "schedule", "shuffle", "score")
run_chunk = jax.jit(_chunk, static_argnames=_STATIC, compiler_options=COMPILER_OPTIONS)
# The same loop compiled without LLVM's optimisation passes, for problems
# small enough that compiling costs more than running: on diabetes with
# L-BFGS it cut the first fit from 0.73 s to 0.45 s of CPU (SMALL_PROBLEM
# says where running starts to cost more).
run_small_chunk = jax.jit(
    _chunk, static_argnames=_STATIC,
    compiler_options={**COMPILER_OPTIONS, "xla_backend_optimization_level": 0})


def chunk_function(n_rows: int, n_params: int, n_iter: int):
    """The compiled chunk for a solver that usually ends within `n_iter`
    iterations over `n_rows` rows and `n_params` parameters."""
    small = n_rows * n_params * n_iter <= SMALL_PROBLEM
    return run_small_chunk if small else run_chunk


def compiled_count() -> int:
    """Compiled chunks in this process (both optimisation levels)."""
    return run_chunk._cache_size() + run_small_chunk._cache_size()
