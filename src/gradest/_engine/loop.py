"""The compiled minimisation loop: chunks of a `lax.while_loop` under `jax.jit`.

The loop runs in chunks of iterations; Python only looks at the state between
chunks (see :mod:`.minimize`). The learning rate, the tolerance and every
hyperparameter are traced values, so refitting with new values of them reuses
the compiled code. Shapes, the objective and the solver are static. Inside the
loop the parameters are one flat vector, so that the solver's elementwise
updates are one kernel each whatever the number of parameter arrays.
"""

import functools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .lbfgs import LbfgsState, value_and_grad_from_state
from .outcome import Status
from .schedules import ADAPTIVE_FACTOR, ADAPTIVE_MIN_RATE, scheduled_rate
from .solvers import make_optimizer, solver_spec
from .sparse import take_rows

__all__ = ["COMPILER_OPTIONS", "DEFAULT_CHUNK_SIZE", "PROGRESS_WINDOW",
           "SMALL_PROBLEM", "Controls", "Layout", "LoopState", "chunk_function",
           "compiled_count", "initial_state", "placeholder_opt_state", "run_chunk",
           "run_small_chunk"]

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


def _apply(params, updates):
    """``params + updates`` in the parameters' dtype (optax's apply_updates for
    the flat vector)."""
    return (params + updates).astype(params.dtype)


def _tree_where(condition, on_true, on_false):
    return jax.tree.map(lambda t, f: jnp.where(condition, t, f), on_true, on_false)


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
        diverged, reference = _diverged(state, new, converged, full_batch)
        # A full-batch convergence is found before stepping: that evaluation
        # is not an iteration. Mini-batch epochs always count.
        stepped = (~converged | (not full_batch)).astype(jnp.int32)
        n_iter = state.n_iter + stepped
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
