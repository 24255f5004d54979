"""Default settings converge and score like scikit-learn's estimators.

Each case is fitted with gradest's defaults (only the loss named) and checked
against the matching scikit-learn estimator: no ConvergenceWarning (the
warnings filter makes one an error), and the solution within the tolerance
the defaults promise. The cases are the ordinary problems on which the
earlier default (Adam at a constant step) ran out of iterations.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import HuberRegressor, LogisticRegression, QuantileRegressor
from sklearn.preprocessing import StandardScaler

from gradest import GradLinearRegression, GradLogisticRegression


def _converged(model, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return model.fit(X, y, **fit_params)


def test_default_huber_converges_to_huber_regressor():
    X, y = make_regression(2000, 20, noise=10, random_state=0)
    model = _converged(GradLinearRegression(loss="huber"), X, y)
    # HuberRegressor minimises the same concomitant-scale objective (Owen's,
    # epsilon 1.35, no penalty); its L-BFGS-B stops at a projected gradient
    # of 1e-10 here, so the two minimisers agree to ~1e-6 on coefficients of
    # size ~50; 1e-3 is the promise of the defaults.
    ref = HuberRegressor(alpha=0.0, max_iter=10_000, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-3)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, atol=1e-3)


def _pinball(y, prediction, quantile):
    residual = y - prediction
    return np.mean(np.maximum(quantile * residual, (quantile - 1) * residual))


def test_default_quantile_reaches_the_linear_programs_pinball_loss():
    # Heavy-tailed (Student t, 2 degrees of freedom) and heteroscedastic.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 5))
    y = X @ np.arange(1.0, 6.0) + (1 + np.abs(X[:, 0])) * rng.standard_t(2, size=2000)
    model = _converged(GradLinearRegression(loss="quantile", quantile=0.9), X, y)
    # HiGHS solves the linear program exactly: its pinball loss is the minimum.
    ref = QuantileRegressor(quantile=0.9, alpha=0.0, solver="highs").fit(X, y)
    best = _pinball(y, ref.predict(X), 0.9)
    assert _pinball(y, model.predict(X), 0.9) <= best * (1 + 1e-5)


def test_default_logistic_converges_to_logistic_regression():
    X, y = make_classification(2000, 30, n_informative=10, flip_y=0.2, random_state=0)
    model = _converged(GradLogisticRegression(), X, y)
    # The same objective (C=1, the L2 penalty on the standardised columns):
    # LogisticRegression on columns standardised here.
    Xs = StandardScaler().fit_transform(X)
    ref = LogisticRegression(tol=1e-12, max_iter=10_000).fit(Xs, y)
    # Gradient components of the mean objective <= 1e-9, whose Hessian is at
    # least the L2 term's 1 / (C n) = 5e-4: coefficients within ~2e-6, and
    # probabilities within 1e-4 leaves the reference's own rule room.
    np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(Xs), atol=1e-4)


def _tfidf_corpus(n_documents, n_terms, seed=0):
    """TF-IDF rows of two classes of documents, and their labels.

    Each document mixes a Zipf background over every term (95 %) with its
    class's topic (5 %): 300 terms of the class's own, themselves
    Zipf-weighted, so that most of the telling terms are rare.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_documents)
    lengths = rng.negative_binomial(4, 4 / 84, size=n_documents) + 5
    background = 1.0 / (np.arange(n_terms) + 2.7) ** 1.07
    background /= background.sum()
    order = rng.permutation(n_terms)
    topics = np.zeros((2, n_terms))
    for label in range(2):
        topics[label, order[300 * label:300 * (label + 1)]] = 1.0 / np.arange(1, 301)
    topics /= topics.sum(axis=1, keepdims=True)
    mixture = 0.95 * background + 0.05 * topics
    terms = [rng.choice(n_terms, size=length, p=mixture[label])
             for label, length in zip(y, lengths, strict=True)]
    documents = np.repeat(np.arange(n_documents), lengths)
    counts = scipy.sparse.csr_array(
        (np.ones(documents.size), (documents, np.concatenate(terms))),
        shape=(n_documents, n_terms))
    counts.sum_duplicates()
    return scipy.sparse.csr_array(TfidfTransformer().fit_transform(counts)), y


