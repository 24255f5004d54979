"""The statement of a row-wise problem: :class:`RowProblem` and its penalty.

What :mod:`.rowwise` minimises, one small problem per query row, and the
traced parameters its compiled loops read (the loss's and the ridge weight).
"""

from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

__all__ = ["RowProblem", "ridge_terms", "traced_hyper"]


@dataclass(frozen=True)
class RowProblem:
    """Per-row problems ``min_z loss(x_i, model(z, fitted)) + ridge * |z|^2``.

    Attributes
    ----------
    model : callable
        ``model(Zq, fitted) -> F``, hashable (a frozen dataclass); row i of F
        depends on row i of Zq only.
    loss : str or callable
        A loss of :func:`gradest._losses.sample_losses`.
    fitted : tuple of ndarray
        What the model needs besides Zq (padded training arrays), the same
        for every row.
    hyper : dict
        Traced loss parameters.
    project : callable or None, default=None
        ``project(Zq, fitted) -> Zq``, hashable: the nearest point of each
        row's feasible set, row by row, and each row unchanged (bit for bit)
        where it is feasible. Method "lm" projects every trial point, method
        "adam" its end point; the starts must be feasible. None leaves the
        rows free.
    ridge : float, default=0.0
        Weight of a penalty on the squared norm of each row's parameters
        (a fitted model's own penalty on its latent points), traced.
    """

    model: Any
    loss: Any
    fitted: tuple
    hyper: dict
    project: Any = None
    ridge: float = 0.0


# The key under which the ridge weight rides in the traced parameters.
_RIDGE = "_row_ridge"


def ridge_terms(Zq, hyper):
    """The ridge penalty of each row, its gradient and its Hessian's diagonal."""
    ridge = hyper[_RIDGE]
    return ridge * jnp.sum(jnp.square(Zq), axis=1), 2 * ridge * Zq, 2 * ridge


def traced_hyper(problem: RowProblem, dtype) -> dict:
    """The loss's traced parameters and the ridge weight."""
    return {**problem.hyper, _RIDGE: np.asarray(problem.ridge, dtype)}
