"""The engine's front: one call from an estimator's objective to its minimiser.

An estimator states a :class:`~.problem.Problem` and its
:class:`~.problem.Settings` (see :mod:`.problem`); :func:`minimize` does
everything else: precision, placement, the compiled loop, progress, the loss
curve, the history of iterates and the outcome.

This module still owns that driver: :func:`minimize`, which prepares the run
(the arguments of the compiled loop, on the devices), drives its chunks,
reports progress between them and returns a :class:`~.problem.MinimizeResult`.

Everything outside the compiled loop is NumPy: a JAX operation run eagerly
compiles a small program of its own the first time it meets a shape, which
would cost a new problem more than the loop itself.
"""

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import numpy as np
from sklearn.utils import check_random_state

from . import placement
from .data import float_dtype, precision
from .interrupts import raise_if_interrupted
from .loop import (
    Controls,
    Layout,
    LoopState,
    chunk_function,
    initial_state,
    placeholder_opt_state,
)
from .outcome import Outcome, Status, settle
from .problem import HISTORY_KEYS, MinimizeResult, Problem, Settings
from .solvers import resolve_solver, solver_spec

__all__ = ["finish", "minimize"]

# A smaller `tol` is raised to this many ulps (eps of the working precision),
# so that float32 fits can converge. The float32 gradient of a standardised
# mean objective at the float32 point nearest the optimum measured 0.06-0.25
# eps from 442 to 10^6 rows (least squares on diabetes and random data):
# blocked sums keep the rounding noise from growing with n. The former floor,
# 2 eps sqrt(n) (45 eps at 512 rows), stopped float32 Adam on diabetes 1.3e-3
# off the optimum; one ulp stops it 3e-5 off.
_TOL_FLOOR_ULPS = 1
# Wall time of one compiled chunk, about: Python sees a KeyboardInterrupt
# only between chunks, so a chunk must not run for long. The first chunk is
# short, since it also compiles and nothing is known of its speed yet.
_CHUNK_SECONDS = 0.2
_FIRST_CHUNK = 16


@dataclass
class _Run:
    """The compiled loop's arguments, on the devices, and its static choices."""

    state: LoopState
    arrays: tuple
    scalars: tuple
    static: dict
    tol: float
    layout: Layout
    chunk: Any  # the compiled chunk function (see loop.chunk_function)
    # The training controls' traced numbers and the validation rows.
    controls: tuple = ()


def _prepare(problem: Problem, settings: Settings, opt_state: Any) -> _Run:
    """Check the settings and move the problem to the devices; call under precision."""
    spec = solver_spec(settings.solver)
    if settings.batch_size is not None and spec.full_batch_only:
        raise ValueError(
            f"solver={settings.solver!r} needs the full objective; set "
            "batch_size=None or choose a first-order solver such as 'adam'.")
    dtype = float_dtype(problem.weights.dtype)
    n_rows = problem.weights.shape[0]
    batch_size = (None if settings.batch_size is None
                  else min(int(settings.batch_size), n_rows))
    seed = check_random_state(settings.random_state).randint(np.iinfo(np.int32).max)
    tol = max(float(settings.tol), _TOL_FLOOR_ULPS * float(np.finfo(dtype).eps))
    # A negative tolerance is never met by a gradient norm.
    loop_tol = -1.0 if settings.fixed_steps else tol
    layout = Layout.of(problem.params)
    flat = layout.flatten(problem.params, dtype)
    fresh = opt_state is None
    if fresh:
        opt_state = placeholder_opt_state(settings.solver, flat, problem.convex)
    score = problem.score if problem.validation is not None else None
    validation = None
    if score is not None:
        validation = jax.tree.map(partial(_as_float, dtype=dtype),
                                  tuple(problem.validation))
    # Moved to the devices once, not at every chunk (on CPU without a copy
    # when NumPy's buffer is suitably aligned); with several devices the rows
    # are split among them and the state replicated. Committed, like the state
    # each chunk returns, so that every chunk call matches one entry of the
    # compiled function's cache. The held-out rows are few: they go whole to
    # every device, with the state.
    (data, weights), (state, validation) = placement.place(
        (jax.tree.map(partial(_as_float, dtype=dtype), problem.data),
         np.asarray(problem.weights, dtype)),
        (initial_state(flat, opt_state, seed, dtype, settings.reference,
                       settings.learning_rate), validation), n_rows)
    hyper = {k: np.asarray(v, dtype) for k, v in problem.hyper.items()}
    controls = Controls(np.asarray(settings.power_t, dtype),
                        np.asarray(settings.warmup_fraction, dtype),
                        np.int32(settings.n_iter_no_change))
    penalized = () if problem.penalty is None else tuple(problem.penalized)
    loop_rtol = 0.0 if settings.fixed_steps else float(settings.rtol)
    scalars = (np.asarray(settings.learning_rate, dtype), np.asarray(loop_tol, dtype),
               np.asarray(loop_rtol, dtype), np.int32(settings.max_iter),
               np.int32(settings.min_iter))
    static = dict(objective=problem.objective, layout=layout, solver=settings.solver,
                  convex=problem.convex, batch_size=batch_size,
                  chunk_size=settings.chunk_size,
                  record_history=settings.record_history, penalty=problem.penalty,
                  penalized=penalized, schedule=settings.schedule,
                  shuffle=bool(settings.shuffle), score=score)
    return _Run(state, (data, weights, hyper), scalars, static, tol, layout,
                # Not from max_iter: a grid over it shares the compiled loop.
                chunk_function(n_rows, flat.size, spec.typical_iterations),
                (controls, validation))


