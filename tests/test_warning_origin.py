"""Every ConvergenceWarning points at the line of the user's own call.

scikit-learn wraps ``fit`` (``_fit_context``) and ``transform`` /
``fit_transform`` (``set_output``); a warning raised deep inside gradest
must still name this file, as docs/guarantees.rst promises.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning

from gradest import UKR, GradLinearRegression


def _convergence_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


# Thirty points without structure, and new points three times as spread:
# most projections stop at their iteration cap, so transform warns.
_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(30, 6))
_FAR = 3 * _RNG.normal(size=(30, 6))


@pytest.mark.parametrize("output", ["default", "pandas"])
def test_ukr_transform_warning_points_at_the_caller(output):
    if output == "pandas":
        pytest.importorskip("pandas")
    model = UKR(random_state=0).set_output(transform=output).fit(_X)
    caught = _convergence_warnings(lambda: model.transform(_FAR))
    assert caught, "the far points were expected to reach the iteration cap"
    assert {w.filename for w in caught} == {__file__}


def test_fit_warning_points_at_the_caller():
    X, y = load_diabetes(return_X_y=True)
    caught = _convergence_warnings(
        lambda: GradLinearRegression(solver="gd", max_iter=5).fit(X, y))
    assert caught
    assert {w.filename for w in caught} == {__file__}


def test_ukr_fit_transform_warning_points_at_the_caller():
    caught = _convergence_warnings(
        lambda: UKR(random_state=0, max_iter=2).set_output(
            transform="default").fit_transform(_X))
    assert caught
    assert {w.filename for w in caught} == {__file__}
