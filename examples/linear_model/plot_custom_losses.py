"""
==========================
Robust and quantile losses
==========================

:class:`~gradest.GradLinearRegression` minimises any per-sample loss you can
write with ``jax.numpy``: JAX differentiates it, so there is no gradient to
derive. This example fits a line to data with outliers using the built-in
squared, Huber and absolute losses, and then a quantile (pinball) loss
written by hand, which we check against scikit-learn's
:class:`~sklearn.linear_model.QuantileRegressor`.
"""

# %%
# Data with outliers
# ------------------
# A line ``y = 0.5 x + 1`` with noise that grows with ``x``, and 5% of the
# points pushed far up.

import warnings

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import QuantileRegressor

from gradest import GradLinearRegression

rng = np.random.default_rng(0)
n_samples = 200
x = rng.uniform(0, 10, n_samples)
y = 0.5 * x + 1 + rng.normal(0, 0.2 + 0.1 * x)
outliers = rng.choice(n_samples, size=10, replace=False)
y[outliers] += rng.uniform(8, 15, size=10)
X = x[:, None]

# %%
# A quantile loss of our own
# --------------------------
# The pinball loss of quantile ``q`` charges ``q`` per unit of residual below
# the data and ``1 - q`` above; its minimiser is the ``q``-th conditional
# quantile. A user loss takes ``(y_true, y_pred)`` and returns one loss per
# sample (or per element). It receives the *standardised* targets and
# predictions; the pinball loss is positively homogeneous, so this changes
# its value by a constant factor but not its minimiser.


def pinball_loss(quantile):
    """Pinball loss of the given quantile, as a function of jax arrays."""

    def loss(y_true, y_pred):
        residual = y_true - y_pred
        return jnp.maximum(quantile * residual, (quantile - 1) * residual)

    return loss


# %%
# The losses side by side, as functions of the residual ``y_true - y_pred``.
# The Huber loss is quadratic up to ``epsilon`` and linear beyond it, so
# outliers pull on the fit with a bounded force.

residual = np.linspace(-3, 3, 301)
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(residual, 0.5 * residual**2, label="squared_error (halved)")
ax.plot(residual, np.where(np.abs(residual) <= 1.35, 0.5 * residual**2,
                           1.35 * (np.abs(residual) - 0.675)),
        label="huber, epsilon=1.35")
ax.plot(residual, np.abs(residual), label="absolute_error")
for q, style in [(0.1, ":"), (0.9, "--")]:
    ax.plot(residual, np.asarray(pinball_loss(q)(residual, 0.0)), style,
            color="tab:purple", label=f"pinball, q={q}")
ax.set_ylim(0, 3)
ax.set_xlabel("residual y_true - y_pred (standardised units)")
ax.set_ylabel("loss")
ax.legend(fontsize="small")
fig.tight_layout()

# %%
# Fitting
# -------
# L-BFGS needs few iterations on the smooth losses. The absolute and pinball
# losses have a kink where a residual is zero, and a line that fits well has
# several residuals at zero: the gradient never becomes small, however close
# the fit is to the minimum. Such fits always stop at ``max_iter`` with a
# ``ConvergenceWarning``; here that is expected, so we silence it and cap the
# iterations at 100.
#
# The Huber threshold ``epsilon`` is measured in units of a scale of the
# residuals estimated jointly with the line (Owen's concomitant scale, as in
# scikit-learn's ``HuberRegressor``), so the outliers cannot inflate it: the
# default ``epsilon=1.35`` treats about the farthest 5 % of Gaussian residuals
# as outliers, and ``epsilon=1.1`` (near the smallest it may be, 1) down-weights
# more.

fits = {
    "squared_error": GradLinearRegression(solver="lbfgs"),
    "huber, epsilon=1.35": GradLinearRegression(loss="huber", solver="lbfgs"),
    "huber, epsilon=1.1": GradLinearRegression(loss="huber", epsilon=1.1,
                                               solver="lbfgs"),
    "absolute_error": GradLinearRegression(loss="absolute_error", solver="lbfgs",
                                           max_iter=100),
}
for q in [0.1, 0.9]:
    fits[f"pinball, q={q}"] = GradLinearRegression(
        loss=pinball_loss(q), solver="lbfgs", max_iter=100)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for reg in fits.values():
        reg.fit(X, y)

for name, reg in fits.items():
    print(f"{name:>20}: slope {reg.coef_[0]:.4f}, intercept {reg.intercept_:.4f}")

# %%
# scikit-learn's ``QuantileRegressor`` solves the same problems exactly, as
# linear programmes; ``alpha=0`` switches off its L1 penalty. The absolute
# loss is twice the pinball loss with ``q=0.5``, so it is the median.

print(f"{'quantile':>8} {'gradest slope':>14} {'exact slope':>12}"
      f" {'gradest intercept':>18} {'exact intercept':>16}")
for q, name in [(0.1, "pinball, q=0.1"), (0.5, "absolute_error"),
                (0.9, "pinball, q=0.9")]:
    exact = QuantileRegressor(quantile=q, alpha=0, solver="highs").fit(X, y)
    ours = fits[name]
    print(f"{q:>8} {ours.coef_[0]:14.6f} {exact.coef_[0]:12.6f}"
          f" {ours.intercept_:18.6f} {exact.intercept_:16.6f}")

# %%
# The fitted lines. Least squares is dragged up by the outliers; the robust
# losses follow the bulk of the data; the 10% and 90% quantile lines fan out
# with the noise.

grid = np.linspace(0, 10, 2)[:, None]
fig, ax = plt.subplots(figsize=(8.5, 4.8))
inliers = np.setdiff1d(np.arange(n_samples), outliers)
ax.scatter(x[inliers], y[inliers], s=10, color="gray", alpha=0.6, label="data")
ax.scatter(x[outliers], y[outliers], s=18, color="black", marker="x",
           label="outliers")
ax.fill_between(grid[:, 0], fits["pinball, q=0.1"].predict(grid),
                 fits["pinball, q=0.9"].predict(grid), color="tab:purple",
                 alpha=0.15, label="pinball, q=0.1 to 0.9")
for name, color in [("squared_error", "tab:blue"),
                    ("huber, epsilon=1.35", "tab:orange"),
                    ("huber, epsilon=1.1", "tab:red"),
                    ("absolute_error", "tab:green")]:
    ax.plot(grid, fits[name].predict(grid), color=color, lw=2, label=name)
ax.plot(grid, 0.5 * grid + 1, color="black", ls="--", lw=1,
        label="y = 0.5 x + 1")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.tight_layout()

plt.show()
