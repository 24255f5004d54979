"""GradLogisticRegression: binary and multinomial logistic regression."""

from functools import partial
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets

from .._base import atomic
from .._penalties import PenaltyTerms, penalty_spec
from ._classes import check_labels, class_targets, stream_classes
from ._fit import LINEAR_CONSTRAINTS, LinearGradientModel
from ._objective import LinearObjective
from ._streaming import StreamingMixin

__all__ = ["GradLogisticRegression"]


class GradLogisticRegression(ClassifierMixin, StreamingMixin, LinearGradientModel,
                             BaseEstimator):
    """Logistic regression (binary or multinomial) fitted by gradient descent in JAX.

    Read more in the :ref:`User Guide <standardization>`.

    The features are standardised (with sample weights) before fitting and
    the solution is mapped back exactly to the original units; the minimiser
    equals :class:`~sklearn.linear_model.LogisticRegression` with the same
    `C` fitted on standardised features.

    Parameters
    ----------
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        Penalty on the standardised coefficients (never on the intercepts),
        as in :class:`~sklearn.linear_model.LogisticRegression`: "l1" and
        "elasticnet" set coefficients exactly to zero and are minimised by
        proximal steps (see `solver`). None: no penalty, whatever `C`.
    C : float, default=1.0
        Inverse strength of the penalty, which is added to the sum of
        weighted log-losses divided by `C`: ``0.5 * ||w||^2`` ("l2"),
        ``||w||_1`` ("l1"), ``l1_ratio * ||w||_1 + 0.5 * (1 - l1_ratio) *
        ||w||^2`` ("elasticnet"), on the standardised coefficients.
        ``np.inf`` means no penalty.
    l1_ratio : float, default=0.5
        With ``penalty="elasticnet"``: the weight of the L1 term, in [0, 1].
        Ignored by the other penalties.
    fit_intercept : bool, default=True
        Whether to fit intercepts.
    %(standardize)s
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights.
        "balanced" weighs class ``k`` by ``total / (n_classes * total_k)``,
        where the totals are of the sample weights (of the rows when none
        are given), as in :class:`~sklearn.linear_model.LogisticRegression`.
    %(solver)s
    %(learning_rate)s
    %(learning_rate_schedule)s
    %(power_t)s
    %(warmup_fraction)s
    %(max_iter)s
    %(tol)s
    %(batch_size)s
    %(shuffle)s
    %(early_stopping_classifier)s
    %(validation_fraction)s
    %(n_iter_no_change)s
    %(warm_start)s
    %(average_classifier)s
    %(stream_size)s
    %(random_state)s
    %(verbose)s
    %(callbacks)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients in the units of X (one row for two classes).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    n_iter_ : int
        Number of iterations run.
    loss_curve_ : ndarray of shape (`n_iter_`,)
        Objective at the start of each iteration, the point whose gradient
        the step used; the first entry is the starting objective.
    %(history_)s
    %(validation_scores_)s
    %(best_validation_score_)s
    %(best_iter_)s
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, if X has string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The same model by quasi-Newton solvers.

    Examples
    --------
    >>> import numpy as np
    >>> from gradest import GradLogisticRegression
    >>> X = np.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15],
    ...               [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
    >>> y = np.array([True, True, False, True])
    >>> clf = GradLogisticRegression(solver="lbfgs").fit(X, y)
    >>> clf.predict(X)
    array([ True,  True, False,  True])
    """

    _parameter_constraints: dict = {
        **LINEAR_CONSTRAINTS,
        "C": [Interval(Real, 0, None, closed="right")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, *, penalty="l2", C=1.0, l1_ratio=0.5, fit_intercept=True,
                 standardize="auto", class_weight=None, solver="auto",
                 learning_rate=0.05, learning_rate_schedule="constant", power_t=0.25,
                 warmup_fraction=0.1, max_iter=10000, tol=1e-9, batch_size=None,
                 shuffle=True, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, warm_start=False,
                 average=False, stream_size=None, random_state=None, verbose=0,
                 callbacks=None):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.class_weight = class_weight
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.power_t = power_t
        self.warmup_fraction = warmup_fraction
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.warm_start = warm_start
        self.average = average
        self.stream_size = stream_size
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels, of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight equals repeating the row.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        previous = self._current_model() if self.warm_start else None
        self.__dict__.pop("_stream_", None)
        X, y = self._validate_training(X, y)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes, "
                f"but the data contain only one class: {classes[0]!r}.")
        return self._fit(X, y, sample_weight, classes, previous=previous,
                         streaming=False)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Take one epoch of steps on a new chunk of data.

        The first call fixes ``classes_`` (from `classes`, or from an earlier
        `fit`) and ``n_features_in_``. The feature statistics are weighted
        running means and variances updated with every chunk; the current
        model is mapped exactly into the updated units before the steps, and
        the solver's state is kept between calls. The penalty is divided by
        `stream_size` if set, so that every pass over a data set of that
        weight targets the objective of `fit`; else by the total sample weight
        seen so far, as for one pass (after k passes over the same rows it is
        then k times weaker than in `fit`). With `average`, `coef_` is the
        running average of the iterates. Each call is one epoch over the
        chunk: one step with ``batch_size=None``, else shuffled mini-batches.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data.
        y : array-like of shape (n_samples,)
            Its labels, all among `classes`.
        classes : array-like of shape (n_classes,), default=None
            Every class of the stream; required on the first call unless the
            model was fitted before.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        first = not hasattr(self, "_stream_")
        classes = stream_classes(self, classes, first)
        X, y = self._validate_training(X, y, reset=first)
        check_classification_targets(y)
        check_labels(y, classes)
        return self._fit(X, y, sample_weight, classes,
                         previous=self._previous_iterate(), streaming=True)

    def _fit(self, X, y, sample_weight, classes, *, previous, streaming):
        codes, Y, sample_weight = class_targets(self, X, y, sample_weight, classes,
                                                streaming=streaming)
        if previous is not None and previous[0].shape != (X.shape[1], Y.shape[1]):
            previous = None
        # As LogisticRegression: C multiplies the sum of the losses.
        spec = penalty_spec(self.penalty)
        l1, l2 = spec.split(0.0 if np.isinf(self.C) else 1.0 / self.C, self.l1_ratio)
        fit_path = self._update_stream if streaming else partial(
            self._fit_once, score="accuracy", stratify=codes)
        coef, intercept = fit_path(
            X, Y, sample_weight, objective=LinearObjective("log_loss"),
            scale_targets=False, penalty=PenaltyTerms(spec, l1, l2, per_weight=True),
            hyper={}, previous=previous)
        if len(classes) > 2:
            coef, intercept = _symmetric_multinomial(
                coef, intercept, centre_coef=spec.centres_classes)
        self.classes_ = classes
        self.coef_, self.intercept_ = coef.T, intercept
        return self

    def _current_model(self):
        if not hasattr(self, "coef_"):
            return None
        return self.coef_.T, self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def decision_function(self, X):
        """Logits: of the second class for two classes, else of every class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            Decision values.
        """
        scores = self._decision(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted labels.
        """
        scores = self.decision_function(X)
        codes = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[codes]

    def predict_log_proba(self, X):
        """Log of the class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of `classes_`.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return -np.logaddexp(0, np.stack([scores, -scores], axis=1))
        shifted = scores - scores.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of `classes_`.
        """
        return np.exp(self.predict_log_proba(X))


def _symmetric_multinomial(coef, intercept, *, centre_coef=True):
    """The multinomial model with coefficients and intercepts summing to zero.

    Softmax probabilities do not change when the same vector is added to
    every class's coefficients, or the same constant to every intercept, so
    the fitted parameters are identified only up to these shifts. The
    gradient of the loss sums to zero over the classes, which keeps plain
    gradient steps and L-BFGS from zero on the zero-sum subspace, but Adam
    and RMSprop scale each component separately and drift along it (on iris
    the intercepts summed to -0.94 with Adam, 0 with L-BFGS). Centring picks,
    for every solver, the representative scikit-learn reports. The intercepts
    are not penalised, so any shift of them is as good; with an L2 penalty the
    optimal coefficients already sum to zero over the classes (a common shift
    only adds to the penalty), so centring them can only lower the objective;
    without a penalty (C=inf) it leaves the objective unchanged. Centring in
    the user's units is centring in standardised ones: the un-scaling divides
    each feature's row by the same number for every class. With an L1 term
    (`centre_coef` False) the best common shift of the coefficients is a
    median, which the minimiser already has, and centring would both raise
    the objective and destroy its zeros: only the intercepts are centred.

    Parameters
    ----------
    coef : ndarray of shape (n_features, n_classes)
        Coefficients in user units.
    intercept : ndarray of shape (n_classes,)
        Intercepts.
    centre_coef : bool
        Centre the coefficients too (the penalty allows it).

    Returns
    -------
    coef : ndarray of shape (n_features, n_classes)
    intercept : ndarray of shape (n_classes,)
    """
    if centre_coef:
        coef = coef - coef.mean(axis=1, keepdims=True)
    return coef, intercept - intercept.mean()
