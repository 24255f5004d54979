"""
====================================
Logistic regression, small and large
====================================

:class:`~gradest.GradLogisticRegression` in three settings: four samples from
an early tutorial on automatic differentiation, reproduced step for step; the
breast cancer data, against scikit-learn's
:class:`~sklearn.linear_model.LogisticRegression`; and three iris species,
whose decision regions we draw on two features.
"""

# %%
# Four samples, step for step
# ---------------------------
# The tutorial fitted a logistic regression without intercept to four
# samples with three features, by 100 steps of gradient descent with step
# 0.01 on the *summed* negative log-likelihood, and reported a loss of
# 2.77259 before training and 1.06727 after. gradest minimises the *mean*
# log-likelihood, four times smaller, so the same steps need a learning rate
# four times larger. ``standardize=False`` and ``C=np.inf`` leave the
# textbook objective untouched, and ``tol=0`` runs all 100 steps.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import DecisionBoundaryDisplay
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gradest import GradLogisticRegression

inputs = np.array([[0.52, 1.12, 0.77],
                   [0.88, -1.08, 0.15],
                   [0.52, 0.06, -1.30],
                   [0.74, -2.49, 1.39]])
targets = np.array([True, True, False, True])

tutorial = GradLogisticRegression(fit_intercept=False, standardize=False,
                                  C=np.inf, solver="gd", learning_rate=4 * 0.01,
                                  max_iter=100, tol=0)
with warnings.catch_warnings():
    # Stopping after exactly 100 steps is the point here.
    warnings.simplefilter("ignore", ConvergenceWarning)
    tutorial.fit(inputs, targets)

n = len(targets)
final_loss = log_loss(targets, tutorial.predict_proba(inputs), normalize=False)
print(f"summed loss before training: {n * tutorial.loss_curve_[0]:.5f}")
print(f"summed loss after 100 steps: {final_loss:.5f}")
print("weights:", tutorial.coef_.ravel().round(5))

# %%
# ``loss_curve_`` holds the mean objective at each of the 100 points where a
# step was taken, from the starting point (:math:`\log 2` per sample) on; the
# loss after the last step comes from the fitted model. Together they trace
# the tutorial's figure.

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(tutorial.n_iter_ + 1),
        np.append(n * tutorial.loss_curve_, final_loss))
ax.set_xlabel("iteration")
ax.set_ylabel("training loss (sum over samples)")
ax.set_title("Four samples: 100 steps of gradient descent")
fig.tight_layout()

# %%
# Breast cancer: the same model as scikit-learn's
# -----------------------------------------------
# With the same ``C``, ``GradLogisticRegression`` has the minimiser of
# ``LogisticRegression`` fitted on standardised features, mapped back to the
# original units. We fit scikit-learn's model in a pipeline with a
# :class:`~sklearn.preprocessing.StandardScaler`, map its coefficients back
# by hand, and compare.

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

ours = GradLogisticRegression(C=1.0, solver="lbfgs").fit(X_train, y_train)
theirs = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, tol=1e-10,
                                                            max_iter=10_000))
theirs.fit(X_train, y_train)
scaler, logistic = theirs[0], theirs[1]
their_coef = logistic.coef_ / scaler.scale_
their_intercept = logistic.intercept_ - their_coef @ scaler.mean_

print(f"iterations (L-BFGS):        {ours.n_iter_}")
print(f"test accuracy, gradest:     {ours.score(X_test, y_test):.4f}")
print(f"test accuracy, scikit-learn: {theirs.score(X_test, y_test):.4f}")
relative = np.abs(ours.coef_ - their_coef).max() / np.abs(their_coef).max()
print(f"largest coefficient difference, relative: {relative:.1e}")
print(f"intercepts: {ours.intercept_[0]:.6f} and {their_intercept[0]:.6f}")
gap = np.abs(ours.predict_proba(X_test) - theirs.predict_proba(X_test)).max()
print(f"largest difference of predicted probabilities: {gap:.1e}")

# %%
# The coefficients are in the units of the features, which span five orders
# of magnitude (areas in hundreds of square units, smoothness in
# hundredths), so we plot them scaled by each feature's standard deviation:
# the change of the logit per standard deviation of the feature.

feature_names = load_breast_cancer().feature_names
per_std = ours.coef_.ravel() * X_train.std(axis=0)
order = np.argsort(per_std)
fig, ax = plt.subplots(figsize=(6, 7))
ax.barh(np.arange(X.shape[1]), per_std[order], color="tab:blue",
        label="GradLogisticRegression")
ax.plot((their_coef.ravel() * X_train.std(axis=0))[order], np.arange(X.shape[1]),
        "k|", ms=10, mew=2, label="LogisticRegression")
ax.set_yticks(np.arange(X.shape[1]), feature_names[order], fontsize="small")
ax.set_xlabel("coefficient times standard deviation of the feature")
ax.set_title("Breast cancer, C=1")
ax.legend(loc="upper left")
fig.tight_layout()

# %%
# Three classes on two features
# -----------------------------
# With more than two classes the model is multinomial: one logit per class,
# a softmax over them. Two features of the iris data (sepal length and
# width) separate setosa well and the other two species only partly.

iris = load_iris()
X_iris, y_iris = iris.data[:, :2], iris.target
clf = GradLogisticRegression(solver="lbfgs").fit(X_iris, y_iris)
print(f"classes: {clf.classes_}, coef_ shape: {clf.coef_.shape}")
print(f"training accuracy: {clf.score(X_iris, y_iris):.3f}")

# %%
# Each region is coloured by the most probable class, more deeply where that
# class is more probable; the boundaries are straight lines, where two logits
# are equal.

colors = ["tab:red", "tab:blue", "tab:olive"]
fig, ax = plt.subplots(figsize=(6, 4.5))
DecisionBoundaryDisplay.from_estimator(
    clf, X_iris, response_method="predict_proba", multiclass_colors=colors,
    ax=ax, xlabel=iris.feature_names[0], ylabel=iris.feature_names[1],
    grid_resolution=300, alpha=0.5)
for label, color in zip(clf.classes_, colors, strict=True):
    members = y_iris == label
    ax.scatter(X_iris[members, 0], X_iris[members, 1], color=color,
               edgecolor="black", s=25, label=iris.target_names[label])
ax.legend(loc="upper left")
ax.set_title("Iris: multinomial GradLogisticRegression")
fig.tight_layout()

plt.show()