def _as_float(leaf, *, dtype):
    """A floating leaf in the working precision; integer leaves (indices) kept."""
    leaf = np.asarray(leaf)
    return leaf.astype(dtype, copy=False) if np.issubdtype(leaf.dtype, np.floating) \
        or leaf.dtype == bool else leaf


def _drive(run: _Run, settings: Settings, fresh: bool):
    """Call the compiled chunks until the loop stops; report progress between them.

    Returns the final state, the per-iteration records (lists of chunks) and
    the recorded iterates; a callback returning True ends the loop with
    status ``STOPPED_BY_CALLBACK``.
    """
    records = {key: [] for key in HISTORY_KEYS}
    history = [np.asarray(run.state.params)[None]]
    started = last_report = time.perf_counter()
    state, status, limit = run.state, Status.RUNNING, _FIRST_CHUNK
    uses_rate = solver_spec(settings.solver).uses_learning_rate
    while status == Status.RUNNING:
        chunk_start = time.perf_counter()
        with _collection_paused():
            state, n_done, chunk_records, chunk_history = run.chunk(
                state, *run.arrays, *run.scalars, np.bool_(fresh), np.int32(limit),
                *run.controls, **run.static)
        fresh = False
        # A Ctrl-C that reached only a garbage-collector callback (see
        # interrupts.py) ends the fit here, between chunks.
        raise_if_interrupted()
        n_done, status = int(n_done), int(state.status)
        now = time.perf_counter()
        limit = _next_limit(now - chunk_start, n_done, settings.chunk_size)
        # NumPy slices: a JAX slice of a new length would compile.
        losses, scores, rates = (np.asarray(r)[:n_done] for r in chunk_records)
        records["loss"].append(losses)
        records["validation_score"].append(scores)
        records["learning_rate"].append(rates if uses_rate
                                        else np.full_like(rates, np.nan))
        # Python sees the time only between chunks: spread it evenly.
        records["time"].append(
            (chunk_start - started)
            + (now - chunk_start) * np.arange(1, n_done + 1) / max(n_done, 1))
        if settings.record_history:
            history.append(np.asarray(chunk_history)[:n_done])
        if settings.verbose >= 2 or (settings.verbose and now - last_report >= 1.0):
            last_report = now
            _report(settings.name, state, now - started)
        if status == Status.RUNNING and settings.callbacks:
            so_far = _concatenate(records, losses.dtype)
            # Every callback sees the history, even after one asks to stop.
            stops = [bool(callback(so_far)) for callback in settings.callbacks]
            if any(stops):
                status = int(Status.STOPPED_BY_CALLBACK)
    if settings.verbose:
        _report(settings.name, state, time.perf_counter() - started)
    state = jax.device_get(state)
    if status == Status.STOPPED_BY_CALLBACK:
        state = state._replace(status=np.int32(status))
    return state, _concatenate(records, np.asarray(state.value).dtype), history


def _concatenate(records: dict, dtype) -> dict:
    """The per-chunk records as one array per key."""
    return {key: (np.concatenate(chunks) if chunks else np.empty(0)).astype(
        np.float64 if key == "time" else dtype) for key, chunks in records.items()}


