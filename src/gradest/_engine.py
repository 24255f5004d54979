"""The one minimisation loop behind every gradest estimator.

An estimator states an objective ``objective(params, data, weights, hyper)``:
a scalar, written with ``jax.numpy``, of a parameter pytree, a pytree of
per-sample arrays, a vector of per-sample weights and a dict of traced
hyperparameters. :func:`minimize` does everything else: precision, the jitted
optimisation loop, mini-batching, stopping, divergence detection, progress
reports, the loss curve and the optional history of iterates.

The loop runs inside `jax.jit` in chunks of iterations (a `lax.while_loop`
each); Python only looks at the state between chunks, to print progress and
decide whether to go on. The learning rate, the tolerance and every
hyperparameter are traced values, so refitting with new values of them reuses
the compiled code. Shapes, the objective and the solver are static.

Everything outside the compiled loop is NumPy: the starting state, the loss
curve and the final report. A JAX operation run eagerly compiles a small
program of its own the first time it meets a shape, which would cost a new
problem more than the loop itself. Inside the loop the parameters are one flat
vector, so that the solver's elementwise updates are one kernel each whatever
the number of parameter arrays.
"""

import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._sharding import place
from ._solvers import make_optimizer, needs_full_batch

__all__ = ["MinimizeResult", "minimize", "Status", "aligned_zeros", "bucket_rows",
           "set_compilation_cache"]

Objective = Callable[[Any, Any, jax.Array, dict], jax.Array]


class Status:
    """Integer codes for why the loop stopped (kept as ints for `jax.jit`)."""

    RUNNING = 0
    CONVERGED = 1
    MAX_ITER = 2
    DIVERGED = 3


# An objective that grows this many times above its starting value (or above
# 1, whichever is larger) is diverging; waiting for an overflow wastes steps.
_EXPLOSION_FACTOR = 1e8
# Rounding makes a gradient averaged over n rows uncertain by about
# eps * sqrt(n) (a random walk of per-row errors); a smaller `tol` is raised to
# this many times that, so that float32 fits can converge.
_TOL_FLOOR_ULPS = 2
# Mini-batch fits stop after this many epochs without improvement.
_N_ITER_NO_CHANGE = 5
# Iterations per compiled chunk: long enough to hide dispatch, short enough
# for progress reports and for small `max_iter` to waste little work.
DEFAULT_CHUNK_SIZE = 256
# JAX's CPU backend uses a NumPy buffer in place when its address is a
# multiple of this, and copies it otherwise.
_DEVICE_ALIGNMENT = 64
# XLA's CPU backend compiles each fused kernel separately; its older LLVM
# emitters compile such small kernels about twice as fast as the MLIR fusion
# emitters (diabetes with adam: 0.25 s instead of 0.47 s), and the loop runs
# as fast. Other backends ignore the option.
_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


class _LoopState(NamedTuple):
    params: jax.Array  # flat, see _Layout
    opt_state: Any
    value: jax.Array
    grad: jax.Array  # flat
    best: jax.Array
    n_no_improve: jax.Array
    seed: jax.Array
    n_iter: jax.Array
    status: jax.Array
    explosion: jax.Array


@dataclass(frozen=True)
class _Layout:
    """Where each array of a parameter pytree lies in one flat vector.

    Hashable, so that it can be a static argument of the compiled loop (the
    shapes decide the compiled code anyway). Works on NumPy and JAX arrays,
    with any leading axes (a history of iterates).
    """

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, tree: Any) -> "_Layout":
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


@dataclass(frozen=True)
class MinimizeResult:
    """What :func:`minimize` found.

    Attributes
    ----------
    params : pytree of ndarray
        The parameters at the last iteration, as NumPy arrays.
    n_iter : int
        Iterations run (epochs when mini-batching).
    loss_curve : ndarray of shape (n_iter,)
        Objective at the start of each iteration, where its gradient was
        taken (mean mini-batch objective per epoch).
    status : int
        One of :class:`Status`.
    grad_max : float
        Largest absolute gradient component at the end (last mini-batch's).
    history : pytree of ndarray or None
        With ``record_history=True``, each parameter stacked over iterations,
        the initial parameters first.
    opt_state : pytree of ndarray
        The solver's state at the end, to continue from (``partial_fit``).
    """

    params: Any
    n_iter: int
    loss_curve: np.ndarray
    status: int
    grad_max: float
    history: Any = None
    opt_state: Any = None


