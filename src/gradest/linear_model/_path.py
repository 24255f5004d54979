"""path: the coefficients of GradLinearRegression along a grid of penalties.

Like :func:`sklearn.linear_model.lasso_path` and ``enet_path``, for every
loss and penalty of :class:`~gradest.GradLinearRegression`: one member per
penalty, all fitted as one batched minimisation (:mod:`._members`), each
equal to its own ``fit``.
"""

import numpy as np
import scipy.sparse
from sklearn.utils.validation import _check_sample_weight, check_X_y

from ._fit import FLOAT_DTYPES, SPARSE_FORMATS
from ._members import fit_members
from ._regression import GradLinearRegression

__all__ = ["alpha_max", "path"]


def alpha_max(X, y, *, sample_weight=None, l1_ratio=1.0, fit_intercept=True,
              standardize="auto") -> float:
    """The smallest L1 (elastic net) `alpha` at which every coefficient is zero.

    For squared error in gradest's convention: the penalty acts on the
    coefficients of standardised X (with `standardize`; "auto" standardises
    dense X and not sparse X, as the estimators do), added to the
    weighted mean loss; the largest gradient component of that loss at zero
    coefficients (the intercept at the weighted mean of y) divided by
    `l1_ratio`.
    """
    X, y = check_X_y(X, y, accept_sparse=SPARSE_FORMATS, dtype=FLOAT_DTYPES,
                     multi_output=True)
    weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    total = weight.sum()
    column_mean = np.asarray(weight @ X).ravel() / total
    second = np.asarray(weight @ (X.multiply(X) if hasattr(X, "multiply")
                                  else X * X)).ravel() / total
    mean = column_mean if fit_intercept else np.zeros(X.shape[1])
    # The weighted cross-product of centred columns and centred targets.
    y_mean = (weight @ Y / weight.sum()) if fit_intercept else np.zeros(Y.shape[1])
    residual = (Y - y_mean) * weight[:, None]
    cross = np.asarray(X.T @ residual) - np.outer(mean, residual.sum(axis=0))
    if standardize == "auto":
        standardize = not scipy.sparse.issparse(X)
    if standardize:
        # The weighted standard deviation, by which standardisation divides.
        scale = np.sqrt(np.maximum(second - column_mean ** 2, 0))
        cross = cross / np.where(scale > 0, scale, 1.0)[:, None]
    # Several outputs: the largest row norm (a coefficient of every output).
    largest = np.max(np.linalg.norm(cross, axis=1))
    return float(largest / (total * l1_ratio))


def path(X, y, *, alphas=None, n_alphas=100, eps=1e-3, sample_weight=None,
         **params):
    """Coefficients along a grid of penalties, in the user's units.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    alphas : array-like of float or None, default=None
        The penalties, in the convention of :class:`~gradest.GradLinearRegression`.
        None, for ``penalty="l1"`` or ``"elasticnet"`` with squared error:
        `n_alphas` values spaced logarithmically from :func:`alpha_max` down
        to ``eps * alpha_max``, as ``lasso_path``.
    n_alphas : int, default=100
        Length of the grid when `alphas` is None.
    eps : float, default=1e-3
        Its smallest value relative to the largest.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights of every fit.
    **params
        Parameters of :class:`~gradest.GradLinearRegression` (loss, penalty,
        solver, ...), the same for every fit.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
        The grid, from the largest penalty down.
    coefs : ndarray of shape (n_features, n_alphas) or \
(n_outputs, n_features, n_alphas)
        The coefficients at each penalty, as ``enet_path`` returns them.
    intercepts : ndarray of shape (n_alphas,) or (n_outputs, n_alphas)
        The intercepts.
    """
    if "alpha" in params:
        raise TypeError("path takes the penalties as alphas, not alpha.")
    base = GradLinearRegression(**params)
    if alphas is None:
        if base.penalty not in ("l1", "elasticnet") or base.loss != "squared_error":
            raise ValueError(
                "path needs alphas unless penalty is 'l1' or 'elasticnet' with "
                f"loss='squared_error' (got penalty={base.penalty!r}, "
                f"loss={base.loss!r}): alpha_max is known only there.")
        top = alpha_max(X, y, sample_weight=sample_weight,
                        l1_ratio=1.0 if base.penalty == "l1" else base.l1_ratio,
                        fit_intercept=base.fit_intercept,
                        standardize=base.standardize)
        alphas = np.geomspace(top, top * eps, int(n_alphas))
    alphas = np.sort(np.asarray(alphas, dtype=float).ravel())[::-1]
    if alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas >= 0)):
        raise ValueError(f"alphas must be finite and non-negative, got {alphas!r}.")
    members = [GradLinearRegression(**{**params, "alpha": float(a)}) for a in alphas]
    fitted = fit_members(members, [(X, y, sample_weight)] * len(members))
    for model in fitted:
        if isinstance(model, Exception):
            raise model
    coefs = np.stack([np.atleast_2d(m.coef_) for m in fitted], axis=-1)
    intercepts = np.stack([np.atleast_1d(m.intercept_) for m in fitted], axis=-1)
    if np.ndim(y) == 1:
        coefs, intercepts = coefs[0], intercepts[0]
    return alphas, coefs, intercepts
