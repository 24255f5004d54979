"""GradLogisticRegression: binary and multinomial logistic regression."""

from functools import partial
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight

from .._base import atomic
from .._penalties import PenaltyTerms, penalty_spec
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
    standardize : bool, default=True
        Whether to optimise in standardised units.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights.
    solver : {"auto", "gd", "momentum", "nesterov", "rmsprop", "adam", \
            "lbfgs", "fista", "prox-newton"}, default="auto"
        Optimiser. "auto": "prox-newton" for "l1" and "elasticnet"
        penalties on full batches of a smooth convex loss with one output
        column, "fista" for other full-batch problems with those
        penalties, "adam" otherwise. "lbfgs", "fista" and "prox-newton"
        ignore `learning_rate` and need full batches; "lbfgs" needs a
        differentiable objective (not "l1" or "elasticnet"). "fista" is
        accelerated proximal gradient descent with backtracking;
        "prox-newton" a proximal Newton method on working sets
        (coordinate descent on the Hessian of a few coefficients). With "l1"
        and "elasticnet", the first-order solvers follow each step with the
        penalty's proximal map (soft thresholding) of step `learning_rate`.
    learning_rate : float, default=0.05
        Constant step size of the first-order solvers.
    learning_rate_schedule : {"constant", "invscaling", "adaptive", "cosine", \
            "warmup_cosine"}, default="constant"
        How the step size of the first-order solvers changes during `fit`,
        from `learning_rate` (see :ref:`training_schedules`): "invscaling"
        ``learning_rate / t ** power_t`` at the t-th step, as
        :class:`~sklearn.linear_model.SGDRegressor`; "adaptive" divides it by 5
        whenever the objective (the validation score, with early stopping) has
        not improved by `tol` for `n_iter_no_change` iterations, and stops
        once it is at most 1e-6; "cosine" decays it to 0 over the `max_iter`
        iterations; "warmup_cosine" first rises linearly from 0 over a
        `warmup_fraction` of them. A step is a mini-batch step with
        `batch_size`. Ignored by "lbfgs"; the stochastic steps of `partial_fit`
        are constant.
    power_t : float, default=0.25
        Exponent of the "invscaling" schedule.
    warmup_fraction : float, default=0.1
        Fraction of the steps that "warmup_cosine" spends warming up.
    max_iter : int, default=10000
        Maximum number of iterations (epochs with mini-batches).
    tol : float, default=1e-9
        Convergence tolerance on the largest gradient component of the
        standardised objective (on the epoch loss with mini-batches; the
        improvement the validation score must make with `early_stopping`).
        With "l1" and "elasticnet", on the largest distance of the negative
        gradient of the loss to the penalty's subdifferential, which is 0
        exactly at the minimiser.
    batch_size : int, default=None
        None for full-batch steps, else the size of shuffled mini-batches.
    shuffle : bool, default=True
        Shuffle the rows before each epoch of mini-batches (seeded by
        `random_state`); False takes them in order.
    early_stopping : bool, default=False
        Hold out a `validation_fraction` of the training rows (stratified by
        class), score the model on them (accuracy, as `score`) after every
        iteration (epoch), stop once the score has not improved by `tol` for
        `n_iter_no_change` iterations and keep the best-scoring parameters,
        as :class:`~sklearn.neural_network.MLPClassifier` does (see
        :ref:`training_early_stopping`). Stopping so is a normal end, not a
        ConvergenceWarning. `partial_fit` is not affected.
    validation_fraction : float, default=0.1
        Fraction of the rows held out with `early_stopping`.
    n_iter_no_change : int, default=5
        Iterations (epochs) without improvement by `tol` after which training
        stops: of the epoch loss with mini-batches (full batches stop by the
        gradient test), of the validation score with `early_stopping`. The
        "adaptive" schedule divides the learning rate instead, until it is
        at most 1e-6.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    average : bool or int, default=False
        For `partial_fit`: show the average of the iterates (Polyak-Ruppert
        averaging, in user units) instead of the last one; an int starts
        averaging once that many samples have been seen. Averaging removes
        most of the noise that constant steps leave on a stream. `fit` is
        not affected.
    stream_size : float, default=None
        For `partial_fit`: the total sample weight of one pass over the
        streamed data set (its number of rows without sample weights). The
        penalty is relative to it, as in `fit` on the whole data set, however
        many passes the stream makes. None: relative to the weight seen so
        far, which suits a single pass. `fit` is not affected.
    random_state : int, RandomState instance or None, default=None
        Seeds the mini-batch shuffling and the validation split.
    verbose : int, default=0
        Print progress while fitting when positive.
    callbacks : list of callable, default=None
        Each called as ``callback(history)`` between compiled chunks of
        iterations (about every 0.2 s), with the history so far (a dict like
        `history_`); one returning True stops the fit there, with the current
        parameters and without a warning. See :ref:`training_callbacks`.

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
    history_ : dict of str to ndarray
        One entry per iteration (epoch with mini-batches; per call's epoch,
        appended, with `partial_fit`): "loss" (as `loss_curve_`),
        "validation_score" (NaN without early stopping), "learning_rate"
        (the rate of the iteration's last step; NaN for "lbfgs") and "time"
        (seconds since the fit began, measured between compiled chunks and
        spread evenly over their iterations). ``pandas.DataFrame(history_)``
        is a table of them. See :ref:`training_history`.
    validation_scores_ : ndarray of shape (`n_iter_`,) or None
        With `early_stopping`, the validation score after each iteration;
        else None.
    best_validation_score_ : float or None
        With `early_stopping`, the best validation score, that of the
        returned parameters; else None.
    best_iter_ : int or None
        With `early_stopping`, the iteration (1-based) of the best
        validation score, whose parameters are returned; else None.
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
                 standardize=True, class_weight=None, solver="auto",
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
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the whole data set; pass a dict of "
                "class weights to partial_fit.")
        first = not hasattr(self, "_stream_")
        if classes is not None:
            classes = np.unique(classes)
            if hasattr(self, "classes_") and not first and not np.array_equal(
                    classes, self.classes_):
                raise ValueError(
                    f"classes={classes.tolist()} differs from the classes of the "
                    f"first partial_fit call, {self.classes_.tolist()}.")
        elif hasattr(self, "classes_"):
            classes = self.classes_
        else:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes, got {classes!r}.")
        X, y = self._validate_training(X, y, reset=first)
        check_classification_targets(y)
        unseen = np.setdiff1d(y, classes)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that are not in classes "
                f"{classes.tolist()}.")
        return self._fit(X, y, sample_weight, classes,
                         previous=self._previous_iterate(), streaming=True)

    def _fit(self, X, y, sample_weight, classes, *, previous, streaming):
        codes = np.searchsorted(classes, y)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                             ensure_non_negative=True)
        if self.class_weight is not None:
            per_class = compute_class_weight(self.class_weight, classes=classes, y=y)
            sample_weight = sample_weight * per_class[codes].astype(X.dtype)
        weighted_classes = np.unique(codes[sample_weight > 0])
        if not streaming and len(weighted_classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes with "
                "positive weight, but only the class "
                f"{classes[weighted_classes[0]]!r} has positive sample_weight.")

        if len(classes) == 2:
            Y = codes[:, None].astype(X.dtype)
        else:
            Y = np.eye(len(classes), dtype=X.dtype)[codes]
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
