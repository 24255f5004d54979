"""
=============================================
Learning-rate schedules and early stopping
=============================================

Mini-batch gradient steps of a constant size never settle: each batch pulls
the coefficients its own way, so they hover around the optimum at a distance
set by the learning rate. A schedule that shrinks the steps lets them settle;
early stopping ends training when a held-out split stops improving, before
the model learns the noise. This example fits
:class:`~gradest.GradLinearRegression` to a noisy problem with many useless
features, compares the schedules of ``learning_rate_schedule`` through the
training curves in ``history_``, and then stops early on a validation split.
See :ref:`training` for the formulas.
"""

# %%
# A noisy problem with more features than the signal needs
# ---------------------------------------------------------
# 300 training samples of 150 features, of which 5 carry the signal, and
# noise as large as the signal's spread: least squares fits all 150
# coefficients to the training rows and learns much of the noise.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split

from gradest import GradLinearRegression

rng = np.random.default_rng(0)
X = rng.normal(size=(2300, 150))
y = X[:, :5] @ np.array([1.0, -0.8, 0.6, 0.5, -0.4]) + rng.normal(size=2300)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=300,
                                                    random_state=0)
ols = LinearRegression().fit(X_train, y_train)
print(f"least squares: test R^2 {ols.score(X_test, y_test):.3f}")

# %%
# Schedules
# ---------
# Mini-batches of 16 rows, plain gradient steps, a budget of 60 epochs
# (``n_iter_no_change=60`` keeps the epoch-loss test from ending the fits
# earlier, and reaching the budget is expected here, so its
# ConvergenceWarning is silenced). The constant rate leaves the training
# objective noisy at the end; "invscaling" (scikit-learn's ``SGDRegressor``
# rule, ``eta0 / t ** power_t`` with t counting steps) and the cosine
# schedules shrink the steps and settle lower; "adaptive" divides the rate by
# 5 each time the epoch objective stalls for ``n_iter_no_change`` epochs.

common = dict(solver="gd", batch_size=16, max_iter=60, learning_rate=0.02,
              tol=1e-4, random_state=0)
schedules = {
    "constant": {"n_iter_no_change": 60},
    "invscaling": {"power_t": 0.25, "n_iter_no_change": 60},
    "adaptive": {"n_iter_no_change": 3},
    "cosine": {"n_iter_no_change": 60},
    "warmup_cosine": {"warmup_fraction": 0.2, "n_iter_no_change": 60},
}
fits = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for kind, options in schedules.items():
        fits[kind] = GradLinearRegression(learning_rate_schedule=kind, **common,
                                          **options).fit(X_train, y_train)
        print(f"{kind:>14}: {fits[kind].n_iter_:3d} epochs, final objective "
              f"{fits[kind].history_['loss'][-1]:.4f}, "
              f"test R^2 {fits[kind].score(X_test, y_test):.3f}")

fig, (ax_loss, ax_rate) = plt.subplots(1, 2, figsize=(10, 4))
for kind, reg in fits.items():
    epochs = np.arange(1, reg.n_iter_ + 1)
    ax_loss.plot(epochs, reg.history_["loss"], label=kind)
    ax_rate.plot(epochs, reg.history_["learning_rate"], label=kind)
ax_loss.set(xlabel="epoch", ylabel="mean mini-batch objective", yscale="log",
            title="Training objective (history_['loss'])")
ax_rate.set(xlabel="epoch", ylabel="learning rate", yscale="log",
            title="Rate of each epoch's last step")
ax_loss.legend()
fig.tight_layout()

# %%
# Early stopping
# --------------
# With ``early_stopping=True`` a ``validation_fraction`` of the training
# rows (here a fifth) is held out and scored (R^2) after every epoch;
# training stops once the score has not improved by ``tol`` for
# ``n_iter_no_change`` epochs, and the coefficients of the best epoch are
# returned. The validation curve rises, peaks and then falls as the model
# starts fitting the noise of the training rows; the coefficients of the peak
# predict the test rows better than least squares does.

stopped = GradLinearRegression(solver="gd", batch_size=16, learning_rate=0.01,
                               max_iter=1000, early_stopping=True,
                               validation_fraction=0.2, n_iter_no_change=20,
                               tol=1e-4, random_state=0).fit(X_train, y_train)
print(f"early stopping: best epoch {stopped.best_iter_} of {stopped.n_iter_}, "
      f"validation R^2 {stopped.best_validation_score_:.3f}, "
      f"test R^2 {stopped.score(X_test, y_test):.3f}")

history = stopped.history_
epochs = np.arange(1, stopped.n_iter_ + 1)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(epochs, history["validation_score"], label="validation R^2")
ax.axvline(stopped.best_iter_, color="k", linestyle=":",
           label=f"best epoch ({stopped.best_iter_})")
ax.set(xlabel="epoch", ylabel="validation R^2",
       title="Early stopping (history_['validation_score'])")
ax2 = ax.twinx()
ax2.plot(epochs, history["loss"], color="tab:orange", label="training objective")
ax2.set_ylabel("training objective")
handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
ax.legend(handles=handles, loc="center right")
fig.tight_layout()
plt.show()

# %%
# The history is a dict of NumPy arrays, one entry per epoch, so
# ``pandas.DataFrame(stopped.history_)`` turns it into a table; its ``time``
# column is the wall time since the fit began.
