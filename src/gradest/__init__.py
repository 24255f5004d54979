"""gradest: scikit-learn estimators fitted by gradient-based optimisation with JAX.

Every estimator standardises its data, minimises its objective with one
jit-compiled engine (gradients by JAX autodiff, optimisers from optax) and
maps the solution back exactly to the user's units.
"""

from ._engine import set_compilation_cache
from ._version import __version__
from .linear_model import GradLinearRegression, GradLogisticRegression
from .ukr import UKR

__all__ = ["GradLinearRegression", "GradLogisticRegression", "UKR", "__version__",
           "set_compilation_cache"]
