"""
============================================================
A validation curve from one batched search, and a Lasso path
============================================================

:class:`~gradest.GradLogisticRegressionCV` fits every fold times every
candidate as one batched minimisation. Here one fit over a grid of
``learning_rate`` x ``C`` (``alpha = 1 / C``) gives the whole validation
surface, read from its ``cv_results_`` as from a grid search's. Then
:func:`gradest.linear_model.path` traces a Lasso path beside
:func:`sklearn.linear_model.lasso_path`'s. See :ref:`searching`.
"""

# %%
# A validation curve over learning rate x penalty
# -----------------------------------------------
# Few iterations, so that the learning rate matters: a small rate has not
# reached the optimum when ``max_iter`` ends the fit.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lasso_path

from gradest import GradLogisticRegressionCV
from gradest.linear_model import path

X, y = load_breast_cancer(return_X_y=True)
rates = [0.003, 0.01, 0.03, 0.1]
Cs = [0.01, 0.1, 1.0, 10.0]
with warnings.catch_warnings():
    # Stopping at max_iter is the point of this curve, not a failure.
    warnings.simplefilter("ignore", ConvergenceWarning)
    search = GradLogisticRegressionCV(Cs=Cs, learning_rates=rates, cv=3,
                                      max_iter=100, solver="adam").fit(X, y)
# ParameterGrid order: C outermost, learning_rate fastest.
mean = search.cv_results_["mean_test_score"].reshape(len(Cs), len(rates))

fig, ax = plt.subplots()
for i, C in enumerate(Cs):
    ax.semilogx(rates, mean[i], marker="o", label=f"alpha = 1/C = {1 / C:g}")
ax.set_xlabel("learning_rate")
ax.set_ylabel("mean accuracy over 3 folds")
ax.set_title(f"chosen: learning_rate={search.learning_rate_:g}, C={search.C_:g}")
ax.legend()

# %%
# A Lasso path beside scikit-learn's
# ----------------------------------
# Without standardisation or intercept (centred data) gradest's L1 objective
# is scikit-learn's, so the two paths lie on each other.

X, y = load_diabetes(return_X_y=True)
X, y = X - X.mean(axis=0), y - y.mean()
alphas, coefs, _ = path(X, y, penalty="l1", n_alphas=30, eps=1e-3,
                        fit_intercept=False, standardize=False, tol=1e-7)
_, reference, _ = lasso_path(X, y, alphas=alphas, tol=1e-10, max_iter=100000)

fig, ax = plt.subplots()
ax.semilogx(alphas, coefs.T, color="C0", lw=2)
ax.semilogx(alphas, reference.T, color="k", ls=":", lw=1)
ax.set_xlabel("alpha")
ax.set_ylabel("coefficients")
ax.set_title("gradest path (solid) and lasso_path (dotted)")
ax.invert_xaxis()
print(f"largest difference: {np.max(np.abs(coefs - reference)):.2e}")
plt.show()
