"""Ports of scikit-learn 1.9.1's ``test_sgd.py``: schedules and early stopping.

Only the schedule and early-stopping tests are in scope; scikit-learn's SGD
estimators map to ``GradLinearRegression(solver="gd", batch_size=...)`` with
``learning_rate`` (scikit-learn's ``eta0``), ``learning_rate_schedule``,
``early_stopping``, ``validation_fraction`` and ``n_iter_no_change``.
Regressor on iris's target, as upstream's SGDRegressor rows.

Counts: 11 upstream schedule / early-stopping tests; 5 ported (pass unless
marked); 6 not portable:

- test_learning_rate_PA_raises: the passive-aggressive schedules.
- test_sgd_early_stopping_with_partial_fit: scikit-learn raises on
  ``partial_fit`` with early stopping; gradest's partial_fit has its own
  tests (tests/test_partial_fit.py).
- test_sgd_oneclass_vs_linear_oneclass: SGDOneClassSVM.
- test_multi_thread_multi_class_and_early_stopping,
  test_multi_core_gridsearch_and_early_stopping: joblib threading of
  scikit-learn's one-vs-all classifiers.
- test_validation_mask_correctly_subsets: monkeypatches scikit-learn's
  private ``_ValidationScoreCallback``.

The rest of test_sgd.py (losses, classes, averaging internals) is outside
this port.
"""

import numpy as np
import pytest
from sklearn.datasets import load_iris

from gradest import GradLinearRegression

iris = load_iris()

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _sgd(**params):
    params = {"solver": "gd", "batch_size": 16, "random_state": 0, **params}
    return GradLinearRegression(**params)


# upstream: test_early_stopping (with and without early stopping the fit
# stops before max_iter).
@pytest.mark.parametrize("early_stopping", [True, False])
def test_early_stopping(early_stopping):
    X = iris.data[iris.target > 0]
    y = iris.target[iris.target > 0].astype(float)
    est = _sgd(early_stopping=early_stopping, tol=1e-3, max_iter=1000).fit(X, y)
    assert est.n_iter_ < 1000


# upstream: test_adaptive_longer_than_constant (the adaptive schedule runs
# longer than the constant one before it stops).
def test_adaptive_longer_than_constant():
    X, y = iris.data, iris.target.astype(float)
    est1 = _sgd(learning_rate_schedule="adaptive", learning_rate=0.01, tol=1e-3,
                max_iter=100).fit(X, y)
    est2 = _sgd(learning_rate_schedule="constant", learning_rate=0.01, tol=1e-3,
                max_iter=100).fit(X, y)
    assert est1.n_iter_ > est2.n_iter_


# upstream: test_validation_set_not_used_for_training (the held-out rows do
# not enter training): upstream compares with a fit on the training rows;
# gradest keeps the best-scoring iterate, so the training path is compared
# instead, with the held-out rows' targets changed.
def test_validation_set_not_used_for_training():
    from sklearn.model_selection import train_test_split

    X, y = iris.data, iris.target.astype(float)
    params = dict(learning_rate=0.01, max_iter=10, shuffle=False,
                  validation_fraction=0.4, tol=0.0, early_stopping=True)
    est1 = _sgd(**params).fit(X, y)
    assert est1.n_iter_ == 10
    # the same split gradest makes (train_test_split, the estimator's seed)
    _, idx_val = train_test_split(np.arange(len(y)), test_size=0.4,
                                  random_state=0)
    y2 = y.copy()
    y2[idx_val] += 100.0
    est2 = _sgd(**params).fit(X, y2)
    np.testing.assert_allclose(est2.loss_curve_, est1.loss_curve_, rtol=1e-6)
    # and the held-out targets do reach the validation score
    assert not np.allclose(est2.validation_scores_, est1.validation_scores_)


# upstream: test_n_iter_no_change (n_iter_ grows monotonically with
# n_iter_no_change, with and without early stopping).
@pytest.mark.parametrize("early_stopping", [True, False])
def test_n_iter_no_change(early_stopping):
    X, y = iris.data, iris.target.astype(float)
    n_iter = [
        _sgd(early_stopping=early_stopping, n_iter_no_change=k, tol=1e-4,
             max_iter=1000).fit(X, y).n_iter_
        for k in [2, 3, 10]
    ]
    np.testing.assert_array_equal(n_iter, sorted(n_iter))


# upstream: test_not_enough_sample_for_early_stopping (an empty training
# or validation set is a ValueError).
def test_not_enough_sample_for_early_stopping():
    X3 = np.array([[1.0, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]])
    y3 = np.array([1.0, 1, 2])
    est = _sgd(early_stopping=True, validation_fraction=0.99)
    with pytest.raises(ValueError):
        est.fit(X3, y3)
    assert not hasattr(est, "coef_")
