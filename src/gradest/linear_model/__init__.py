"""Linear models fitted by gradient-based optimisation with JAX.

- :mod:`._objective`: the objective (weighted mean loss plus L2 penalty);
- :mod:`._fit`: the fit path shared by both estimators (standardise,
  minimise, map back);
- :mod:`._streaming`: ``partial_fit``'s bookkeeping;
- :mod:`._regression`, :mod:`._logistic`: the two estimators.
"""

from ._logistic import GradLogisticRegression
from ._regression import GradLinearRegression

__all__ = ["GradLinearRegression", "GradLogisticRegression"]
