"""How every loop reports its end, and the one place that turns it into words.

Each of the engine's loops (full batch, mini-batch, row-wise) ends with an
:class:`Outcome`: why it stopped and the numbers that say how far it got.
:func:`settle` is the only code that turns an outcome into a
``ConvergenceWarning`` or an error, with a message that fits the solver.
"""

import enum
import os
import sys
import warnings
from dataclasses import dataclass

from sklearn.exceptions import ConvergenceWarning

from .solvers import solver_spec

__all__ = ["Outcome", "Status", "caller_stacklevel", "settle"]


class Status(enum.IntEnum):
    """Why a loop stopped (plain ints inside `jax.jit`)."""

    RUNNING = 0
    CONVERGED = 1
    MAX_ITER = 2
    DIVERGED = 3
    # Progress stopped short of `tol` (a failed line search, steps lost in
    # rounding): the point is as good as the working precision allows.
    STALLED = 4
    # Early stopping: the validation score has not improved for
    # n_iter_no_change iterations (a normal end).
    NO_IMPROVEMENT = 5
    # A callback asked to stop (a normal end).
    STOPPED_BY_CALLBACK = 6


@dataclass(frozen=True)
class Outcome:
    """The end of one loop.

    Attributes
    ----------
    status : Status
        Why it stopped; for a row-wise loop, the worst of its rows'.
    n_iter : int
        Iterations run (epochs when mini-batching; the most any row took in a
        row-wise loop).
    value : float
        Objective at the end (a row-wise loop: the largest row loss).
    grad_max : float
        Largest absolute gradient component at the end.
    tol : float
        The tolerance in force (after the rounding floor).
    solver : str
        Solver name.
    max_iter : int
        The cap on `n_iter`.
    learning_rate : float or None
        The step size, for solvers that use one.
    unit : str
        What an iteration is: "iterations" or "epochs".
    n_rows_at_cap : int
        Row-wise loops: rows that reached `max_iter`.
    n_rows : int
        Row-wise loops: rows minimised.
    expected_end : bool
        Reaching `max_iter` is the intended end (fixed step counts), not a
        reason to warn.
    reference : float
        The objective's reference level (its first value, or one carried
        over), against which a divergence was judged.
    smooth : bool
        Whether the objective was smooth; else `grad_max` is the largest
        distance of the negative gradient to the penalty's subdifferential.
    """

    status: Status
    n_iter: int
    value: float
    grad_max: float
    tol: float
    solver: str
    max_iter: int
    learning_rate: float | None = None
    unit: str = "iterations"
    n_rows_at_cap: int = 0
    n_rows: int = 0
    expected_end: bool = False
    reference: float = float("nan")
    smooth: bool = True

    @property
    def measure(self) -> str:
        """What `grad_max` measures, in words."""
        return ("largest gradient component" if self.smooth
                else "largest subdifferential residual")


def _divergence_message(name: str, outcome: Outcome) -> str:
    spec = solver_spec(outcome.solver)
    head = (f"{name} diverged at iteration {outcome.n_iter}: the objective reached "
            f"{outcome.value:.3g} (from {outcome.reference:.3g}).")
    if outcome.value < outcome.reference:
        # Falling without bound is the objective's doing, whatever the steps.
        return (f"{head} The objective is unbounded below: check the loss (a "
                "custom loss must be bounded below for the targets it is given; "
                "with standardize_targets it sees centred targets) and the data.")
    if spec.uses_learning_rate and outcome.learning_rate is not None:
        lr = float(outcome.learning_rate)
        return (f"{head} learning_rate={lr:g} is too large for "
                f"solver={outcome.solver!r}; try a smaller learning_rate, such "
                f"as {lr / 10:g}.")
    return (f"{head} solver={outcome.solver!r} chooses its own steps, so the "
            "objective itself is unbounded below or not finite here: check the "
            "loss (a custom loss must be bounded below) and the data for "
            "infinite or extreme values.")


def _convergence_message(name: str, outcome: Outcome) -> str:
    if outcome.status == Status.STALLED:
        return (f"{name} stopped after {outcome.n_iter} {outcome.unit}: "
                f"solver={outcome.solver!r} can lower the objective no further in "
                f"the working precision ({outcome.measure} "
                f"{outcome.grad_max:.3g}, tol={outcome.tol:.3g}). tol is below what "
                "rounding allows for this problem; the result is as accurate as "
                "the precision permits.")
    if outcome.n_rows:
        return (f"{name}: {outcome.n_rows_at_cap} of {outcome.n_rows} rows did not "
                f"converge in {outcome.max_iter} {outcome.unit}; they keep the best "
                "point found.")
    advice = "Increase max_iter"
    if solver_spec(outcome.solver).uses_learning_rate:
        advice += ", adjust learning_rate"
        if outcome.unit == "iterations":
            advice += (", or try solver='lbfgs'" if outcome.smooth
                       else ", or try solver='fista'")
    return (f"{name} did not converge in max_iter={outcome.max_iter} {outcome.unit} "
            f"({outcome.measure} {outcome.grad_max:.3g}, "
            f"tol={outcome.tol:.3g}). {advice}.")


def settle(outcome: Outcome, name: str) -> Outcome:
    """Raise for a divergence, warn for a missed tolerance; return the outcome.

    Parameters
    ----------
    outcome : Outcome
        How the loop ended.
    name : str
        Estimator name for messages.

    Returns
    -------
    Outcome
        The same outcome, when it is usable.

    Raises
    ------
    ValueError
        If the loop diverged: the message names the cause (the learning rate
        for solvers that take one, the objective or the data otherwise).
    """
    if outcome.status == Status.DIVERGED:
        raise ValueError(_divergence_message(name, outcome))
    short = outcome.status in (Status.MAX_ITER, Status.STALLED)
    if (short or outcome.n_rows_at_cap > 0) and not outcome.expected_end:
        warnings.warn(_convergence_message(name, outcome), ConvergenceWarning,
                      stacklevel=caller_stacklevel())
    return outcome


def caller_stacklevel() -> int:
    """Stack level of the first frame outside gradest and scikit-learn's wrappers.

    Warnings then point at the user's ``fit``, ``transform`` or
    ``fit_transform`` call, however deep the estimator code that raises them.
    scikit-learn wraps those methods twice: ``_fit_context``'s ``wrapper``
    (in ``sklearn/base.py``) and, for ``transform``, ``set_output``'s
    ``wrapped`` (in ``sklearn/utils/_set_output.py``); both are skipped.
    """
    package_dir = os.path.dirname(os.path.dirname(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith(package_dir)
        or _is_sklearn_method_wrapper(frame.f_code)
    ):
        frame, level = frame.f_back, level + 1
    return level


def _is_sklearn_method_wrapper(code) -> bool:
    """Whether `code` is one of scikit-learn's wrappers around an estimator method."""
    path = code.co_filename.replace(os.sep, "/")
    return "sklearn" in path and (
        code.co_name == "wrapper" or path.endswith("utils/_set_output.py"))
