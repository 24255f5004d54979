"""The class labels of GradLogisticRegression: the classes, their weights, the targets.

The classes of a stream (fixed by the first ``partial_fit`` call or an
earlier ``fit``), the class weights multiplied into the sample weights, and
the targets the labels give: a 0/1 column for two classes, else one-hot
codes.
"""

import numpy as np
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import _check_sample_weight

__all__ = ["check_labels", "class_targets", "stream_classes"]


def stream_classes(estimator, classes, first):
    """The classes of ``partial_fit``: `classes` (unique) or the fitted ones.

    `first` says whether this is the first call of the stream, which may
    change the classes of an earlier ``fit``.
    """
    if estimator.class_weight == "balanced":
        raise ValueError(
            "class_weight='balanced' needs the whole data set; pass a dict of "
            "class weights to partial_fit.")
    if classes is not None:
        classes = np.unique(classes)
        if hasattr(estimator, "classes_") and not first and not np.array_equal(
                classes, estimator.classes_):
            raise ValueError(
                f"classes={classes.tolist()} differs from the classes of the "
                f"first partial_fit call, {estimator.classes_.tolist()}.")
    elif hasattr(estimator, "classes_"):
        classes = estimator.classes_
    else:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if len(classes) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs at least 2 classes, got {classes!r}.")
    return classes


def check_labels(y, classes):
    """Refuse labels of `y` that are not among `classes`."""
    unseen = np.setdiff1d(y, classes)
    if unseen.size:
        raise ValueError(
            f"y contains labels {unseen.tolist()} that are not in classes "
            f"{classes.tolist()}.")


def class_targets(estimator, X, y, sample_weight, classes, *, streaming):
    """The labels' codes, targets Y and sample weights (class weights applied).

    ``fit`` (not `streaming`) needs samples of at least 2 classes with
    positive weight.
    """
    codes = np.searchsorted(classes, y)
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                         ensure_non_negative=True)
    weighted_classes = np.unique(codes[sample_weight > 0])
    if not streaming and len(weighted_classes) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs samples of at least 2 classes with "
            "positive weight, but only the class "
            f"{classes[weighted_classes[0]]!r} has positive sample_weight.")
    if estimator.class_weight is not None:
        # As LogisticRegression: "balanced" divides by each class's total
        # sample weight, not by its count of rows.
        per_class = compute_class_weight(estimator.class_weight, classes=classes,
                                         y=y, sample_weight=sample_weight)
        sample_weight = sample_weight * per_class[codes].astype(X.dtype)

    if len(classes) == 2:
        Y = codes[:, None].astype(X.dtype)
    else:
        Y = np.eye(len(classes), dtype=X.dtype)[codes]
    return codes, Y, sample_weight
