"""What every gradest estimator shares: solver parameters and the call to the engine."""

import functools
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._engine import SOLVERS, MinimizeResult, Problem, Settings, minimize

__all__ = ["ENGINE_CONSTRAINTS", "GradientFitMixin", "atomic_fit", "atomic_update"]

ENGINE_CONSTRAINTS: dict = {
    "solver": [StrOptions(set(SOLVERS))],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def _fitted_names(estimator) -> list[str]:
    return [k for k in vars(estimator) if k.endswith("_") and not k.endswith("__")]


def atomic_fit(fit):
    """Leave the estimator unfitted if `fit` raises, never half-fitted.

    `validate_data` sets ``n_features_in_`` before the optimisation can fail,
    and a failed refit must not leave the previous model looking current.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            for name in _fitted_names(self):
                delattr(self, name)
            raise

    return wrapper


def atomic_update(partial_fit):
    """Leave the estimator exactly as it was if `partial_fit` raises.

    A bad chunk in a stream (wrong shape, a diverging step) must not cost the
    model learnt from the chunks before it.
    """

    @functools.wraps(partial_fit)
    def wrapper(self, *args, **kwargs):
        saved = {name: getattr(self, name) for name in _fitted_names(self)}
        try:
            return partial_fit(self, *args, **kwargs)
        except BaseException:
            for name in _fitted_names(self):
                delattr(self, name)
            vars(self).update(saved)
            raise

    return wrapper


class GradientFitMixin:
    """The one route from an estimator to the engine.

    Subclasses define ``solver``, ``learning_rate``, ``max_iter``, ``tol``,
    ``random_state`` and ``verbose`` (and may define ``batch_size`` and
    ``record_history``).
    """

    def _engine_settings(self, **options) -> Settings:
        """The estimator's solver parameters as engine settings; `options` override."""
        settings = Settings(
            solver=self.solver,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            tol=self.tol,
            batch_size=getattr(self, "batch_size", None),
            random_state=self.random_state,
            verbose=self.verbose,
            name=type(self).__name__,
            record_history=getattr(self, "record_history", False),
        )
        return settings.with_options(**options)

    def _minimize(self, objective, params, data, weights: np.ndarray,
                  hyper: dict, *, opt_state=None, n_samples: int | None = None,
                  **options) -> MinimizeResult:
        """Minimise `objective` from `params`; `options` override the settings.

        `n_samples` is :attr:`~gradest._engine.Problem.n_samples`.
        """
        return minimize(Problem(objective, params, data, weights, hyper, n_samples),
                        self._engine_settings(**options), opt_state=opt_state)