def test_default_on_tfidf_scores_like_logistic_regression():
    X, y = _tfidf_corpus(3000, 5000)
    X_train, y_train, X_test, y_test = X[:2400], y[:2400], X[2400:], y[2400:]
    model = _converged(GradLogisticRegression(), X_train, y_train)
    reference = LogisticRegression().fit(X_train, y_train).score(X_test, y_test)
    # Standardising each TF-IDF column (the earlier default) cost 0.08 here:
    # 0.863 against LogisticRegression's 0.942.
    assert model.score(X_test, y_test) >= reference - 0.03


def test_sparse_default_is_the_unstandardised_fit():
    # "auto" leaves sparse columns as they are: the fit of the dense copy
    # with standardize=False, to the solvers' tolerance.
    X, y = _tfidf_corpus(600, 1500, seed=1)
    sparse = GradLogisticRegression(tol=1e-10).fit(X, y)
    dense = GradLogisticRegression(standardize=False, tol=1e-10).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-6)
    standardised = GradLogisticRegression(tol=1e-10).fit(X.toarray(), y)
    assert np.abs(standardised.coef_ - dense.coef_).max() > 1e-2


@pytest.mark.parametrize("first", ["sparse", "dense"])
def test_a_stream_keeps_its_first_chunks_standardisation(first):
    X, y = make_regression(400, 6, noise=1.0, random_state=0)
    X[:, 0] *= 100.0
    chunks = [X[:200], X[200:]]
    if first == "sparse":
        chunks[0] = scipy.sparse.csr_array(chunks[0])
    else:
        chunks[1] = scipy.sparse.csr_array(chunks[1])
    model = GradLinearRegression(alpha=50.0)
    with warnings.catch_warnings():
        # The raw column in units of 100 may end at rounding's floor.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(chunks[0], y[:200]).partial_fit(chunks[1], y[200:])
    # Squared error streams exactly: the result is fit on all rows with the
    # first chunk's choice (sparse: raw columns; dense: standardised).
    whole = GradLinearRegression(alpha=50.0, standardize=first == "dense").fit(X, y)
    np.testing.assert_allclose(model.coef_, whole.coef_, rtol=1e-6,
                               atol=1e-8 * np.abs(whole.coef_).max())


@pytest.mark.parametrize("loss,quantile", [("absolute_error", 0.5), ("quantile", 0.1),
                                           ("quantile", 0.9)])
def test_kinked_losses_converge_with_defaults_on_make_regression(loss, quantile):
    X, y = make_regression(2000, 20, noise=10, random_state=0)
    params = {"quantile": quantile} if loss == "quantile" else {}
    model = _converged(GradLinearRegression(loss=loss, **params), X, y)
    ref = QuantileRegressor(quantile=quantile, alpha=0.0, solver="highs").fit(X, y)
    best = _pinball(y, ref.predict(X), quantile)
    # The continuation's last width bounds the gap by width * log(2)
    # relative to the targets' spread; measured ~3e-5 relative here.
    assert _pinball(y, model.predict(X), quantile) <= best * (1 + 1e-4)


def test_a_kinked_loss_short_of_max_iter_still_warns():
    X, y = make_regression(2000, 20, noise=10, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        GradLinearRegression(loss="quantile", quantile=0.9, max_iter=20).fit(X, y)


@pytest.mark.parametrize("quantile", [0.5, 0.9])
def test_default_l1_quantile_regression_converges_to_highs(quantile):
    # QuantileRegressor's own problem: mean pinball loss + alpha * |w|_1, here
    # on standardised columns. Before, "auto" ran FISTA on the kinks
    # themselves, which needs far more than max_iter iterations.
    X, y = make_regression(2000, 20, noise=10, random_state=0)
    model = _converged(GradLinearRegression(loss="quantile", quantile=quantile,
                                            penalty="l1", alpha=0.01), X, y)
    Xs = StandardScaler().fit_transform(X)
    ref = QuantileRegressor(quantile=quantile, alpha=0.01, solver="highs").fit(Xs, y)

    def objective(coef, intercept):
        return _pinball(y, Xs @ coef + intercept, quantile) + 0.01 * np.abs(coef).sum()

    scale = X.std(axis=0)
    intercept = model.intercept_ + model.coef_ @ X.mean(axis=0)
    ours = objective(model.coef_ * scale, intercept)
    assert ours <= objective(ref.coef_, ref.intercept_) * (1 + 1e-4)
