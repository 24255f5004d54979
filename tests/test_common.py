"""scikit-learn's common estimator checks, with nothing skipped or expected to fail."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from gradest import (
    UKR,
    GradLinearRegression,
    GradLogisticRegression,
    GradLogisticRegressionCV,
)

ESTIMATORS = [
    GradLinearRegression(), GradLogisticRegression(), UKR(),
    # A small grid keeps the checks fast: each fit is 2 candidates x 3 folds.
    GradLogisticRegressionCV(Cs=[0.1, 10.0], cv=3, solver="lbfgs"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
