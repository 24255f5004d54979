"""scikit-learn's common estimator checks, with nothing skipped or expected to fail."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from gradest import (
    UKR,
    GradLinearRegression,
    GradLinearRegressionCV,
    GradLogisticRegression,
    GradLogisticRegressionCV,
)

ESTIMATORS = [
    GradLinearRegression(), GradLogisticRegression(), UKR(),
    # A small grid keeps the checks fast: each fit is 2 candidates x 3 folds.
    # Not C=10: on the checks' raw sparse columns (standardize="auto") so weak
    # a penalty leaves the minimiser resolved only to ~1e-8 by rounding, and
    # the weighted-equals-repeated check compares decision values to 1e-9.
    GradLogisticRegressionCV(Cs=[0.1, 1.0], cv=3),
    # tol=1e-12: the weighted-equals-repeated check compares predictions to
    # 1e-9, and a gradient of 1e-9 on the raw sparse columns leaves them
    # resolved only to ~1e-8 (the refit runs on the other fold sizes' padding).
    GradLinearRegressionCV(alphas=[0.1, 1.0], cv=3, tol=1e-12),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
