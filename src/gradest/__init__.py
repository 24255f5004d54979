"""gradest: scikit-learn estimators fitted by gradient-based optimisation with JAX.

Every estimator standardises its data, minimises its objective with one
jit-compiled engine (gradients by JAX autodiff, optimisers from optax) and
maps the solution back exactly to the user's units.
"""

from ._engine.placement import follow_thread_limit

# Before anything JAX computes, which fixes XLA's flags: see follow_thread_limit.
follow_thread_limit()

from ._engine import set_compilation_cache  # noqa: E402
from ._version import __version__  # noqa: E402
from .linear_model import (  # noqa: E402
    GradLinearRegression,
    GradLinearRegressionCV,
    GradLogisticRegression,
    GradLogisticRegressionCV,
)
from .ukr import UKR  # noqa: E402

__all__ = ["GradLinearRegression", "GradLinearRegressionCV", "GradLogisticRegression",
           "GradLogisticRegressionCV", "UKR", "__version__", "set_compilation_cache"]
