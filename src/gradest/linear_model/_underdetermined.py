"""The warning that an unpenalised linear regression has too few samples.

With ``alpha=0`` and fewer samples of positive weight than coefficients,
many coefficient vectors fit the data equally well; ``fit`` says so, and
which of them the solver that runs returns.
"""

import warnings

import numpy as np

from .._engine import is_sparse

__all__ = ["warn_if_underdetermined"]


def warn_if_underdetermined(estimator, X, sample_weight, solver):
    """Warn when the data cannot determine the coefficients (no penalty).

    Only the certain case, too few rows, is detected: collinear columns
    would need a factorisation of X. `solver` is the solver that runs
    ("auto" resolved), which the warning names.
    """
    if any(strength > 0 for strength in estimator._penalty_terms()[1:3]):
        return
    n_free = int(np.count_nonzero(sample_weight)) - int(estimator.fit_intercept)
    if n_free >= X.shape[1]:
        return
    n_varying = X.shape[1]
    if estimator.fit_intercept:
        # Columns constant on the weighted rows get coefficient 0 anyway.
        rows = X[sample_weight > 0]
        if is_sparse(rows):
            # Varying: the column's largest and smallest values differ.
            spread = rows.max(axis=0) - rows.min(axis=0)
            n_varying = int(spread.count_nonzero())
        else:
            n_varying = int(np.count_nonzero(np.any(rows != rows[:1], axis=0)))
    if n_free >= n_varying:
        return
    warnings.warn(
        f"{type(estimator).__name__}: {n_free + int(estimator.fit_intercept)} samples "
        f"of positive weight cannot determine {n_varying} coefficients, and "
        "with alpha=0 many coefficient vectors fit them equally well; "
        f"solver={solver!r} returns one of them, LinearRegression the "
        "one of minimum norm in the units of X. Set alpha > 0 for a unique "
        "solution, or solver='lbfgs' for the minimum-norm solution in "
        "standardised units (LinearRegression's when all features have the "
        "same standard deviation).", UserWarning, stacklevel=2)