@contextmanager
def _collection_paused():
    """Python's cyclic garbage collector off for the duration (if it was on).

    Tracing and lowering the loop create objects by the hundred thousand,
    which set off a full collection over everything the process holds (JAX,
    scikit-learn, SciPy): on diabetes's first L-BFGS fit it paused the
    lowering for 0.11-0.15 s, a third of the whole fit (0.50-0.55 s with the
    collector, 0.36-0.46 s without). Reference counting still frees what the
    chunk drops; cycles wait for the next collection, after the chunk.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _next_limit(seconds: float, n_done: int, chunk_size: int) -> int:
    """Iterations for the next chunk, so that it lasts about `_CHUNK_SECONDS`."""
    per_iteration = seconds / max(n_done, 1)
    return int(min(max(_CHUNK_SECONDS / max(per_iteration, 1e-9), 1), chunk_size))


def minimize(problem: Problem, settings: Settings, *,
             opt_state: Any = None) -> MinimizeResult:
    """Minimise ``problem.objective`` over its parameters.

    Parameters
    ----------
    problem : Problem
        Objective, start, data, weights and hyperparameters.
    settings : Settings
        Solver parameters.
    opt_state : pytree or None
        Solver state to continue from (a previous result's ``opt_state``),
        instead of a fresh one.

    Returns
    -------
    MinimizeResult

    Raises
    ------
    ValueError
        If the objective becomes non-finite or explodes (see
        :func:`~gradest._engine.outcome.settle`), if the solver needs full
        batches and `settings` asks for mini-batches, or if it cannot handle
        the problem's nonsmooth penalty.
    """
    dtype = float_dtype(problem.weights.dtype)
    settings = settings.with_options(solver=resolve_solver(
        settings.solver, smooth=problem.smooth,
        full_batch=settings.batch_size is None, curvature=problem.curvature,
        differentiable=problem.differentiable))
    with precision(dtype):
        run = _prepare(problem, settings, opt_state)
        state, records, history = _drive(run, settings, fresh=opt_state is None)
    return finish(problem, settings, run, state, records, history)


def _within_rounding(grad_max: float, value: float, eps: float) -> bool:
    """Whether a stall at objective `value` and largest gradient component
    `grad_max` ended where rounding hides what is left to gain.

    A monotone solver stalls when no step lowers the objective in the
    working precision. Near a minimiser a gradient ``g`` can lower the
    objective by at most ``g**2 / (2 h)`` along a direction of curvature
    ``h``, which rounding cannot show once it is below ``eps * |f|``: with
    curvatures up to `_CURVATURE_BOUND`, a stall with every gradient
    component at most ``sqrt(2 * _CURVATURE_BOUND * eps * max(1, |f|))``
    (2.1e-7 in float64 at ``|f| <= 1``) is as converged as the precision
    allows, and ends without a ConvergenceWarning. The default tol (1e-9)
    sits below that floor on ordinary ill-conditioned problems, where the
    solution is the reference minimiser's (benchmarks/defaults.py: collinear
    columns and smoothed kinks stalled at gradients of 2e-9 to 4.4e-8 with
    objectives at the reference's to 1e-9, or within the smoothing's own
    bound); a stall above it still warns.
    """
    return grad_max <= np.sqrt(2.0 * _CURVATURE_BOUND * eps * max(1.0, abs(value)))


# Curvatures of standardised objectives, for the rounding floor of a stall:
# unit columns give O(1); collinear columns (a Hessian eigenvalue up to the
# number of columns they share) and a smoothed kink (curvature of ~1/width
# on the residuals near it) reach tens.
_CURVATURE_BOUND = 100.0


def finish(problem: Problem, settings: Settings, run: _Run, state: LoopState,
           records: dict, history: list) -> MinimizeResult:
    """The result of one finished loop: its outcome settled, its parameters
    (the best-scoring with early stopping) unflattened; `state` in NumPy.

    Shared by :func:`minimize` and the batched fits of :mod:`.batched`, which
    call it once per member.
    """
    spec = solver_spec(settings.solver)
    status, value = Status(int(state.status)), float(state.value)
    grad_max = float(np.max(np.abs(state.grad), initial=0.0))
    eps = float(np.finfo(np.asarray(state.value).dtype).eps)
    outcome = Outcome(
        status=status, n_iter=int(state.n_iter), value=value, grad_max=grad_max,
        tol=run.tol, solver=settings.solver, max_iter=settings.max_iter,
        learning_rate=settings.learning_rate if spec.uses_learning_rate else None,
        unit="epochs" if settings.batch_size is not None else "iterations",
        expected_end=settings.fixed_steps or (
            status == Status.STALLED and _within_rounding(grad_max, value, eps)),
        reference=float(state.reference),
        smooth=problem.smooth)
    settle(outcome, settings.name)
    layout = run.layout
    validated = run.static["score"] is not None
    params = state.params
    best_iter = int(state.best_iter) if validated else 0
    if validated and best_iter > 0 and outcome.status != Status.STOPPED_BY_CALLBACK:
        # Early stopping returns the best-scoring iterate, as MLPClassifier.
        params = state.best_params
    return MinimizeResult(
        # A copy, so that the returned arrays are writeable and own their memory.
        params=layout.unflatten(np.array(params)), outcome=outcome,
        loss_curve=records["loss"],
        history=(layout.unflatten(np.concatenate(history))
                 if settings.record_history else None),
        opt_state=state.opt_state, reference=float(state.reference),
        records=records, best_iter=best_iter,
        best_score=float(state.best_score) if validated else float("nan"))


def _report(name: str, state: LoopState, elapsed: float) -> None:
    grad_max = float(np.max(np.abs(np.asarray(state.grad)), initial=0.0))
    print(f"[{name}] iter {int(state.n_iter):7d}  loss {float(state.value):.8g}"
          f"  max|grad| {grad_max:.3g}  {elapsed:7.2f}s",
          flush=True)
