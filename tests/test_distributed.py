"""Hyperparameter search on a dask.distributed cluster gives the sequential results."""

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from gradest import GradLinearRegression, GradLogisticRegression

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def dask_client():
    # Two worker processes started by the test itself, as on a small cluster.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def _searches():
    X, y = load_diabetes(return_X_y=True)
    grid = GridSearchCV(
        GradLinearRegression(max_iter=300),
        {"learning_rate": [0.003, 0.03, 0.3], "alpha": [0.0, 10.0]}, cv=3)
    yield grid, X, y
    X, y = load_iris(return_X_y=True)
    randomized = RandomizedSearchCV(
        GradLogisticRegression(solver="lbfgs"),
        {"C": np.logspace(-2, 2, 20)}, n_iter=4, cv=3, random_state=0)
    yield randomized, X, y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("index", [0, 1])
def test_search_on_dask_equals_sequential_search(dask_client, index):
    search, X, y = list(_searches())[index]
    sequential = search.fit(X, y).cv_results_
    with joblib.parallel_backend("dask"):
        on_cluster = search.fit(X, y).cv_results_
    assert list(map(str, on_cluster["params"])) == list(map(str, sequential["params"]))
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_allclose(on_cluster[key], sequential[key], rtol=1e-12)
    # The work really ran on the cluster's workers.
    assert len(dask_client.scheduler_info()["workers"]) == 2
