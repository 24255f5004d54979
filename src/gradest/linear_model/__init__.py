"""Linear models fitted by gradient-based optimisation with JAX.

- :mod:`._objective`: the objective (weighted mean loss plus L2 penalty);
- :mod:`._fit`: the fit path shared by both estimators (standardise,
  resolve the solver once, minimise, map back);
- :mod:`._start`: the starting point of a fit;
- :mod:`._smoothing`: a nonsmooth loss minimised through smooth surrogates;
- :mod:`._statistics`: least squares on the sufficient statistics of the rows;
- :mod:`._streaming`: ``partial_fit``'s bookkeeping;
- :mod:`._regression`, :mod:`._logistic`: the two estimators, with
  :mod:`._targets` and :mod:`._underdetermined` (the regressor's targets and
  its warning of too few samples) and :mod:`._classes` (the classifier's
  labels);
- :mod:`._members`, :mod:`._search`, :mod:`._cv`, :mod:`._regression_cv`: many
  fits as one batched minimisation, the cross-validated search built on it,
  and the two CV estimators; :mod:`._path`, the coefficients along a grid of
  penalties.
"""

from ._cv import GradLogisticRegressionCV
from ._logistic import GradLogisticRegression
from ._path import alpha_max, path
from ._regression import GradLinearRegression
from ._regression_cv import GradLinearRegressionCV

__all__ = ["GradLinearRegression", "GradLinearRegressionCV", "GradLogisticRegression",
           "GradLogisticRegressionCV", "alpha_max", "path"]
