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
"""

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

from ._solvers import make_optimizer, needs_full_batch

__all__ = ["MinimizeResult", "minimize", "Status", "bucket_rows"]

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


class _LoopState(NamedTuple):
    params: Any
    opt_state: Any
    value: jax.Array
    grad: Any
    best: jax.Array
    n_no_improve: jax.Array
    key: jax.Array
    n_iter: jax.Array
    status: jax.Array
    explosion: jax.Array


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
        Objective after each iteration (mean mini-batch objective per epoch).
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


def bucket_rows(n_rows: int) -> int:
    """Round `n_rows` up to one of a few sizes that share compiled code.

    Keeping the top four bits pads by at most 1/8, and folds of slightly
    different sizes (cross-validation) land in the same bucket.
    """
    if n_rows <= 16:
        return 16
    shift = n_rows.bit_length() - 4
    return -(-n_rows >> shift) << shift


def _inf_norm(tree: Any) -> jax.Array:
    return optax.tree.norm(tree, ord=jnp.inf)


def _value_and_grad(fun, params, opt_state, solver):
    if solver == "lbfgs":
        # Reuses the value and gradient the line search already computed.
        return optax.value_and_grad_from_state(fun)(params, state=opt_state)
    return jax.value_and_grad(fun)(params)


def _start(params, optimizer, key, dtype, opt_state=None) -> _LoopState:
    """The loop state before the first iteration (built eagerly: nothing to compile)."""
    return _LoopState(
        params=params,
        opt_state=(optimizer.init(params) if opt_state is None
                   else jax.tree.map(jnp.asarray, opt_state)),
        value=jnp.asarray(jnp.nan, dtype),
        grad=jax.tree.map(jnp.zeros_like, params),
        best=jnp.asarray(jnp.inf, dtype),
        n_no_improve=jnp.zeros((), jnp.int32),
        key=key,
        n_iter=jnp.zeros((), jnp.int32),
        status=jnp.asarray(Status.RUNNING, jnp.int32),
        explosion=jnp.asarray(jnp.inf, dtype),
    )


def _keep_if(stop, old, new):
    return jax.tree.map(lambda o, n: jnp.where(stop, o, n), old, new)


def _full_batch_iteration(state, optimizer, fun, tol, solver):
    """Evaluate at the current point; step unless the gradient is already small."""
    value, grad = _value_and_grad(fun, state.params, state.opt_state, solver)
    converged = _inf_norm(grad) <= tol
    updates, opt_state = optimizer.update(
        grad, state.opt_state, state.params, value=value, grad=grad, value_fn=fun)
    params = optax.apply_updates(state.params, updates)
    # A converged point is returned as evaluated, not stepped past.
    params = _keep_if(converged, state.params, params)
    return state._replace(params=params, opt_state=opt_state, value=value,
                          grad=grad), converged


def _epoch_iteration(state, optimizer, objective, data, weights, hyper, tol,
                     batch_size):
    """One shuffled pass over the rows in mini-batches."""
    n_rows = weights.shape[0]
    n_batches = -(-n_rows // batch_size)
    key, subkey = jax.random.split(state.key)
    order = jax.random.permutation(subkey, n_rows)
    n_padded = n_batches * batch_size
    # The last batch is filled up with repeated rows of zero weight, so that
    # every batch has the same shape.
    order = jnp.concatenate([order, order[: n_padded - n_rows]])
    keep = (jnp.arange(n_padded) < n_rows).astype(weights.dtype)
    batches = (order.reshape(n_batches, batch_size),
               keep.reshape(n_batches, batch_size))

    def one_batch(carry, batch):
        params, opt_state = carry
        rows, mask = batch
        batch_data = jax.tree.map(lambda leaf: leaf[rows], data)
        batch_weights = weights[rows] * mask
        value, grad = jax.value_and_grad(objective)(
            params, batch_data, batch_weights, hyper)
        updates, opt_state = optimizer.update(grad, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (value, grad)

    (params, opt_state), (values, grads) = jax.lax.scan(
        one_batch, (state.params, state.opt_state), batches)
    value = jnp.mean(values)
    improved = value < state.best - tol * jnp.maximum(jnp.abs(state.best), 1)
    improved |= ~jnp.isfinite(state.best)
    n_no_improve = jnp.where(improved, 0, state.n_no_improve + 1)
    last_grad = jax.tree.map(lambda g: g[-1], grads)
    state = state._replace(
        params=params, opt_state=opt_state, value=value, grad=last_grad,
        best=jnp.minimum(state.best, value), n_no_improve=n_no_improve, key=key)
    return state, n_no_improve >= _N_ITER_NO_CHANGE


@partial(jax.jit, static_argnames=(
    "objective", "solver", "batch_size", "chunk_size", "record_history"))
def _run_chunk(state, data, weights, hyper, learning_rate, tol, max_iter, *,
               objective, solver, batch_size, chunk_size, record_history):
    """Up to `chunk_size` iterations; one compiled function per problem shape."""
    optimizer = make_optimizer(solver, learning_rate)

    def fun(params):
        return objective(params, data, weights, hyper)

    losses = jnp.full(chunk_size, jnp.nan, dtype=state.value.dtype)
    history = (jax.tree.map(
        lambda p: jnp.zeros((chunk_size, *p.shape), p.dtype), state.params)
        if record_history else None)

    def keep_going(carry):
        state, i, _, _ = carry
        return (i < chunk_size) & (state.status == Status.RUNNING)

    def iterate(carry):
        state, i, losses, history = carry
        if batch_size is None:
            new, converged = _full_batch_iteration(
                state, optimizer, fun, tol, solver)
        else:
            new, converged = _epoch_iteration(
                state, optimizer, objective, data, weights, hyper, tol,
                batch_size)
        first = state.n_iter == 0
        explosion = jnp.where(
            first, _EXPLOSION_FACTOR * jnp.maximum(jnp.abs(new.value), 1),
            state.explosion)
        diverged = (~jnp.isfinite(new.value) | (new.value > explosion)
                    | ~jnp.isfinite(_inf_norm(new.grad)))
        # A full-batch convergence is found before stepping: that evaluation
        # is not an iteration. Mini-batch epochs always count.
        stepped = ~converged | (batch_size is not None)
        n_iter = state.n_iter + stepped.astype(jnp.int32)
        status = jnp.select(
            [diverged, converged, n_iter >= max_iter],
            [Status.DIVERGED, Status.CONVERGED, Status.MAX_ITER],
            Status.RUNNING).astype(jnp.int32)
        losses = jnp.where(stepped, losses.at[i].set(new.value), losses)
        if record_history:
            history = jax.tree.map(
                lambda h, p: jnp.where(stepped, h.at[i].set(p), h),
                history, new.params)
        new = new._replace(n_iter=n_iter, status=status, explosion=explosion)
        return new, i + stepped.astype(jnp.int32), losses, history

    state, n_done, losses, history = jax.lax.while_loop(
        keep_going, iterate, (state, jnp.zeros((), jnp.int32), losses, history))
    return state, n_done, losses, history


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

    with jax.enable_x64(dtype == np.float64):
        def to_device(tree):
            return jax.tree.map(lambda a: jnp.asarray(a, dtype=dtype), tree)

        params, data, weights = to_device(params), to_device(data), to_device(weights)
        hyper = {k: jnp.asarray(v, dtype=dtype) for k, v in hyper.items()}
        lr = jnp.asarray(learning_rate, dtype=dtype)
        tol_ = jnp.asarray(loop_tol, dtype=dtype)
        max_iter_ = jnp.asarray(max_iter, jnp.int32)
        state = _start(params, make_optimizer(solver, learning_rate),
                       jax.random.key(seed), dtype, opt_state)
        losses, history = [], [jax.tree.map(lambda p: np.asarray(p)[None], params)]
        started = last_report = time.perf_counter()
        while int(state.status) == Status.RUNNING:
            state, n_done, chunk_losses, chunk_history = _run_chunk(
                state, data, weights, hyper, lr, tol_, max_iter_,
                objective=objective, solver=solver, batch_size=batch_size,
                chunk_size=chunk_size, record_history=record_history)
            done = slice(int(n_done))
            losses.append(np.asarray(chunk_losses[done]))
            if record_history:
                history.append(jax.tree.map(lambda h, done=done: np.asarray(h[done]),
                                            chunk_history))
            now = time.perf_counter()
            if verbose >= 2 or (verbose and now - last_report >= 1.0):
                last_report = now
                _report(name, state, now - started)
        if verbose:
            _report(name, state, time.perf_counter() - started)
        status, n_iter = int(state.status), int(state.n_iter)
        value = float(state.value)
        grad_max = float(_inf_norm(state.grad))
        params = jax.device_get(state.params)
        final_opt_state = jax.device_get(state.opt_state)
    history = (jax.tree.map(lambda *hs: np.concatenate(hs), *history)
               if record_history else None)

    loss_curve = np.concatenate(losses) if losses else np.empty(0, dtype=dtype)
    if status == Status.DIVERGED:
        raise ValueError(
            f"{name} diverged at iteration {n_iter}: the objective reached "
            f"{value:.3g}. learning_rate={learning_rate!r} is too large for "
            f"solver={solver!r}; try a smaller learning_rate, such as "
            f"{learning_rate / 10:g}.")
    if status == Status.MAX_ITER and not fixed_steps:
        what = "epochs" if batch_size is not None else "iterations"
        warnings.warn(
            f"{name} did not converge in max_iter={max_iter} {what} "
            f"(largest gradient component {grad_max:.3g}, tol={tol:.3g}). "
            "Increase max_iter, adjust learning_rate, or try solver='lbfgs'.",
            ConvergenceWarning, stacklevel=_caller_stacklevel())
    return MinimizeResult(params=params, n_iter=n_iter, loss_curve=loss_curve,
                          status=status, grad_max=grad_max, history=history,
                          opt_state=final_opt_state)


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
    print(f"[{name}] iter {int(state.n_iter):7d}  loss {float(state.value):.8g}"
          f"  max|grad| {float(_inf_norm(state.grad)):.3g}  {elapsed:7.2f}s",
          flush=True)
