"""Many fits of the linear models as one batched minimisation.

A search (folds x candidates) states its members as estimators and the rows
each is fitted on. :func:`fit_members` runs every member's own fit path
(validation, standardisation, starting point) up to the point where it would
call the engine, collects the problems, minimises them together with
:func:`~gradest._engine.batched.minimize_batched` and then lets each fit
path map its own result back. Each member therefore ends exactly where its
separate ``fit`` would, but all of them share one compiled loop.
"""

from typing import Any

from .._engine import Problem, minimize_batched
from .._shared import shared_results

__all__ = ["fit_members"]


class _Captured(Exception):
    """Raised from inside a fit path with the problem it was about to minimise."""

    def __init__(self, problem: Problem, settings: Any):
        super().__init__("captured")
        self.problem = problem
        self.settings = settings


def _capture(estimator) -> None:
    def capture(objective, params, data, weights, hyper, *, opt_state=None,
                penalty=None, score=None, validation=None, **options):
        if opt_state is not None:
            # A continued fit: nothing to batch, run it as it is.
            return type(estimator)._minimize(
                estimator, objective, params, data, weights, hyper,
                opt_state=opt_state, penalty=penalty, score=score,
                validation=validation, **options)
        raise _Captured(Problem(objective, params, data, weights, hyper,
                                penalty=penalty, score=score, validation=validation),
                        estimator._engine_settings(**options))

    estimator._minimize = capture


def _replay(estimator, result) -> None:
    def replay(*args, **kwargs):
        # The first call is the captured one; a fit path that minimises
        # again (a smoothing continuation) runs the rest itself.
        del estimator._minimize
        if isinstance(result, Exception):
            raise result
        return result

    estimator._minimize = replay


def fit_members(estimators: list, fits: list[tuple], lanes: list | None = None) -> list:
    """:func:`_fit_members`, the members sharing what depends on their rows only."""
    with shared_results():
        return _fit_members(estimators, fits, lanes)


def _fit_members(estimators: list, fits: list[tuple], lanes: list | None) -> list:
    """Fit ``estimators[k]`` with the arguments ``fits[k]`` (``X, y, weight``).

    Members of one of `lanes` (the folds of a candidate) are batched together
    (see :func:`~gradest._engine.batched.minimize_batched`).

    Returns, per member, the fitted estimator or the exception its fit raised
    (a diverging candidate, a fold with a single class), so that the caller
    decides how a failed member counts.
    """
    outcomes: list = [None] * len(estimators)
    captured: dict[int, _Captured] = {}
    for k, (estimator, args) in enumerate(zip(estimators, fits, strict=True)):
        _capture(estimator)
        try:
            estimator.fit(*args)
            outcomes[k] = estimator
        except _Captured as capture:
            captured[k] = capture
        except (ValueError, TypeError, ArithmeticError) as error:
            outcomes[k] = error
        finally:
            estimator.__dict__.pop("_minimize", None)
    order = sorted(captured)
    results = minimize_batched([captured[k].problem for k in order],
                               [captured[k].settings for k in order],
                               None if lanes is None else [lanes[k] for k in order])
    for k, result in zip(order, results, strict=True):
        estimator = estimators[k]
        _replay(estimator, result)
        try:
            estimator.fit(*fits[k])
            outcomes[k] = estimator
        except (ValueError, TypeError, ArithmeticError) as error:
            outcomes[k] = error
        finally:
            estimator.__dict__.pop("_minimize", None)
    return outcomes
