"""
=============================================
Celsius to Fahrenheit, and un-scaling exactly
=============================================

A straight line through noisy temperature pairs, as in a classic first
exercise with JAX: ``F = 1.8 C + 32`` plus noise, fitted by gradient descent
on standardised data. The fit itself is easy; the step that is easy to get
wrong is mapping the standardised solution back to degrees. This example fits
the line with :class:`~gradest.GradLinearRegression`, shows its loss curve,
and then redoes the computation by hand to compare the exact un-scaling with
a formula that is off by a third of a degree.
"""

# %%
# The data
# --------
# Four hundred temperatures from -5 °C to 15 °C, converted to Fahrenheit with
# Gaussian noise of 3 °F.

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LinearRegression

from gradest import GradLinearRegression

rng = np.random.default_rng(0)
celsius = np.arange(-5, 15, 0.05)
fahrenheit = 1.8 * celsius + 32 + rng.normal(0, 3, celsius.size)
X = celsius[:, None]

# %%
# Fitting the line
# ----------------
# Plain gradient descent, as in the original exercise. The estimator
# standardises both temperatures, so the learning rate refers to a problem
# whose curvature is 1 whatever the units; ``0.2`` here is the step ``0.1``
# of the original, which minimised the mean squared error rather than half
# of it.

reg = GradLinearRegression(solver="gd", learning_rate=0.2).fit(X, fahrenheit)
ols = LinearRegression().fit(X, fahrenheit)

print(f"gradest:        F = {reg.coef_[0]:.6f} C + {reg.intercept_:.6f}"
      f"   ({reg.n_iter_} iterations)")
print(f"least squares:  F = {ols.coef_[0]:.6f} C + {ols.intercept_:.6f}")

fig, ax = plt.subplots(figsize=(6.4, 4.2))
ax.scatter(celsius, fahrenheit, s=8, alpha=0.5, label="noisy data")
ax.plot(celsius, 1.8 * celsius + 32, color="black", lw=1, ls="--",
        label="F = 1.8 C + 32")
ax.plot(celsius, reg.predict(X), color="tab:red", lw=2,
        label=f"fit: F = {reg.coef_[0]:.3f} C + {reg.intercept_:.2f}")
ax.set_xlabel("Celsius")
ax.set_ylabel("Fahrenheit")
ax.legend()
fig.tight_layout()

# %%
# The loss curve
# --------------
# ``loss_curve_`` holds the objective at each iteration, in standardised
# units: half the mean squared error of the standardised temperatures. Its
# minimum is known in closed form: with one feature the best standardised
# slope is the correlation coefficient :math:`r`, and the remaining loss is
# :math:`(1 - r^2)/2`.

r = np.corrcoef(celsius, fahrenheit)[0, 1]

fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.plot(np.arange(len(reg.loss_curve_)), reg.loss_curve_, marker=".", ms=3)
ax.axhline((1 - r**2) / 2, color="black", ls="--", lw=1,
           label=r"minimum $(1 - r^2)/2$")
ax.set_xlabel("iteration")
ax.set_ylabel("objective (standardised units)")
ax.set_title(f"gradient descent, learning_rate=0.2: {reg.n_iter_} iterations")
ax.legend()
fig.tight_layout()

# %%
# Un-scaling by hand
# ------------------
# Now the computation of the original exercise, step by step: standardise
# with the population standard deviation, run 5000 steps of gradient descent
# on the mean squared error with JAX, and map the standardised slope
# :math:`\tilde w` and intercept :math:`\tilde b` back.

x_mean, x_std = celsius.mean(), celsius.std()
y_mean, y_std = fahrenheit.mean(), fahrenheit.std()
x_n = (celsius - x_mean) / x_std
y_n = (fahrenheit - y_mean) / y_std


def mse(params, x, y):
    slope, intercept = params
    return jnp.mean((x * slope + intercept - y) ** 2)


def step(_, params):
    return params - 0.1 * jax.grad(mse)(params, x_n, y_n)


w_n, b_n = np.asarray(jax.lax.fori_loop(0, 5000, step, jnp.zeros(2)), dtype=float)

# %%
# Both versions agree on the slope. The exact intercept subtracts
# :math:`w\,\bar x`, the *un-scaled* slope times the mean temperature; the
# original formula subtracts :math:`\bar x\,\sigma_y/\sigma_x`, which forgets
# the factor :math:`\tilde w`.

slope = w_n * y_std / x_std
intercept_exact = y_mean + b_n * y_std - x_mean * slope
intercept_slip = y_mean + b_n * y_std - x_mean * y_std / x_std

predicted_error = -x_mean * y_std / x_std * (1 - w_n)
print(f"standardised slope w~ = {w_n:.6f}  (correlation r = {r:.6f})")
print(f"slope                 = {slope:.6f}")
print(f"intercept, exact      = {intercept_exact:.6f}")
print(f"intercept, original   = {intercept_slip:.6f}")
print(f"least squares         = {ols.intercept_:.6f}")
print(f"error of the original = {intercept_slip - ols.intercept_:+.4f} °F;"
      f" -mean(C) * std(F)/std(C) * (1 - w~) = {predicted_error:+.4f} °F")

# %%
# The wrong intercept shifts the whole line by a constant: every prediction is
# off by the same third of a degree, which is easy to miss on a scatter plot
# of 400 points spread over 40 °F. Plotting each line minus the least-squares
# line makes it plain. gradest's ``coef_`` and ``intercept_`` use the exact
# formula (see :ref:`standardization`), and agree with least squares to the
# solver's tolerance.

grid = np.linspace(-5, 15, 3)
reference = ols.predict(grid[:, None])

fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.plot(grid, slope * grid + intercept_slip - reference, color="tab:orange",
        lw=2, label=r"original: $b = \bar y + \sigma_y \tilde b"
        r" - \bar x\,\sigma_y/\sigma_x$")
ax.plot(grid, slope * grid + intercept_exact - reference, color="tab:green",
        lw=2, label=r"exact: $b = \bar y + \sigma_y \tilde b - w\,\bar x$")
ax.plot(grid, reg.predict(grid[:, None]) - reference, color="tab:red", ls=":",
        lw=2, label="GradLinearRegression")
ax.axhline(0, color="black", lw=0.8)
ax.set_xlabel("Celsius")
ax.set_ylabel("prediction minus least squares (°F)")
ax.set_ylim(-0.45, 0.1)
ax.legend(loc="lower left", fontsize="small")
fig.tight_layout()

plt.show()
