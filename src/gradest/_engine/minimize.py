"""The engine's front: one call from an estimator's objective to its minimiser.

An estimator states a :class:`Problem`: an objective
``objective(params, data, weights, hyper)`` (a scalar, written with
``jax.numpy``, of a parameter pytree, a pytree of per-sample arrays, a vector of
per-sample weights and a dict of traced hyperparameters) and its starting
point. :class:`Settings` hold the estimator's solver parameters.
:func:`minimize` does everything else: precision, placement, the compiled
loop, progress, the loss curve, the history of iterates and the outcome.

Everything outside the compiled loop is NumPy: a JAX operation run eagerly
compiles a small program of its own the first time it meets a shape, which
would cost a new problem more than the loop itself.
"""

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import jax
import numpy as np
from sklearn.utils import check_random_state

from . import placement
from .data import float_dtype, precision
from .interrupts import raise_if_interrupted
from .loop import (
    DEFAULT_CHUNK_SIZE,
    Controls,
    Layout,
    LoopState,
    chunk_function,
    initial_state,
    placeholder_opt_state,
)
from .outcome import Outcome, Status, settle
from .solvers import resolve_solver, solver_spec

__all__ = ["HISTORY_KEYS", "MinimizeResult", "Problem", "Settings", "minimize"]

# The columns of a fit's history, one entry per iteration (epoch).
HISTORY_KEYS = ("loss", "validation_score", "learning_rate", "time")

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


@dataclass(frozen=True)
class Problem:
    """What to minimise, from where.

    Attributes
    ----------
    objective : callable
        ``objective(params, data, weights, hyper) -> scalar``; hashable (a
        module-level function or a frozen dataclass), so that the compiled
        loop is cached across fits.
    params : pytree of ndarray
        Starting point.
    data : pytree of ndarray
        Per-sample arrays, each with n_samples rows.
    weights : ndarray of shape (n_samples,)
        Per-sample weights; their dtype (float32 or float64) sets the
        precision of the whole fit. The objective must be a weighted mean, so
        that rows of zero weight (padding) do not count.
    hyper : dict of str to float or ndarray
        Hyperparameters of the objective and the penalty, passed as traced
        values.
    penalty : PenaltySpec or None
        A penalty of :mod:`gradest._penalties` on the parameters named in
        `penalized`, with its strengths in `hyper`; `objective` is then the
        rest of the objective. A smooth penalty is added to `objective`; a
        nonsmooth one is minimised by proximal steps, and the loop stops on
        its optimality measure instead of the gradient.
    penalized : tuple of str
        The keys of `params` (a dict) that `penalty` acts on.
    score : callable or None
        ``score(params, data, weights, hyper) -> scalar``, higher is better
        (R^2, accuracy), hashable like `objective`: with `validation`, the
        loop scores every iterate on the validation rows and stops early
        once the score has not improved for ``n_iter_no_change``
        iterations, returning the best iterate.
    validation : tuple or None
        ``(data, weights)`` of the held-out rows `score` is evaluated on.

    An objective with a true attribute ``convex`` declares itself convex in
    the parameters, which lets a solver take a cheaper form (L-BFGS with a
    backtracking line search instead of zoom).
    """

    objective: Any
    params: Any
    data: Any
    weights: np.ndarray
    hyper: dict = field(default_factory=dict)
    penalty: Any = None
    penalized: tuple[str, ...] = ("coef",)
    score: Any = None
    validation: Any = None

    @property
    def smooth(self) -> bool:
        """Whether the objective is smooth (a nonsmooth penalty makes it not)."""
        return self.penalty is None or self.penalty.smooth

    @property
    def convex(self) -> bool:
        """Whether the objective declares itself convex (default: not)."""
        return bool(getattr(self.objective, "convex", False))

    @property
    def curvature(self) -> bool:
        """Whether the objective gives its Hessian on a few coordinates
        (``hessian_block``, where ``has_curvature(params)`` says it applies),
        as the solvers that ``needs_curvature`` require."""
        has_curvature = getattr(self.objective, "has_curvature", None)
        return bool(has_curvature is not None and has_curvature(self.params))


