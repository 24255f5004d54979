"""What every gradest estimator shares: solver parameters and the call to the engine."""

import functools
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._docstrings import fill_doc
from ._engine import SCHEDULES, SOLVERS, MinimizeResult, Problem, Settings, minimize
from ._engine.interrupts import noting_interrupts, raise_if_interrupted

__all__ = ["ENGINE_CONSTRAINTS", "GradientFitMixin", "atomic", "fit_history"]

ENGINE_CONSTRAINTS: dict = {
    "solver": [StrOptions(set(SOLVERS))],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "learning_rate_schedule": [StrOptions(set(SCHEDULES))],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "warmup_fraction": [Interval(Real, 0, 1, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "callbacks": [list, None],
}


def atomic(method):
    """Make a failed or interrupted fit leave the estimator exactly as it was.

    A first fit that raises leaves the estimator unfitted; a refit or a
    `partial_fit` call that raises (a diverging step, bad data) leaves the
    previous model exactly as it was. The whole instance dictionary is
    restored, not only the public fitted attributes: private state (a
    stream's moments and solver state, a UKR's training reconstructions)
    belongs to the model as much as ``coef_`` does, and ``validate_data``
    resets ``n_features_in_`` before the optimisation can fail. Fitting
    replaces attributes rather than changing them in place, so a shallow copy
    is a faithful snapshot. A KeyboardInterrupt is re-raised with a message
    saying so.

    Parameters
    ----------
    method : callable
        The estimator's ``fit(self, ...)`` or ``partial_fit(self, ...)``.

    Returns
    -------
    callable
        The wrapped method.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = dict(vars(self))
        try:
            with noting_interrupts():
                result = method(self, *args, **kwargs)
                # An interrupt that other code swallowed (see interrupts.py).
                raise_if_interrupted()
            return result
        except BaseException as exc:
            vars(self).clear()
            vars(self).update(saved)
            if isinstance(exc, KeyboardInterrupt):
                # Say what the interrupt did to the estimator: nothing.
                raise KeyboardInterrupt(
                    f"{type(self).__name__}.{method.__name__} was interrupted; "
                    "the estimator is left as it was before this call.") from exc
            raise

    return wrapper


class GradientFitMixin:
    """The one route from an estimator to the engine.

    Subclasses define ``solver``, ``learning_rate``, ``max_iter``, ``tol``,
    ``random_state``, ``verbose``, ``learning_rate_schedule``, ``power_t``,
    ``warmup_fraction``, ``n_iter_no_change`` and ``callbacks`` (and may define
    ``rtol``, ``batch_size``, ``shuffle`` and ``record_history``).

    The docstring of every class derived from it is filled when the class is
    created: each line ``%(name)s`` becomes the shared parameter text of
    that name (see :mod:`gradest._docstrings`).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("__doc__") is not None:
            cls.__doc__ = fill_doc(cls.__dict__["__doc__"])

    def _engine_settings(self, **options) -> Settings:
        """The estimator's solver parameters as engine settings; `options` override."""
        settings = Settings(
            solver=self.solver,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            tol=self.tol,
            rtol=getattr(self, "rtol", 0.0),
            batch_size=getattr(self, "batch_size", None),
            random_state=self.random_state,
            verbose=self.verbose,
            name=type(self).__name__,
            record_history=getattr(self, "record_history", False),
            schedule=self.learning_rate_schedule,
            power_t=self.power_t,
            warmup_fraction=self.warmup_fraction,
            n_iter_no_change=self.n_iter_no_change,
            shuffle=getattr(self, "shuffle", True),
            callbacks=_checked_callbacks(self.callbacks),
        )
        return settings.with_options(**options)

    def _minimize(self, objective, params, data, weights: np.ndarray,
                  hyper: dict, *, opt_state=None, penalty=None, score=None,
                  validation=None, **options) -> MinimizeResult:
        """Minimise `objective` (plus `penalty` on the coefficients) from `params`.

        `options` override the settings. With `score` and `validation`
        (``(data, weights)`` of held-out rows) the engine stops early on the
        score (see :class:`~._engine.Problem`).
        """
        return minimize(Problem(objective, params, data, weights, hyper,
                                penalty=penalty, score=score,
                                validation=validation),
                        self._engine_settings(**options), opt_state=opt_state)


def _checked_callbacks(callbacks) -> tuple:
    """`callbacks` as a tuple, each checked to be callable."""
    callbacks = tuple(callbacks or ())
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(
                f"callbacks must be a list of callables called with the history "
                f"so far, but it holds {callback!r} of type "
                f"{type(callback).__name__}.")
    return callbacks


def fit_history(result: MinimizeResult, dtype, previous: dict | None = None) -> dict:
    """The ``history_`` attribute: the engine's per-iteration records in NumPy.

    Parameters
    ----------
    result : MinimizeResult
        The fit's result.
    dtype : numpy dtype
        Of the losses, scores and rates (the fitted model's); times are
        float64 seconds.
    previous : dict or None
        An earlier history to continue (``partial_fit``): the new records are
        appended, their times counted on from its last.

    Returns
    -------
    dict of str to ndarray
        ``loss``, ``validation_score``, ``learning_rate`` and ``time``, one
        entry per iteration (epoch).
    """
    history = {key: np.asarray(values, dtype=np.float64 if key == "time" else dtype)
               for key, values in result.records.items()}
    if previous:
        offset = previous["time"][-1] if len(previous["time"]) else 0.0
        history = {key: np.concatenate(
            [previous[key], values + offset if key == "time" else values])
            for key, values in history.items()}
    return history