def bucket_rows(n_rows: int, *, power_of_two_up_to: int = 0) -> int:
    """Round `n_rows` up to one of a few sizes that share compiled code.

    Keeping the top four bits pads by at most 1/8, and folds of slightly
    different sizes (cross-validation) land in the same bucket. Up to
    `power_of_two_up_to` rows, round up to a power of two instead: where a
    pass over the rows costs far less than compiling, the folds of a small
    data set and the refit on all of it then share one bucket.
    """
    if n_rows <= 16:
        return 16
    if n_rows <= power_of_two_up_to:
        return 1 << (n_rows - 1).bit_length()
    shift = n_rows.bit_length() - 4
    return -(-n_rows >> shift) << shift


def aligned_zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Zeros in a buffer that JAX's CPU backend uses without copying it.

    NumPy aligns large arrays to 16 bytes only; JAX copies such an array when
    it first reaches the device, so a fit would hold X twice. Build the
    fitting copy of large data in this buffer instead.
    """
    dtype = np.dtype(dtype)
    n_bytes = math.prod(shape) * dtype.itemsize
    raw = np.zeros(n_bytes + _DEVICE_ALIGNMENT, dtype=np.uint8)
    offset = -raw.ctypes.data % _DEVICE_ALIGNMENT
    return raw[offset:offset + n_bytes].view(dtype).reshape(shape)


def _inf_norm(vector: jax.Array) -> jax.Array:
    return jnp.max(jnp.abs(vector), initial=0.0)


def _value_and_grad(fun, params, opt_state, solver):
    if solver == "lbfgs":
        # Reuses the value and gradient the line search already computed.
        return optax.value_and_grad_from_state(fun)(params, state=opt_state)
    return jax.value_and_grad(fun)(params)


def _placeholder_opt_state(solver: str, flat: np.ndarray) -> Any:
    """Zeros shaped like the solver's state; the compiled loop fills them in.

    Only the shapes are worked out here (no computation, so nothing compiles).
    """
    shapes = jax.eval_shape(make_optimizer(solver, 1.0).init, flat)
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


def _start(flat, opt_state, seed, dtype) -> _LoopState:
    """The loop state before the first iteration, in NumPy."""
    return _LoopState(
        params=flat,
        opt_state=opt_state,
        value=np.asarray(np.nan, dtype),
        grad=np.zeros_like(flat),
        best=np.asarray(np.inf, dtype),
        n_no_improve=np.int32(0),
        seed=np.int32(seed),
        n_iter=np.int32(0),
        status=np.int32(Status.RUNNING),
        explosion=np.asarray(np.inf, dtype),
    )


def _tree_where(condition, on_true, on_false):
    return jax.tree.map(lambda t, f: jnp.where(condition, t, f), on_true, on_false)


def _full_batch_iteration(state, optimizer, fun, tol, solver, min_iter):
    """Evaluate at the current point; step unless the gradient is already small."""
    value, grad = _value_and_grad(fun, state.params, state.opt_state, solver)
    converged = (_inf_norm(grad) <= tol) & (state.n_iter >= min_iter)
    updates, opt_state = optimizer.update(
        grad, state.opt_state, state.params, value=value, grad=grad, value_fn=fun)
    params = optax.apply_updates(state.params, updates)
    # A converged point is returned as evaluated, not stepped past.
    params = jnp.where(converged, state.params, params)
    return state._replace(params=params, opt_state=opt_state, value=value,
                          grad=grad), converged


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
        return (optax.apply_updates(params, updates), opt_state, grad), value

    (params, opt_state, last_grad), values = jax.lax.scan(
        one_batch, (state.params, state.opt_state, state.grad), batches)
    value = jnp.mean(values)
    improved = value < state.best - tol * jnp.maximum(jnp.abs(state.best), 1)
    improved |= ~jnp.isfinite(state.best)
    n_no_improve = jnp.where(improved, 0, state.n_no_improve + 1)
    state = state._replace(
        params=params, opt_state=opt_state, value=value, grad=last_grad,
        best=jnp.minimum(state.best, value), n_no_improve=n_no_improve)
    return state, n_no_improve >= _N_ITER_NO_CHANGE


def _status(diverged, converged, done):
    """The first of diverged, converged, done that holds, else RUNNING."""
    return jnp.where(diverged, Status.DIVERGED,
                     jnp.where(converged, Status.CONVERGED,
                               jnp.where(done, Status.MAX_ITER, Status.RUNNING)))


@partial(jax.jit, static_argnames=(
    "objective", "layout", "solver", "batch_size", "chunk_size", "record_history"),
    compiler_options=_COMPILER_OPTIONS)
def _run_chunk(state, data, weights, hyper, learning_rate, tol, max_iter, min_iter,
               fresh,
               *, objective, layout, solver, batch_size, chunk_size,
               record_history):
    """Up to `chunk_size` iterations; one compiled function per problem shape.

    With `fresh` (a traced flag, so that it costs no second compilation) the
    solver's state is initialised here rather than taken from `state`.
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
        return (i < chunk_size) & (state.status == Status.RUNNING)

    def iterate(carry):
        state, i, losses, history = carry
        if batch_size is None:
            new, converged = _full_batch_iteration(
                state, optimizer, fun, tol, solver, min_iter)
        else:
            new, converged = _epoch_iteration(
                state, optimizer, loss, data, weights, tol, batch_size)
        explosion = jnp.where(
            state.n_iter == 0, _EXPLOSION_FACTOR * jnp.maximum(jnp.abs(new.value), 1),
            state.explosion)
        diverged = (~jnp.isfinite(new.value) | (new.value > explosion)
                    | ~jnp.isfinite(_inf_norm(new.grad)))
        # A full-batch convergence is found before stepping: that evaluation
        # is not an iteration. Mini-batch epochs always count.
        stepped = (~converged | (batch_size is not None)).astype(jnp.int32)
        n_iter = state.n_iter + stepped
        status = _status(diverged, converged, n_iter >= max_iter)
        losses = jax.lax.dynamic_update_slice(losses, new.value[None], (i,))
        if record_history:
            # Index dtypes must agree; a literal 0 is int64 under x64.
            history = jax.lax.dynamic_update_slice(
                history, new.params[None], (i, jnp.zeros((), i.dtype)))
        new = new._replace(n_iter=n_iter, status=status.astype(jnp.int32),
                           explosion=explosion)
        return new, i + stepped, losses, history

    state, n_done, losses, history = jax.lax.while_loop(
        keep_going, iterate, (state, jnp.zeros((), jnp.int32), losses, history))
    return state, n_done, losses, history


