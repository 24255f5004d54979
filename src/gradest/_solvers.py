"""Solvers as values: each name maps to one optax gradient transformation.

Estimators take the solver as a string (an optax object does not pickle and is
not a valid scikit-learn default), and the engine builds the transformation
inside the jitted loop, so the learning rate stays a traced value and changing
it never triggers a recompilation.
"""

from collections.abc import Callable

import optax

__all__ = ["SOLVERS", "make_optimizer", "needs_full_batch"]

_MOMENTUM = 0.9

_FACTORIES: dict[str, Callable[[object], optax.GradientTransformation]] = {
    "gd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=_MOMENTUM),
    "nesterov": lambda lr: optax.sgd(lr, momentum=_MOMENTUM, nesterov=True),
    "rmsprop": lambda lr: optax.rmsprop(lr),
    "adam": lambda lr: optax.adam(lr),
    # The step length comes from the zoom line search, so the learning rate
    # is deliberately not used.
    "lbfgs": lambda lr: optax.lbfgs(),
}

SOLVERS: tuple[str, ...] = tuple(_FACTORIES)


def make_optimizer(
    solver: str, learning_rate: object
) -> optax.GradientTransformationExtraArgs:
    """Return the optax transformation that `solver` names.

    Parameters
    ----------
    solver : {"gd", "momentum", "nesterov", "rmsprop", "adam", "lbfgs"}
        Name of the update rule.
    learning_rate : float or jax.Array
        Constant step size; a traced scalar inside `jax.jit`. Ignored by
        ``"lbfgs"``, whose step comes from its line search.

    Returns
    -------
    optax.GradientTransformationExtraArgs
        The transformation, accepting ``value``, ``grad`` and ``value_fn``
        keyword arguments whether it uses them or not.
    """
    try:
        factory = _FACTORIES[solver]
    except KeyError:
        raise ValueError(
            f"Unknown solver {solver!r}; expected one of {SOLVERS}."
        ) from None
    return optax.with_extra_args_support(factory(learning_rate))


def needs_full_batch(solver: str) -> bool:
    """Whether `solver` is only defined on the full objective (no mini-batches)."""
    return solver == "lbfgs"
