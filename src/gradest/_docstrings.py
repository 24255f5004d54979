"""The numpydoc text of the training parameters and attributes the estimators share.

An estimator's class docstring names a fragment on a line of its own,
``%(name)s``, indented as the parameter it stands for would be;
:func:`fill_doc` puts the fragment of that name from :data:`FRAGMENTS` there,
each of its lines indented alike. :class:`~gradest._base.GradientFitMixin`
fills the docstring of every class derived from it when the class is
created, so that ``help``, Sphinx and the doctests all read the whole text.
Only whole lines are placeholders: a ``%`` anywhere else is left as it is.
"""

import re
import textwrap

__all__ = ["FRAGMENTS", "fill_doc"]

_PLACEHOLDER = re.compile(r"^(?P<indent>[ ]*)%\((?P<name>\w+)\)s[ ]*$", re.MULTILINE)


def _learning_rate_schedule(stalled: str, ignored: str) -> str:
    """The schedules' text; `stalled` says when "adaptive" counts an iteration
    as no improvement, `ignored` what ignores the schedule."""
    return """\
learning_rate_schedule : {"constant", "invscaling", "adaptive", "cosine", \
            "warmup_cosine"}, default="constant"
""" + f"""\
    How the step size of the first-order solvers changes during `fit`,
    from `learning_rate` (see :ref:`training_schedules`): "invscaling"
    ``learning_rate / t ** power_t`` at the t-th step, as
    :class:`~sklearn.linear_model.SGDRegressor`; "adaptive" divides it by 5
    whenever {stalled} for `n_iter_no_change` iterations, and stops
    once it is at most 1e-6; "cosine" decays it to 0 over the `max_iter`
    iterations; "warmup_cosine" first rises linearly from 0 over a
    `warmup_fraction` of them. {ignored}
"""


def _callbacks(params: str) -> str:
    """The callbacks' text; `params` names what a stopped fit keeps."""
    return f"""\
callbacks : list of callable, default=None
    Each called as ``callback(history)`` between compiled chunks of
    iterations (about every 0.2 s), with the history so far (a dict like
    `history_`); one returning True stops the fit there, with the current
    {params} and without a warning. See :ref:`training_callbacks`.
"""


def _early_stopping(rows: str, score: str, like: str) -> str:
    """Early stopping's text; `rows` qualifies the held-out rows, `score`
    names the validation score and `like` the estimator that stops so."""
    return f"""\
early_stopping : bool, default=False
    Hold out a `validation_fraction` of the training rows{rows}, score
    the model on them ({score}, as `score`) after every iteration
    (epoch), stop once the score has not improved by `tol` for
    `n_iter_no_change` iterations and keep the best-scoring parameters,
    as :class:`~sklearn.neural_network.{like}` does (see
    :ref:`training_early_stopping`). Stopping so is a normal end, not a
    ConvergenceWarning. `partial_fit` is not affected.
"""


def _average(which: str) -> str:
    """Averaging's text; `which` says which `partial_fit` calls average."""
    return f"""\
average : bool or int, default=False
    For `partial_fit`{which}: show the average of the iterates (Polyak-Ruppert
    averaging, in user units) instead of the last one; an int starts
    averaging once that many samples have been seen. Averaging removes
    most of the noise that constant steps leave on a stream. `fit` is
    not affected.
"""


