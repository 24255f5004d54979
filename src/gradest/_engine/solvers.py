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

__all__ = ["SOLVERS", "SolverSpec", "make_optimizer", "solver_spec"]

_MOMENTUM = 0.9


@dataclass(frozen=True)
class SolverSpec:
    """One solver: how to build it and what it needs.

    Attributes
    ----------
    name : str
        The estimators' ``solver`` value.
    build : callable
        ``build(optax, learning_rate) -> optax.GradientTransformation``, given
        the optax module.
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
    """

    name: str
    build: Callable[[ModuleType, object], Any]
    full_batch_only: bool = False
    reuses_line_search_values: bool = False
    uses_learning_rate: bool = True
    monotone: bool = False
    needs_smooth: bool = False
    build_convex: Callable[[ModuleType, object], Any] | None = None
    typical_iterations: int = 2**31 - 1


def _backtracking_lbfgs(optax: ModuleType, learning_rate: object) -> Any:
    from .lbfgs import backtracking_lbfgs

    return backtracking_lbfgs()


_TABLE = (
    SolverSpec("gd", lambda optax, lr: optax.sgd(lr)),
    SolverSpec("momentum", lambda optax, lr: optax.sgd(lr, momentum=_MOMENTUM)),
    SolverSpec("nesterov",
               lambda optax, lr: optax.sgd(lr, momentum=_MOMENTUM, nesterov=True)),
    SolverSpec("rmsprop", lambda optax, lr: optax.rmsprop(lr)),
    SolverSpec("adam", lambda optax, lr: optax.adam(lr)),
    # The step length comes from a line search: optax's zoom (strong Wolfe
    # conditions, which a non-convex objective needs), or for a convex one
    # backtracking, which compiles in about half the time (see lbfgs.py).
    SolverSpec("lbfgs", lambda optax, lr: optax.lbfgs(), full_batch_only=True,
               reuses_line_search_values=True, uses_learning_rate=False,
               monotone=True, needs_smooth=True, build_convex=_backtracking_lbfgs,
               typical_iterations=100),
)
_BY_NAME: dict[str, SolverSpec] = {spec.name: spec for spec in _TABLE}

SOLVERS: tuple[str, ...] = tuple(_BY_NAME)


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
    solver: str, learning_rate: object, convex: bool = False
) -> Any:
    """Return the optax transformation that `solver` names.

    Parameters
    ----------
    solver : str
        Name of the update rule, from :data:`SOLVERS`.
    learning_rate : float or jax.Array
        Constant step size; a traced scalar inside `jax.jit`. Ignored by
        solvers whose step comes from a line search.
    convex : bool, default=False
        Whether the objective is convex, which lets some solvers take a
        cheaper form (:attr:`SolverSpec.build_convex`).

    Returns
    -------
    optax.GradientTransformationExtraArgs
        The transformation, accepting ``value``, ``grad`` and ``value_fn``
        keyword arguments whether it uses them or not.
    """
    import optax

    spec = solver_spec(solver)
    build = spec.build_convex if convex and spec.build_convex else spec.build
    transformation = build(optax, learning_rate)
    return optax.with_extra_args_support(transformation)
