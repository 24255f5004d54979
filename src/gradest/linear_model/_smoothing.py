"""Minimising a nonsmooth loss through its smooth surrogates, by continuation.

A solver that needs a differentiable objective ("lbfgs") minimises the
surrogate of each of a few shrinking widths from the minimiser of the one
before (see :meth:`SmoothedLossMixin._minimize_smoothed`).
"""

import warnings
from dataclasses import replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._engine import MinimizeResult, caller_stacklevel, solver_spec
from .._losses import smoothed_form
from ._objective import SMOOTHING, LinearObjective

__all__ = ["SmoothedLossMixin"]


class SmoothedLossMixin:
    """The continuation of a linear model (uses ``_minimize`` and ``max_iter``)."""

    def _minimize_smoothed(self, objective: LinearObjective, params, data, weights,
                           hyper, penalty=None, **options) -> MinimizeResult:
        """Minimise a non-smooth loss through its smooth surrogate, by continuation.

        The surrogate of each width in `_SMOOTHING_WIDTHS` (relative to the
        spread of the targets the solver sees) is minimised from the
        minimiser of the one before: the first is nearly quadratic and
        quickly solved, each later one starts close to its minimiser. The
        pinball objective of the last minimiser is within ``width * log(2)``
        of the minimum by construction, and much closer in practice (the
        rounded kink costs little where few residuals are near 0). Widths
        below `_SMOOTHING_FLOOR_ULPS` ulps are skipped. The
        stages share one compiled loop (the width is traced) and `max_iter`
        counts their iterations together; the loss curve is the surrogate's.
        `penalty` (a :class:`~gradest._penalties.PenaltySpec` or None) acts on
        the coefficients at every stage; `options` (the fit's resolved
        ``solver``) go to the engine.
        """
        smoothed = replace(objective, smoothed=True)
        spread = _spread(data[1], weights)
        floor = _SMOOTHING_FLOOR_ULPS * float(np.finfo(weights.dtype).eps)
        widths = [width for width in _SMOOTHING_WIDTHS if width >= floor]
        curves, n_iter, result = [], 0, None
        for stage, relative in enumerate(widths):
            if result is not None and n_iter >= self.max_iter:
                break
            last = stage == len(widths) - 1
            with warnings.catch_warnings():
                if not last:
                    # An earlier width only gives the next its start: its
                    # shortfalls are not the fit's.
                    warnings.simplefilter("ignore", ConvergenceWarning)
                result = self._minimize(
                    smoothed, params, data, weights,
                    {**hyper, SMOOTHING: relative * spread},
                    penalty=penalty, max_iter=self.max_iter - n_iter, **options)
            params, n_iter = result.params, n_iter + result.n_iter
            curves.append(result.loss_curve)
        if not last:
            # max_iter ended the continuation before its last width, whose
            # own warnings would have said so.
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                f"iterations: they ran out before smoothing width {relative:g} "
                f"(relative to the targets' spread) of the {len(widths)} widths "
                f"{', '.join(f'{w:g}' for w in widths)} by which the kinked loss "
                f"{objective.loss!r} is approached. Increase max_iter.",
                ConvergenceWarning, stacklevel=caller_stacklevel())
        return replace(result, outcome=replace(result.outcome, n_iter=n_iter),
                       loss_curve=np.concatenate(curves))


# Smoothing widths of a non-smooth loss's continuation, relative to the spread
# of the targets. Quantile regression, 20,000 x 20 at q=0.9 with heavy-tailed
# noise: each width takes lbfgs 11-56 iterations, and the pinball objective
# was 2.2e-5 above HiGHS's exact minimum after 1e-2, 2.4e-6 after 1e-3 and
# 2.6e-7 after 1e-4.
_SMOOTHING_WIDTHS = (1e-1, 1e-2, 1e-3, 1e-4)
# Narrower kinks than this many ulps of the working precision lose their
# curvature to rounding: in float32 (ulp 1.2e-7) lbfgs stalls at 1e-4 (while
# still lowering the objective a little), so float32 stops at 1e-3, where the
# same problem at 400 rows was 3e-5 above the minimum and at 20,000 rows 3e-7.
_SMOOTHING_FLOOR_ULPS = 1000


def _needs_smoothing(objective: LinearObjective, solver: str) -> bool:
    """Whether `solver` should minimise the smooth surrogate of the loss.

    The solvers that set their own steps by a line search ("lbfgs", and
    "fista", whose proximal steps take care of the penalty but whose
    backtracking needs a differentiable loss) do; FISTA on the kinks
    themselves ran out of max_iter=3,000 on 30-row pinball problems.
    """
    spec = solver_spec(solver)
    return ((spec.needs_smooth or not spec.uses_learning_rate)
            and smoothed_form(objective.loss) is not None)


def _spread(Y: np.ndarray, weights: np.ndarray) -> float:
    """Weighted standard deviation of Y's entries (1 when they are all equal)."""
    total = weights.sum()
    mean = (weights @ Y) / total
    spread = float(np.sqrt(np.mean((weights @ (Y - mean) ** 2) / total)))
    return spread if spread > 0 else 1.0
