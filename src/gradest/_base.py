"""What every gradest estimator shares: solver parameters and the call to the engine."""

import functools
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._engine import SOLVERS, MinimizeResult, Problem, Settings, minimize

__all__ = ["ENGINE_CONSTRAINTS", "GradientFitMixin", "atomic"]

ENGINE_CONSTRAINTS: dict = {
    "solver": [StrOptions(set(SOLVERS))],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
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
            return method(self, *args, **kwargs)
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
    ``random_state`` and ``verbose`` (and may define ``rtol``, ``batch_size``
    and ``record_history``).
    """

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
        )
        return settings.with_options(**options)

    def _minimize(self, objective, params, data, weights: np.ndarray,
                  hyper: dict, *, opt_state=None, **options) -> MinimizeResult:
        """Minimise `objective` from `params`; `options` override the settings."""
        return minimize(Problem(objective, params, data, weights, hyper),
                        self._engine_settings(**options), opt_state=opt_state)