@dataclass(frozen=True)
class Settings:
    """How to minimise: an estimator's solver parameters, and the engine's own.

    Attributes
    ----------
    solver : str
        A name from :data:`~gradest._engine.solvers.SOLVERS`, or "auto": FISTA
        for a full-batch problem with a nonsmooth penalty, Adam otherwise.
    learning_rate : float
        Step size of the first-order solvers, and of the proximal map that
        follows their steps.
    max_iter : int
        Most iterations (epochs when mini-batching).
    tol : float
        Full batch: stop once every gradient component (with a nonsmooth
        penalty: of the subdifferential residual) is at most `tol` in
        absolute value (raised to ``eps`` of the working precision, a few
        times the rounding noise of the gradient). Mini-batches:
        stop once the epoch's mean objective has not improved by
        ``tol * max(1, |best|)`` for `n_iter_no_change` epochs in a row.
        With a validation score: the improvement it must make.
        ``tol * max(1, |best|)`` for 5 epochs in a row.
    rtol : float
        Full batch only: also stop once the objective has fallen by at most
        ``rtol * |value|`` per iteration, on average over the last
        :data:`~gradest._engine.loop.PROGRESS_WINDOW` (10) iterations: the
        relative progress of a fit whose gradient test is out of reach; 0
        turns the test off.
    batch_size : int or None
        None for full-batch steps, else shuffled mini-batches of that size.
    random_state : int, RandomState or None
        Source of the shuffling seed.
    verbose : int
        0 silent; 1 a progress line about every second and a summary; 2 a
        line per chunk of iterations.
    name : str
        Estimator name for messages.
    min_iter : int
        Iterations taken before the gradient test may stop the loop: a start
        that is merely flat (tiny random latent points) still moves.
    fixed_steps : bool
        Run exactly `max_iter` iterations: `tol` is ignored and reaching
        `max_iter` is the intended end, not a ConvergenceWarning.
    record_history : bool
        Keep every iterate (memory: ``max_iter`` copies of the parameters).
    chunk_size : int
        Most iterations per compiled chunk.
    reference : float or None
        The objective's reference level for divergence tests, carried over
        from earlier calls (``partial_fit``); None: the first objective value.
    schedule : str
        Learning-rate schedule, from
        :data:`~gradest._engine.schedules.SCHEDULES`.
    power_t : float
        Exponent of the "invscaling" schedule.
    warmup_fraction : float
        Fraction of the steps spent warming up in "warmup_cosine".
    n_iter_no_change : int
        Iterations (epochs) without improvement by `tol` after which
        mini-batch training (or, with a validation score, any training)
        stops, and "adaptive" divides its rate.
    shuffle : bool
        Shuffle the rows before each epoch of mini-batches.
    callbacks : tuple of callable
        Called between compiled chunks with the history so far (a dict of
        NumPy arrays, see :data:`HISTORY_KEYS`); one returning True stops
        the fit with the current parameters.
    """

    solver: str = "adam"
    learning_rate: float = 0.05
    max_iter: int = 1000
    tol: float = 0.0
    rtol: float = 0.0
    batch_size: int | None = None
    random_state: Any = None
    verbose: int = 0
    name: str = "estimator"
    min_iter: int = 0
    fixed_steps: bool = False
    record_history: bool = False
    chunk_size: int = DEFAULT_CHUNK_SIZE
    reference: float | None = None
    schedule: str = "constant"
    power_t: float = 0.25
    warmup_fraction: float = 0.1
    n_iter_no_change: int = 5
    shuffle: bool = True
    callbacks: tuple = ()

    def with_options(self, **options: Any) -> "Settings":
        """A copy with some fields replaced."""
        return replace(self, **options)


@dataclass(frozen=True)
class MinimizeResult:
    """What :func:`minimize` found.

    Attributes
    ----------
    params : pytree of ndarray
        The parameters at the last iteration, as NumPy arrays.
    outcome : Outcome
        Why and where the loop stopped.
    loss_curve : ndarray of shape (n_iter,)
        Objective at the start of each iteration, where its gradient was
        taken (mean mini-batch objective per epoch).
    history : pytree of ndarray or None
        With ``record_history=True``, each parameter stacked over iterations,
        the initial parameters first.
    opt_state : pytree of ndarray
        The solver's state at the end, to continue from (``partial_fit``).
    reference : float
        The reference level the divergence tests used, to carry over.
    records : dict of str to ndarray
        Per iteration (epoch): the objective, the validation score (NaN
        without validation), the learning rate in force (NaN for solvers
        that choose their own steps) and the wall time since the start, in
        seconds (measured between compiled chunks and spread evenly over
        each chunk's iterations). Keys :data:`HISTORY_KEYS`.
    best_iter : int
        With validation: the iteration (1-based) whose parameters are
        returned, the best-scoring; else 0.
    best_score : float
        With validation: its score; else NaN.
    """

    params: Any
    outcome: Outcome
    loss_curve: np.ndarray
    history: Any = None
    opt_state: Any = None
    reference: float = float("nan")
    records: dict = field(default_factory=dict)
    best_iter: int = 0
    best_score: float = float("nan")

    @property
    def n_iter(self) -> int:
        """Iterations run (epochs when mini-batching)."""
        return self.outcome.n_iter

    @property
    def status(self) -> Status:
        """Why the loop stopped."""
        return self.outcome.status

    @property
    def grad_max(self) -> float:
        """Largest absolute gradient component at the end."""
        return self.outcome.grad_max


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
        full_batch=settings.batch_size is None, curvature=problem.curvature))
    with precision(dtype):
        run = _prepare(problem, settings, opt_state)
        state, records, history = _drive(run, settings, fresh=opt_state is None)
    spec = solver_spec(settings.solver)
    outcome = Outcome(
        status=Status(int(state.status)), n_iter=int(state.n_iter),
        value=float(state.value),
        grad_max=float(np.max(np.abs(state.grad), initial=0.0)), tol=run.tol,
        solver=settings.solver, max_iter=settings.max_iter,
        learning_rate=settings.learning_rate if spec.uses_learning_rate else None,
        unit="epochs" if settings.batch_size is not None else "iterations",
        expected_end=settings.fixed_steps, reference=float(state.reference),
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
