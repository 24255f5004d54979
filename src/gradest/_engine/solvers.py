"""Solvers as values: a small table of what each one is and can do.

Estimators take the solver as a string (an optax object does not pickle and is
not a valid scikit-learn default). The engine looks the name up here and builds
the optax transformation inside the jitted loop, so the learning rate stays a
traced value and changing it never triggers a recompilation. Everything the
engine or an estimator needs to know about a solver is a field of its
:class:`SolverSpec`; no code outside this module compares solver names.

optax is imported on the first fit, not with gradest: it costs about 0.2 s,
more than the rest of ``import gradest`` together, and a process that only
loads a fitted model to predict never needs it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .fista import fista
from .proxnewton import prox_newton

__all__ = ["AUTO", "SOLVERS", "SolverSpec", "make_optimizer", "resolve_solver",
           "solver_spec"]

_MOMENTUM = 0.9
# The largest working set of the proximal Newton solver: its Hessian block is
# this square at most, of which an iteration computes only the slots in use
# (twice the support); a larger support is still reached, by working sets
# taken in turn, but slowly.
_WORKING_SET = 512
# Adam's and RMSprop's constants, stated here because the proximal steps
# below need them too (optax's defaults).
_ADAM_B2 = 0.999
_EPS = 1e-8


def _no_prox(x, step):
    return x


def _constant_step(learning_rate, opt_state):
    return learning_rate


def _momentum_step(learning_rate, opt_state):
    # At a fixed point the momentum trace is grad / (1 - momentum) (Nesterov's
    # update too), so a step of learning_rate / (1 - momentum) along grad.
    return learning_rate / (1 - _MOMENTUM)


def _state_of(opt_state, kind):
    import jax

    found = [leaf for leaf in jax.tree.leaves(
        opt_state, is_leaf=lambda node: isinstance(node, kind))
        if isinstance(leaf, kind)]
    return found[0]


def _adam_step(learning_rate, opt_state):
    import jax.numpy as jnp
    import optax

    state = _state_of(opt_state, optax.ScaleByAdamState)
    nu_hat = state.nu / (1 - _ADAM_B2 ** state.count.astype(state.nu.dtype))
    return learning_rate / (jnp.sqrt(nu_hat) + _EPS)


def _rmsprop_step(learning_rate, opt_state):
    import jax.numpy as jnp
    import optax

    state = _state_of(opt_state, optax.ScaleByRmsState)
    return learning_rate / jnp.sqrt(state.nu + _EPS)


@dataclass(frozen=True)
class SolverSpec:
    """One solver: how to build it and what it needs.

    Attributes
    ----------
    name : str
        The estimators' ``solver`` value.
    build : callable
        ``build(optax, learning_rate, prox) -> optax.GradientTransformation``,
        given the optax module and the proximal map ``prox(x, step)`` of the
        objective's nonsmooth penalty (the identity when it has none).
    full_batch_only : bool
        Only defined on the full objective (a line search needs it), so no
        mini-batches and no stepwise ``partial_fit``.
    reuses_line_search_values : bool
        Its state holds the value and gradient at the current point, which
        the loop reuses instead of evaluating again.
    uses_learning_rate : bool
        Whether ``learning_rate`` sets its step (else a line search does).
    monotone : bool
        Every step lowers the objective (a line search enforces it), so an
        objective that stops falling means the solver has stalled.
    build_convex : callable or None
        A cheaper `build` for objectives that declare themselves convex
        (``objective.convex``); None: `build` serves every objective.
    typical_iterations : int
        Iterations a fit usually ends within, which decides whether
        compiling or running dominates (see ``loop.chunk_function``); the
        first-order solvers often run thousands, so their loop is always
        optimised.
    needs_smooth : bool
        Its steps assume a continuously differentiable objective (curvature
        from differences of gradients, a line search's Wolfe conditions):
        at a kink it stalls short of the minimum.
    applies_prox : bool
        Takes proximal steps itself; otherwise the loop applies the
        penalty's proximal map after each step, with step `prox_step`.
    prox_step : callable
        ``prox_step(learning_rate, opt_state)``: the step (a scalar, or one
        per parameter) of the proximal map that follows an update, the step
        the update takes along the gradient at a fixed point, so that the
        fixed points of update-then-prox are the penalised minimisers:
        `learning_rate` for gradient descent, ``learning_rate / (1 -
        momentum)`` with momentum, Adam's and RMSprop's per-parameter steps
        (the learning rate over the root mean square of the gradient).
    handles_nonsmooth : bool
        Converges with a nonsmooth penalty (with the proximal map after its
        steps). A quasi-Newton model of the curvature does not: its line
        search assumes a gradient.
    needs_curvature : bool
        Its update takes the objective's Hessian on a few coordinates
        (``hessian_block``) and the penalty's flat strengths
        (``strengths``), which only some objectives give (see
        ``Problem.curvature``).
    """

    name: str
    build: Callable[[ModuleType, object], Any]
    full_batch_only: bool = False
    reuses_line_search_values: bool = False
    uses_learning_rate: bool = True
    monotone: bool = False
    needs_smooth: bool = False
    build_convex: Callable[[ModuleType, object, Callable], Any] | None = None
    typical_iterations: int = 2**31 - 1
    applies_prox: bool = False
    handles_nonsmooth: bool = True
    prox_step: Callable = _constant_step
    needs_curvature: bool = False


def _backtracking_lbfgs(optax: ModuleType, learning_rate: object, prox) -> Any:
    from .lbfgs import backtracking_lbfgs

    return backtracking_lbfgs()


_TABLE = (
    SolverSpec("gd", lambda optax, lr, prox: optax.sgd(lr)),
    SolverSpec("momentum",
               lambda optax, lr, prox: optax.sgd(lr, momentum=_MOMENTUM),
               prox_step=_momentum_step),
    SolverSpec("nesterov", lambda optax, lr, prox: optax.sgd(
        lr, momentum=_MOMENTUM, nesterov=True), prox_step=_momentum_step),
    SolverSpec("rmsprop", lambda optax, lr, prox: optax.rmsprop(lr, eps=_EPS),
               prox_step=_rmsprop_step),
    SolverSpec("adam", lambda optax, lr, prox: optax.adam(lr, b2=_ADAM_B2, eps=_EPS),
               prox_step=_adam_step),
    # The step length comes from a line search: optax's zoom (strong Wolfe
    # conditions, which a non-convex objective needs), or for a convex one
    # backtracking, which compiles in about half the time (see lbfgs.py).
    SolverSpec("lbfgs", lambda optax, lr, prox: optax.lbfgs(), full_batch_only=True,
               reuses_line_search_values=True, uses_learning_rate=False,
               monotone=True, needs_smooth=True, handles_nonsmooth=False,
               build_convex=_backtracking_lbfgs, typical_iterations=100),
    # Backtracking sets the step; the momentum makes the objective
    # non-monotone between restarts.
    SolverSpec("fista", lambda optax, lr, prox: fista(prox), full_batch_only=True,
               uses_learning_rate=False, applies_prox=True),
    # A line search on the model's minimiser: monotone; about ten iterations
    # on a sparse solution, so compiling dominates a small problem.
    SolverSpec("prox-newton", lambda optax, lr, prox: prox_newton(_WORKING_SET),
               full_batch_only=True, uses_learning_rate=False, monotone=True,
               applies_prox=True, needs_curvature=True, typical_iterations=20),
)
_BY_NAME: dict[str, SolverSpec] = {spec.name: spec for spec in _TABLE}

SOLVERS: tuple[str, ...] = tuple(_BY_NAME)
# The estimators' default: the engine picks a solver for the problem.
AUTO = "auto"
# What "auto" becomes: for a full-batch objective of a differentiable
# loss (or one minimised through its smooth surrogate) with a smooth
# penalty, L-BFGS, which reaches the default tolerance in tens to hundreds
# of iterations where a constant-step method needs more than max_iter on
# ordinary problems (benchmarks/defaults.py); Adam for mini-batches and for
# a user's loss, whose smoothness is not known; for a full-batch objective
# with a nonsmooth penalty, the proximal Newton method where the objective
# gives its curvature, else FISTA.
_AUTO_SMOOTH = "lbfgs"
_AUTO_STOCHASTIC = "adam"
_AUTO_NONSMOOTH = "fista"
_AUTO_NONSMOOTH_CURVED = "prox-newton"


def resolve_solver(solver: str, *, smooth: bool, full_batch: bool,
                   curvature: bool = False, differentiable: bool = False) -> str:
    """The solver to run: `solver`, or the engine's choice for "auto".

    Parameters
    ----------
    solver : str
        A name from :data:`SOLVERS`, or "auto".
    smooth : bool
        Whether the penalty is smooth (no nonsmooth term).
    full_batch : bool
        Whether the solver sees the full objective at every step.
    curvature : bool, default=False
        Whether the objective gives its Hessian on a few coordinates, as
        the solvers that :attr:`SolverSpec.needs_curvature` require.
    differentiable : bool, default=False
        Whether the loss is differentiable, or has a smooth surrogate that
        the fit minimises in its place (a built-in loss); False for a loss
        of unknown smoothness (a user's callable).

    Returns
    -------
    str
        A name from :data:`SOLVERS`.

    Raises
    ------
    ValueError
        If the name is unknown, or the solver cannot minimise a nonsmooth
        penalty and the objective has one.
    """
    if solver == AUTO:
        if not full_batch:
            return _AUTO_STOCHASTIC
        if smooth:
            return _AUTO_SMOOTH if differentiable else _AUTO_STOCHASTIC
        return _AUTO_NONSMOOTH_CURVED if curvature else _AUTO_NONSMOOTH
    spec = solver_spec(solver)
    if spec.needs_curvature and not curvature:
        raise ValueError(
            f"solver={solver!r} needs the Hessian of a convex loss of one output "
            "column (squared error, log-loss, a GLM family) without a "
            "concomitant scale; use 'fista' or 'auto' for this problem.")
    if not smooth and not spec.handles_nonsmooth:
        usable = [s.name for s in _TABLE if s.handles_nonsmooth]
        raise ValueError(
            f"solver={solver!r} needs a differentiable objective, but the penalty "
            f"is not differentiable at 0 (an L1 term); use one of {usable} or "
            f"'auto' (FISTA).")
    return solver


def solver_spec(solver: str) -> SolverSpec:
    """The :class:`SolverSpec` that `solver` names.

    Parameters
    ----------
    solver : str
        A name from :data:`SOLVERS`.

    Returns
    -------
    SolverSpec

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    try:
        return _BY_NAME[solver]
    except KeyError:
        raise ValueError(
            f"Unknown solver {solver!r}; expected one of {SOLVERS}.") from None


def make_optimizer(
    solver: str, learning_rate: object, prox: Callable | None = None,
    convex: bool = False
) -> Any:
    """Return the optax transformation that `solver` names.

    Parameters
    ----------
    solver : str
        Name of the update rule, from :data:`SOLVERS`.
    learning_rate : float or jax.Array
        Constant step size; a traced scalar inside `jax.jit`. Ignored by
        solvers whose step comes from a line search.
    prox : callable or None
        ``prox(x, step)``, the proximal map of the objective's nonsmooth
        penalty, for the solvers that take proximal steps themselves; None
        for the identity.
    convex : bool, default=False
        Whether the objective is convex, which lets some solvers take a
        cheaper form (:attr:`SolverSpec.build_convex`).

    Returns
    -------
    optax.GradientTransformationExtraArgs
        The transformation, accepting ``value``, ``grad`` and ``value_fn``
        keyword arguments whether it uses them or not.
    """
    from .lbfgs import ExtraArgsTransformation

    if prox is None:
        prox = _no_prox
    spec = solver_spec(solver)
    build = spec.build_convex if convex and spec.build_convex else spec.build
    transformation = build(_LazyOptax(), learning_rate, prox)
    if isinstance(transformation, ExtraArgsTransformation):
        return transformation
    import optax

    return optax.with_extra_args_support(transformation)


class _LazyOptax:
    """The optax module, imported when a solver's build first reads from it.

    Our own L-BFGS needs none of it, and a process whose fits use only that
    solver never imports optax.
    """

    def __getattr__(self, name):
        import optax

        return getattr(optax, name)