def set_compilation_cache(path: str | os.PathLike | None) -> None:
    """Keep compiled code on disk, so that a new process does not compile again.

    gradest compiles its optimisation loop once per problem shape, objective
    and solver, which costs a new process from a fraction of a second to a
    few seconds per problem. With a cache directory, JAX writes each compiled
    program there and a later process loads it instead of compiling.

    Parameters
    ----------
    path : str, path-like or None
        Directory of the cache, created if missing. None switches the cache
        off for programs compiled from now on.

    Notes
    -----
    This is JAX's persistent compilation cache: it applies to every JAX
    computation of the process, not only gradest's, which is why gradest
    never switches it on by itself. It keeps every program, however quick to
    compile (JAX's default keeps only those over one second). Worker
    processes, such as those of ``GridSearchCV(n_jobs=...)``, do not inherit
    a call to this function; set the environment variables
    ``JAX_COMPILATION_CACHE_DIR`` (the directory),
    ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0`` and
    ``JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1`` before starting them
    instead. Whoever can write to the directory can run code in the processes
    that read it: do not share it with users you do not trust.

    Examples
    --------
    >>> import tempfile
    >>> from gradest import set_compilation_cache
    >>> set_compilation_cache(tempfile.mkdtemp())
    >>> set_compilation_cache(None)
    """
    from jax.experimental.compilation_cache import compilation_cache

    if path is not None:
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    # JAX decides once per process whether a cache is in use; start over so
    # that a call after the first compilation takes effect.
    compilation_cache.reset_cache()


