"""
======================================
Claim counts with a Poisson regression
======================================

Insurers model how often a policy claims with a Poisson regression: the
number of claims of a policy held for a fraction ``exposure`` of a year is
Poisson with mean ``exposure * exp(x @ coef + intercept)``. This example
generates such a portfolio, fits the claim frequency with
:class:`~gradest.GradLinearRegression` and ``loss="poisson"`` beside
scikit-learn's :class:`~sklearn.linear_model.PoissonRegressor`, and compares
their coefficients and predictions. See :ref:`glm` for the families, their
links and how the penalty maps to scikit-learn's.
"""

# %%
# A synthetic portfolio
# ---------------------
# 20,000 policies with the driver's age, the vehicle's power, an urban flag
# and a bonus-malus level, each held for a random part of the year. The true
# annual claim frequency is about 7%, lower for middle-aged drivers, higher
# for powerful cars, cities and a high bonus-malus.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import PoissonRegressor

from gradest import GradLinearRegression

rng = np.random.default_rng(0)
n_policies = 20_000
age = rng.uniform(18, 85, n_policies)
power = rng.integers(4, 15, n_policies).astype(float)
urban = (rng.uniform(size=n_policies) < 0.4).astype(float)
bonus_malus = rng.gamma(4.0, 15.0, n_policies) + 50
X = np.column_stack([age, (age - 45) ** 2 / 100, power, urban, bonus_malus])
features = ["age", "(age - 45)^2 / 100", "vehicle power", "urban", "bonus-malus"]
true_coef = np.array([-0.004, 0.15, 0.06, 0.3, 0.008])
exposure = rng.uniform(0.1, 1.0, n_policies)
frequency = np.exp(-4.9 + X @ true_coef)
claims = rng.poisson(exposure * frequency)
print(f"{claims.sum()} claims over {exposure.sum():.0f} policy-years "
      f"({claims.sum() / exposure.sum():.3f} a year)")

# %%
# The same model, two ways
# ------------------------
# The exposure enters as a sample weight on the observed frequency
# ``claims / exposure``: the weighted Poisson deviance of the frequency is
# the deviance of the counts with an offset ``log(exposure)``. Both fits are
# unpenalised (scikit-learn's default is ``alpha=1``, on the mean deviance);
# gradest standardises X internally and maps the solution back, so its
# coefficients are in the units of X, as scikit-learn's.

y = claims / exposure
grad = GradLinearRegression(loss="poisson", solver="lbfgs")
grad.fit(X, y, sample_weight=exposure)
reference = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-10)
reference.fit(X, y, sample_weight=exposure)

print(f"{'':>20} {'gradest':>10} {'sklearn':>10} {'true':>10}")
print(f"{'intercept':>20} {grad.intercept_:10.5f} {reference.intercept_:10.5f} "
      f"{-4.9:10.5f}")
for name, ours, theirs, truth in zip(features, grad.coef_, reference.coef_,
                                     true_coef, strict=True):
    print(f"{name:>20} {ours:10.5f} {theirs:10.5f} {truth:10.5f}")
predicted = grad.predict(X)
relative = np.max(np.abs(predicted - reference.predict(X)) / reference.predict(X))
print(f"largest relative difference of the predicted frequencies: {relative:.1e}")

# %%
# ``predict`` returns the frequency itself, on the scale of y, not its log:
# the expected number of claims of a policy is its exposure times the
# prediction. With the log link's canonical pairing, the fitted model
# reproduces the portfolio's total number of claims exactly.

print(f"expected claims {np.sum(exposure * predicted):.2f}, "
      f"observed {claims.sum()}")

# %%
# Frequency by age
# ----------------
# The observed frequency per age band (claims over policy-years) against the
# frequency both models predict for the same policies.

bands = np.linspace(18, 85, 12)
band = np.digitize(age, bands[1:-1])
centres = (bands[:-1] + bands[1:]) / 2


def by_band(values):
    return np.array([values[band == b].sum() for b in range(len(centres))])


policy_years = by_band(exposure)
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.plot(centres, by_band(claims) / policy_years, "o", label="observed")
left.plot(centres, by_band(exposure * predicted) / policy_years, "-",
          label="gradest, loss='poisson'")
left.plot(centres, by_band(exposure * reference.predict(X)) / policy_years, "--",
          label="PoissonRegressor")
left.set_xlabel("driver's age")
left.set_ylabel("claims per policy-year")
left.legend()
right.plot(reference.predict(X), predicted, ".", markersize=2)
right.set_xlabel("PoissonRegressor's predicted frequency")
right.set_ylabel("gradest's predicted frequency")
right.set_title(f"largest relative difference {relative:.1e}")
fig.tight_layout()
plt.show()
