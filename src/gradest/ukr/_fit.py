"""Fitting UKR's latent points: standardisation, the choice of start, minimisation.

:func:`fit_latent_points` is the numerics of :meth:`UKR.fit
<gradest.UKR.fit>` between validating the data and keeping the fitted
attributes; the estimator passed to it supplies the parameters and the
engine (its ``_minimize``).
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._scaling import fit_standardization, identity_standardization, standardize
from . import _init
from ._init import auto_alpha, start_finalists
from ._reconstruction import UKRObjective, padded_model

__all__ = ["fit_latent_points"]


def fit_latent_points(estimator, X):
    """Fit the latent points of the UKR `estimator` to the validated array `X`.

    Parameters
    ----------
    estimator : UKR
        The estimator being fitted.
    X : ndarray of shape (n_samples, n_features)
        Training data, validated.

    Returns
    -------
    result : MinimizeResult
        The engine's result; the first n_samples rows of its ``params`` (and
        of its ``history``) are the latent points, the rest padding.
    alpha : float
        The penalty weight used: `alpha`, or the one "auto" chose.
    stats : Standardization
        The standardisation of the features (the identity without
        ``standardize``).
    X_std : ndarray of shape (n_samples, n_features)
        The standardised data.
    """
    n_samples, n_features = X.shape
    if estimator.standardize:
        stats = fit_standardization(X, np.ones(n_samples, X.dtype),
                                    center=True, scale=True)
    else:
        stats = identity_standardization(n_features, X.dtype)
    X_std = standardize(X, stats, center=estimator.standardize)

    objective = UKRObjective(estimator.kernel, estimator.loss, estimator.loo)
    starts = start_finalists(estimator, X_std)
    alpha = (auto_alpha(X_std, estimator, starts[0]) if estimator.alpha == "auto"
             else float(estimator.alpha))
    hyper = {"alpha": alpha, "epsilon": estimator.epsilon}
    options = dict(
        # tol is on the summed loss, so that it means the same at any
        # n_samples; the engine's is on the mean objective.
        tol=estimator.tol / n_samples,
        # Tiny random latents sit where the objective is nearly flat; one
        # step spreads them out before the gradient test applies.
        min_iter=(1 if isinstance(estimator.init, str) and estimator.init == "random"
                  else 0))
    if len(starts) > 1:
        # Rival starts: the objective after a few iterations is the judge.
        starts = [min(starts, key=lambda Z: _objective_after(
            estimator, objective, Z, X_std, hyper, **options))]
    Z_fit, X_fit, weights = padded_model(starts[0], X_std, estimator.loss)
    result = estimator._minimize(objective, Z_fit, X_fit, weights, hyper, **options)
    return result, alpha, stats, X_std


def _objective_after(estimator, objective, Z0, X_std, hyper, **options) -> float:
    """The objective after :data:`._init._RIVAL_ITERATIONS` iterations from `Z0`.

    Silent (no progress, callbacks, history or ConvergenceWarning); a
    start whose first iterations diverge scores infinity.
    """
    Z_fit, X_fit, weights = padded_model(Z0, X_std, estimator.loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            result = estimator._minimize(
                objective, Z_fit, X_fit, weights, hyper,
                max_iter=min(estimator.max_iter, _init._RIVAL_ITERATIONS),
                verbose=0, callbacks=(), record_history=False, **options)
        except ValueError:
            return np.inf
    value = result.outcome.value
    return value if np.isfinite(value) else np.inf
