"""class_weight="balanced" with sample weights, against LogisticRegression.

scikit-learn balances by each class's total *sample weight* (its
``compute_class_weight(..., sample_weight=...)``), not by its count of rows.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from gradest import GradLogisticRegression


@pytest.mark.parametrize("load", [load_breast_cancer, load_iris])
def test_balanced_class_weight_uses_the_weighted_class_totals(load):
    X, y = load(return_X_y=True)
    # Standardised once here, so that both minimise the same objective on
    # the same columns: sum_i w_i c_{y_i} loss_i * C + |coef|^2 / 2.
    Xs = StandardScaler().fit_transform(X)
    weights = np.where(y == 1, 10.0, 1.0)
    ref = LogisticRegression(class_weight="balanced", tol=1e-12,
                             max_iter=100_000).fit(Xs, y, sample_weight=weights)
    with warnings.catch_warnings():
        # At tol=1e-10 lbfgs may stop at rounding's floor, which is the point.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GradLogisticRegression(
            class_weight="balanced", standardize=False, solver="lbfgs",
            tol=1e-10).fit(Xs, y, sample_weight=weights)
    # Gradients at 1e-10 on a problem whose penalised Hessian is at least
    # 1 (the L2 term): coefficients within ~1e-8 absolutely in exact
    # arithmetic; 1e-4 of the largest leaves room for the reference's own
    # stopping rule. Before the fix the coefficients were 0.5 (relative) off.
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(model.coef_.reshape(ref.coef_.shape), ref.coef_,
                               atol=1e-4 * scale)
    np.testing.assert_allclose(model.predict_proba(Xs), ref.predict_proba(Xs),
                               atol=1e-4)


def test_balanced_with_unit_weights_is_balanced_by_counts():
    # With no sample weights (or all equal to one) the weighted totals are
    # the counts: the weights of compute_sample_weight("balanced", y).
    X, y = load_breast_cancer(return_X_y=True)
    ones = GradLogisticRegression(class_weight="balanced", solver="lbfgs").fit(
        X, y, sample_weight=np.ones(len(y)))
    none = GradLogisticRegression(class_weight="balanced", solver="lbfgs").fit(X, y)
    np.testing.assert_allclose(ones.coef_, none.coef_, rtol=1e-10, atol=1e-12)
