"""
===============================================
Searching the learning rate, through divergence
===============================================

A learning rate that is too large makes gradient descent diverge. gradest
detects this inside its training loop and ``fit`` raises a ``ValueError``
that names the learning rate. Inside :class:`~sklearn.model_selection.GridSearchCV`
that exception is just a failed fit: with ``error_score=np.nan`` the search
records NaN for it and carries on. This example searches the learning rate of
three solvers of :class:`~gradest.GradLinearRegression` in a
:class:`~sklearn.pipeline.Pipeline`, plots the cross-validated score against
the learning rate, and compares the point where gradient descent breaks down
with the bound that theory gives.
"""

# %%
# Data in raw units, and a pipeline
# ---------------------------------
# The diabetes data in their original units: age in years, sex coded 1 or 2,
# body mass index, blood pressure in mm Hg and six blood serum measurements.
# Sex is a category, so the pipeline one-hot encodes it; the regressor
# standardises everything itself, so no scaler is needed.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from gradest import GradLinearRegression

X, y = load_diabetes(return_X_y=True, scaled=False)
SEX = 1  # column index

pipe = Pipeline([
    ("encode", ColumnTransformer([("sex", OneHotEncoder(drop="if_binary"), [SEX])],
                                 remainder="passthrough")),
    ("regress", GradLinearRegression(max_iter=100)),
])

# %%
# The grid search
# ---------------
# Learning rates from 0.003 to 10 for plain gradient descent, heavy-ball
# momentum and Adam, each scored by 5-fold cross-validated :math:`R^2`. A
# budget of 100 iterations keeps the search quick; the smallest learning
# rates do not converge in it, which the score will show.

learning_rates = np.logspace(-2.5, 1, 15).tolist()
param_grid = {
    "regress__solver": ["gd", "momentum", "adam"],
    "regress__learning_rate": learning_rates,
}
search = GridSearchCV(pipe, param_grid, cv=KFold(5, shuffle=True, random_state=0),
                      error_score=np.nan)

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", FitFailedWarning)
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", "One or more of the test scores are non-finite")
    search.fit(X, y)

# %%
# The fits that diverged did not stop the search. scikit-learn collects their
# errors into one ``FitFailedWarning``; its first lines say how many fits
# failed, and each failure is the ``ValueError`` raised by gradest:

(failure,) = [w for w in caught if issubclass(w.category, FitFailedWarning)]
message = str(failure.message)
print("\n".join(message.strip().splitlines()[:2]))
print("...")
print(message.strip().splitlines()[-1])

# %%
# The search still picks the best of the fits that worked, and refits it on
# all the data:

print("best parameters:", search.best_params_)
print(f"best mean R^2:   {search.best_score_:.4f}")
print("refitted:", search.best_estimator_[-1])

# %%
# Where gradient descent diverges
# -------------------------------
# On the standardised objective, half the mean squared error, the Hessian
# with respect to the coefficients is the correlation matrix of the features
# (the intercept decouples with curvature 1). Gradient descent is stable for
# ``learning_rate < 2 / lambda_max``, its largest eigenvalue; heavy-ball
# momentum 0.9 for ``learning_rate < 2 * 1.9 / lambda_max``. The fitted folds
# are subsets of the data, so their bounds differ a little from the bound on
# all rows drawn below.

features = search.best_estimator_[0].transform(X)
lambda_max = np.linalg.eigvalsh(np.corrcoef(features, rowvar=False))[-1]
bounds = {"gd": 2 / lambda_max, "momentum": 3.8 / lambda_max}
print(f"largest eigenvalue of the correlation matrix: {lambda_max:.3f}")
for solver, bound in bounds.items():
    print(f"{solver:>9}: stable for learning_rate < {bound:.3f}")

# %%
# Mean score against learning rate (top), and how many of the five folds
# diverged (bottom). Each solver's curve rises while its 100 iterations are
# too few, stays flat where the fits converge, and, for the two solvers whose
# steps are proportional to the gradient, ends where the fits diverge: past
# the bound, every fold fails and the mean score is NaN. Adam scales its
# steps by the gradient's running size, so no learning rate in the grid makes
# it diverge; when the rate is large it hops around the minimum instead.

results = search.cv_results_
colors = {"gd": "tab:blue", "momentum": "tab:orange", "adam": "tab:green"}
fig, (ax, ax_failed) = plt.subplots(
    2, 1, figsize=(7.5, 5.5), sharex=True, height_ratios=[3, 1])
for row, (solver, color) in enumerate(colors.items()):
    rows = np.flatnonzero(results["param_regress__solver"] == solver)
    rates = np.asarray(results["param_regress__learning_rate"][rows], dtype=float)
    ax.plot(rates, results["mean_test_score"][rows], "o-", color=color,
            label=solver)
    split_scores = np.stack([results[f"split{k}_test_score"][rows]
                             for k in range(search.n_splits_)])
    n_failed = np.isnan(split_scores).sum(axis=0)
    ax_failed.plot(rates, n_failed + 0.15 * (row - 1), "o-", color=color, ms=4)
    if solver in bounds:
        for axis in (ax, ax_failed):
            axis.axvline(bounds[solver], color=color, ls=":", lw=1.5)
        label = "2/λ" if solver == "gd" else "3.8/λ"
        ax.annotate(f"{label} bound ({solver})", (bounds[solver], 0.05),
                    rotation=90, ha="right", va="bottom", color=color,
                    fontsize="small")
ax.set_xscale("log")
ax.set_ylim(0, 0.55)
ax.set_ylabel("mean cross-validated R²")
ax.set_title("diabetes: GradLinearRegression(max_iter=100) in a pipeline")
ax.legend(loc="lower center")
ax_failed.set_yticks([0, 5])
ax_failed.set_ylim(-0.6, 5.6)
ax_failed.set_ylabel("folds\ndiverged")
ax_failed.set_xlabel("learning_rate")
fig.tight_layout()

# %%
# Without the search
# ------------------
# Outside a search the same failure surfaces directly, and the estimator is
# left unfitted rather than holding a model full of overflowed numbers:

too_fast = pipe.set_params(regress__solver="gd", regress__learning_rate=1.0)
try:
    too_fast.fit(X, y)
except ValueError as error:
    print(error)
print("fitted attributes left:",
      [name for name in vars(too_fast[-1]) if name.endswith("_")])

plt.show()