#: Fragment name -> numpydoc text (unindented; descriptions 4 spaces in).
FRAGMENTS: dict[str, str] = {
    # Every estimator's.
    "power_t": """\
power_t : float, default=0.25
    Exponent of the "invscaling" schedule.
""",
    "warmup_fraction": """\
warmup_fraction : float, default=0.1
    Fraction of the steps that "warmup_cosine" spends warming up.
""",
    "verbose": """\
verbose : int, default=0
    Print progress while fitting when positive.
""",
    # The linear models'.
    "standardize": """\
standardize : "auto" or bool, default="auto"
    Whether to optimise in standardised units: each column of X
    centred and divided by its (weighted) standard deviation, the
    penalty acting on the coefficients of those columns, and the
    solution mapped back exactly. With False, the loss and the
    penalty are on the raw data. "auto": True for dense X, False for
    sparse X. Sparse columns are mostly TF-IDF or one-hot features,
    whose spread already means something, and a rare term's tiny
    standard deviation would make its standardised coefficient nearly
    free of the penalty (on 3,000-document TF-IDF corpora that cost
    0.05 to 0.08 of test accuracy against LogisticRegression, which
    does not scale); left as they are, they are penalised as
    scikit-learn's estimators penalise them. So a dense and a sparse
    copy of the same data give different fits unless `standardize` is
    set; a stream keeps the choice of its first chunk.
""",
    "solver": """\
solver : {"auto", "gd", "momentum", "nesterov", "rmsprop", "adam", \
            "lbfgs", "fista", "prox-newton"}, default="auto"
    Optimiser. "auto" on full batches: "lbfgs" for a built-in loss
    with the "l2" penalty or none (the kinked losses through their
    smooth surrogate), "prox-newton" for "l1" and "elasticnet" on a
    smooth convex loss with one output column, "fista" for other
    problems with those penalties; "adam" with `batch_size`, in
    `partial_fit`'s steps on one chunk, and for a callable loss (whose
    smoothness is not known). The full-batch choices converge to `tol`
    in tens to hundreds of iterations on ordinary problems, and ignore
    `learning_rate` (see :ref:`defaults`). "lbfgs", "fista" and "prox-newton"
    ignore `learning_rate` and need full batches; "lbfgs" needs a
    differentiable objective (not "l1" or "elasticnet"). "fista" is
    accelerated proximal gradient descent with backtracking;
    "prox-newton" a proximal Newton method on working sets
    (coordinate descent on the Hessian of a few coefficients). With "l1"
    and "elasticnet", the first-order solvers follow each step with the
    penalty's proximal map (soft thresholding) of step `learning_rate`.
""",
    "learning_rate": """\
learning_rate : float, default=0.05
    Constant step size of the first-order solvers ("gd", "momentum",
    "nesterov", "rmsprop", "adam"), and of the proximal map that follows
    their steps. The default solver on full batches of a built-in loss
    does not use it; choose a first-order solver to search over it.
""",
    "learning_rate_schedule": _learning_rate_schedule(
        "the objective (the validation score, with early stopping) has\n"
        "    not improved by `tol`",
        "A step is a mini-batch step with\n"
        '    `batch_size`. Ignored by "lbfgs", "fista" and "prox-newton" (so by the\n'
        '    full-batch "auto"; name a first-order solver to use a schedule); the\n'
        "    stochastic steps of `partial_fit` are constant."),
    "max_iter": """\
max_iter : int, default=10000
    Maximum number of iterations (epochs with mini-batches).
""",
    "tol": """\
tol : float, default=1e-9
    Convergence tolerance on the largest gradient component of the
    standardised objective (on the epoch loss with mini-batches; the
    improvement the validation score must make with `early_stopping`).
    With "l1" and "elasticnet", on the largest distance of the negative
    gradient of the loss to the penalty's subdifferential, which is 0
    exactly at the minimiser.
""",
    "batch_size": """\
batch_size : int, default=None
    None for full-batch steps, else the size of shuffled mini-batches.
""",
    "shuffle": """\
shuffle : bool, default=True
    Shuffle the rows before each epoch of mini-batches (seeded by
    `random_state`); False takes them in order.
""",
    "early_stopping_regressor": _early_stopping("", "R^2", "MLPRegressor"),
    "early_stopping_classifier": _early_stopping(
        " (stratified by\n    class)", "accuracy", "MLPClassifier"),
    "validation_fraction": """\
validation_fraction : float, default=0.1
    Fraction of the rows held out with `early_stopping`.
""",
    "n_iter_no_change": """\
n_iter_no_change : int, default=5
    Iterations (epochs) without improvement by `tol` after which training
    stops: of the epoch loss with mini-batches (full batches stop by the
    gradient test), of the validation score with `early_stopping`. The
    "adaptive" schedule divides the learning rate instead, until it is
    at most 1e-6.
""",
    "warm_start": """\
warm_start : bool, default=False
    Start from the previous solution when refitting.
""",
    "average_regressor": _average(
        " with a loss other than squared error (which\n    streams exactly)"),
    "average_classifier": _average(""),
    "stream_size": """\
stream_size : float, default=None
    For `partial_fit`: the total sample weight of one pass over the
    streamed data set (its number of rows without sample weights). The
    penalty is relative to it, as in `fit` on the whole data set, however
    many passes the stream makes. None: relative to the weight seen so
    far, which suits a single pass. `fit` is not affected.
""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the mini-batch shuffling and the validation split.
""",
    "callbacks": _callbacks("parameters"),
    # The linear models' attributes.
    "history_": """\
history_ : dict of str to ndarray
    One entry per iteration (epoch with mini-batches; per call's epoch,
    appended, with `partial_fit`): "loss" (as `loss_curve_`),
    "validation_score" (NaN without early stopping), "learning_rate"
    (the rate of the iteration's last step; NaN for "lbfgs") and "time"
    (seconds since the fit began, measured between compiled chunks and
    spread evenly over their iterations). ``pandas.DataFrame(history_)``
    is a table of them. See :ref:`training_history`.
""",
    "validation_scores_": """\
validation_scores_ : ndarray of shape (`n_iter_`,) or None
    With `early_stopping`, the validation score after each iteration;
    else None.
""",
    "best_validation_score_": """\
best_validation_score_ : float or None
    With `early_stopping`, the best validation score, that of the
    returned parameters; else None.
""",
    "best_iter_": """\
best_iter_ : int or None
    With `early_stopping`, the iteration (1-based) of the best
    validation score, whose parameters are returned; else None.
""",
    # UKR's, whose objective is of the latent points (see its `tol`).
    "ukr_learning_rate_schedule": _learning_rate_schedule(
        "the objective has not improved by ``tol / n_samples``\n"
        "    (relative)",
        'Ignored by "lbfgs".'),
    "ukr_callbacks": _callbacks("latent points"),
}


def fill_doc(doc: str | None) -> str | None:
    """`doc` with each placeholder line ``%(name)s`` replaced by its fragment.

    Parameters
    ----------
    doc : str or None
        A docstring (None under ``python -OO``, returned as it is).

    Returns
    -------
    str or None
        The docstring, each fragment indented like its placeholder.

    Raises
    ------
    KeyError
        If a placeholder names no fragment of :data:`FRAGMENTS`.
    """
    if doc is None:
        return None

    def fragment(match: re.Match) -> str:
        name = match["name"]
        if name not in FRAGMENTS:
            raise KeyError(f"No docstring fragment {name!r}; the fragments are "
                           f"{sorted(FRAGMENTS)}.")
        return textwrap.indent(FRAGMENTS[name].rstrip("\n"), match["indent"])

    return _PLACEHOLDER.sub(fragment, doc)