def _float_dtype(weights: np.ndarray) -> np.dtype:
    return np.dtype(np.float64 if weights.dtype == np.float64 else np.float32)


def minimize(
    objective: Objective,
    params: Any,
    data: Any,
    weights: np.ndarray,
    hyper: dict[str, float],
    *,
    solver: str,
    learning_rate: float,
    max_iter: int,
    tol: float,
    batch_size: int | None = None,
    random_state: int | np.random.RandomState | None = None,
    verbose: int = 0,
    record_history: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    name: str = "estimator",
    fixed_steps: bool = False,
    min_iter: int = 0,
    opt_state: Any = None,
) -> MinimizeResult:
    """Minimise ``objective(params, data, weights, hyper)`` over `params`.

    Parameters
    ----------
    objective : callable
        Hashable (a module-level function or a frozen dataclass), so that the
        compiled loop is cached across fits; returns a scalar.
    params : pytree of ndarray
        Starting point.
    data : pytree of ndarray
        Per-sample arrays, each with n_samples rows.
    weights : ndarray of shape (n_samples,)
        Per-sample weights; their dtype (float32 or float64) sets the
        precision of the whole fit. The objective must be a weighted mean, so
        that rows of zero weight do not count.
    hyper : dict of str to float
        Hyperparameters of the objective, passed as traced scalars.
    solver : str
        A name from :data:`gradest._solvers.SOLVERS`.
    learning_rate : float
        Step size of the first-order solvers.
    max_iter : int
        Most iterations (epochs when mini-batching).
    tol : float
        Full batch: stop once every gradient component is at most `tol` in
        absolute value (`tol` is raised to ``2 * eps * sqrt(n_samples)`` of
        the working precision, the size of rounding noise in the gradient).
        Mini-batches: stop once the epoch's mean objective has not improved by
        ``tol * max(1, |best|)`` for 5 epochs in a row.
    batch_size : int or None
        None for full-batch steps, else shuffled mini-batches of that size.
    random_state : int, RandomState or None
        Source of the shuffling seed (see :term:`random_state`).
    verbose : int
        0 silent; 1 a progress line about every second and a summary; 2 a
        line per chunk of iterations.
    record_history : bool
        Keep every iterate (memory: ``max_iter`` copies of `params`).
    chunk_size : int
        Iterations per compiled chunk.
    name : str
        Estimator name for messages.
    fixed_steps : bool
        Run exactly `max_iter` iterations: `tol` is ignored and reaching
        `max_iter` is the intended end, not a ConvergenceWarning. With an
        elementwise solver (such as 'adam') and an objective that sums
        independent rows, each row then follows the same path whatever other
        rows are optimised beside it.

    opt_state : pytree or None
        Solver state to continue from (from a previous result's
        ``opt_state``), instead of a fresh one.
    min_iter : int
        Iterations taken before the gradient test may stop the loop: a start
        that is merely flat (tiny random latent points) still moves.
    Returns
    -------
    MinimizeResult

    Raises
    ------
    ValueError
        If the objective becomes non-finite or explodes (the message names
        ``learning_rate``), or if `solver` needs full batches.
    """
    if batch_size is not None and needs_full_batch(solver):
        raise ValueError(
            f"solver={solver!r} needs the full objective; set batch_size=None "
            "or choose a first-order solver such as 'adam'.")
    dtype = _float_dtype(weights)
    n_rows = weights.shape[0]
    if batch_size is not None:
        batch_size = min(int(batch_size), n_rows)
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    tol = max(float(tol),
              _TOL_FLOOR_ULPS * float(np.finfo(dtype).eps) * np.sqrt(n_rows))
    # A negative tolerance is never met by a gradient norm.
    loop_tol = -1.0 if fixed_steps else tol

    layout = _Layout.of(params)
    flat = layout.flatten(params, dtype)
    static = dict(objective=objective, layout=layout, solver=solver,
                  batch_size=batch_size, chunk_size=chunk_size,
                  record_history=record_history)

    with jax.enable_x64(dtype == np.float64):
        fresh = opt_state is None
        if fresh:
            opt_state = _placeholder_opt_state(solver, flat)
        # Moved to the devices once, not at every chunk (on CPU without a copy
        # when NumPy's buffer is suitably aligned); with several devices the
        # rows are split among them and the state replicated. Committed, like
        # the state each chunk returns, so that every chunk call matches one
        # entry of the compiled function's cache.
        (data, weights), state = place(
            (jax.tree.map(lambda a: np.asarray(a, dtype), data),
             np.asarray(weights, dtype)),
            _start(flat, opt_state, seed, dtype), n_rows)
        hyper = {k: np.asarray(v, dtype) for k, v in hyper.items()}
        scalars = (np.asarray(learning_rate, dtype), np.asarray(loop_tol, dtype),
                   np.int32(max_iter), np.int32(min_iter))
        losses, history = [], [flat[None]]
        started = last_report = time.perf_counter()
        status = Status.RUNNING
        while status == Status.RUNNING:
            state, n_done, chunk_losses, chunk_history = _run_chunk(
                state, data, weights, hyper, *scalars, np.bool_(fresh), **static)
            fresh = False
            n_done, status = int(n_done), int(state.status)
            # NumPy slices: a JAX slice of a new length would compile.
            losses.append(np.asarray(chunk_losses)[:n_done])
            if record_history:
                history.append(np.asarray(chunk_history)[:n_done])
            now = time.perf_counter()
            if verbose >= 2 or (verbose and now - last_report >= 1.0):
                last_report = now
                _report(name, state, now - started)
        if verbose:
            _report(name, state, time.perf_counter() - started)
        state = jax.device_get(state)
    n_iter, value = int(state.n_iter), float(state.value)
    grad_max = float(np.max(np.abs(state.grad), initial=0.0))
    # A copy, so that the returned arrays are writeable and own their memory.
    params = layout.unflatten(np.array(state.params))
    history = layout.unflatten(np.concatenate(history)) if record_history else None

    loss_curve = np.concatenate(losses) if losses else np.empty(0, dtype=dtype)
    if status == Status.DIVERGED:
        raise ValueError(
            f"{name} diverged at iteration {n_iter}: the objective reached "
            f"{value:.3g}. learning_rate={float(learning_rate):g} is too large "
            f"for solver={solver!r}; try a smaller learning_rate, such as "
            f"{float(learning_rate) / 10:g}.")
    if status == Status.MAX_ITER and not fixed_steps:
        what = "epochs" if batch_size is not None else "iterations"
        warnings.warn(
            f"{name} did not converge in max_iter={max_iter} {what} "
            f"(largest gradient component {grad_max:.3g}, tol={tol:.3g}). "
            "Increase max_iter, adjust learning_rate, or try solver='lbfgs'.",
            ConvergenceWarning, stacklevel=_caller_stacklevel())
    return MinimizeResult(params=params, n_iter=n_iter, loss_curve=loss_curve,
                          status=status, grad_max=grad_max, history=history,
                          opt_state=state.opt_state)


def _caller_stacklevel() -> int:
    """Stack level of the first frame outside gradest and scikit-learn's fit wrapper.

    Warnings then point at the user's ``fit`` call, however deep the estimator
    code that raises them.
    """
    package_dir = os.path.dirname(__file__)
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith(package_dir)
        or (frame.f_code.co_name == "wrapper" and "sklearn" in frame.f_code.co_filename)
    ):
        frame, level = frame.f_back, level + 1
    return level


def _report(name: str, state: _LoopState, elapsed: float) -> None:
    grad_max = float(np.max(np.abs(np.asarray(state.grad)), initial=0.0))
    print(f"[{name}] iter {int(state.n_iter):7d}  loss {float(state.value):.8g}"
          f"  max|grad| {grad_max:.3g}  {elapsed:7.2f}s",
          flush=True)
