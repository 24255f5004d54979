"""scikit-learn's common estimator checks, with nothing skipped or expected to fail."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from gradest import UKR, GradLinearRegression, GradLogisticRegression

ESTIMATORS = [GradLinearRegression(), GradLogisticRegression(), UKR()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
