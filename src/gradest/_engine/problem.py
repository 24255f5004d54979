"""The value types of a minimisation: what to minimise, how, and what was found.

An estimator states a :class:`Problem`: an objective
``objective(params, data, weights, hyper)`` (a scalar, written with
``jax.numpy``, of a parameter pytree, a pytree of per-sample arrays, a vector of
per-sample weights and a dict of traced hyperparameters) and its starting
point. :class:`Settings` hold the estimator's solver parameters.
:func:`~.minimize.minimize` takes both and returns a :class:`MinimizeResult`,
whose records have the columns :data:`HISTORY_KEYS`.
"""

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .loop import DEFAULT_CHUNK_SIZE
from .outcome import Outcome, Status

__all__ = ["HISTORY_KEYS", "MinimizeResult", "Problem", "Settings"]

# The columns of a fit's history, one entry per iteration (epoch).
HISTORY_KEYS = ("loss", "validation_score", "learning_rate", "time")


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
    def differentiable(self) -> bool:
        """Whether the objective declares itself differentiable, so that
        "auto" may choose a quasi-Newton solver (default: not)."""
        return bool(getattr(self.objective, "differentiable", False))

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
        A name from :data:`~gradest._engine.solvers.SOLVERS`, or "auto" (see
        :func:`~gradest._engine.solvers.resolve_solver`): on full batches,
        L-BFGS for a differentiable objective (``Problem.differentiable``),
        the proximal Newton method or FISTA with a nonsmooth penalty; Adam
        for mini-batches and objectives of unknown smoothness.
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
        :data:`~gradest._engine.iterations.PROGRESS_WINDOW` (10) iterations: the
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
    """What :func:`~.minimize.minimize` found.

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
