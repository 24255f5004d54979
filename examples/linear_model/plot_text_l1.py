"""
=========================================
Sparse text classification with L1
=========================================

:class:`~gradest.GradLogisticRegression` with ``penalty="l1"`` on a
generated corpus: documents drawn from a Zipf vocabulary, turned into TF-IDF
features, and labelled by a handful of words. As ``C`` grows the penalty
weakens and the model uses more words; we follow the number of nonzero
coefficients (exact zeros, from the proximal steps of the solver) and the
test accuracy along a grid of ``C``. See :ref:`penalties` for what ``C``
means and how the model is fitted.
"""

# %%
# A corpus with a Zipf vocabulary
# -------------------------------
# Word ``k`` of a 1,000-word vocabulary has probability proportional to
# :math:`1 / k^{1.1}`, as in natural text: a few words are everywhere, most
# are rare. Each document draws about 80 words. Its label depends on 20
# "signal" words among the 10th to 200th most frequent, 10 for each class: a
# document is positive with the logistic probability of three times the
# difference of their counts.
# Everything comes from one seeded generator, so the corpus is the same at
# every run.

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split

from gradest import GradLogisticRegression

rng = np.random.default_rng(0)
n_documents, n_words = 2000, 1000
frequency = 1 / np.arange(1, n_words + 1) ** 1.1
frequency /= frequency.sum()
vocabulary = np.array([f"w{k:04d}" for k in range(n_words)])

signal = rng.choice(np.arange(10, 200), size=20, replace=False)
weights = np.zeros(n_words)
weights[signal[:10]], weights[signal[10:]] = 3.0, -3.0

lengths = rng.poisson(80, size=n_documents) + 5
documents, labels = [], []
for length in lengths:
    words = rng.choice(n_words, size=length, p=frequency)
    score = weights[words].sum()
    labels.append(rng.random() < 1 / (1 + np.exp(-score)))
    documents.append(" ".join(vocabulary[words]))
labels = np.array(labels)
print(f"{n_documents} documents, {labels.mean():.0%} positive")
print("the start of the first one:", documents[0][:60], "...")

# %%
# TF-IDF features
# ---------------
# :class:`~sklearn.feature_extraction.text.TfidfVectorizer` counts the words
# of each document and weights them by their inverse document frequency.
# Its output is a sparse matrix, which the linear models take as it is:
# gradest scales every column before fitting (so rare words are on the same
# footing as frequent ones) and keeps the centring implicit, without ever
# making the matrix dense.

train_docs, test_docs, y_train, y_test = train_test_split(
    documents, labels, test_size=0.3, random_state=0, stratify=labels)
vectorizer = TfidfVectorizer()
X_train = vectorizer.fit_transform(train_docs)
X_test = vectorizer.transform(test_docs)
print(f"{X_train.shape[1]} terms, {X_train.nnz / np.prod(X_train.shape):.1%} nonzero")

# %%
# The L1 path
# -----------
# One fit per ``C``, from strong penalty to weak. ``warm_start`` starts each
# fit from the previous solution, and since ``C`` is a traced value of the
# compiled loop, every fit after the first reuses its compiled code. The
# default solver for an L1 penalty is FISTA, whose proximal steps set
# coefficients to exactly zero.

Cs = np.logspace(-2.5, -0.5, 9)
model = GradLogisticRegression(penalty="l1", warm_start=True)
nonzero, accuracy = [], []
started = time.perf_counter()
for C in Cs:
    model.set_params(C=C).fit(X_train, y_train)
    nonzero.append(np.count_nonzero(model.coef_))
    accuracy.append(model.score(X_test, y_test))
print(f"{len(Cs)} fits in {time.perf_counter() - started:.1f} s")

terms = vectorizer.get_feature_names_out()
chosen = set(terms[model.coef_[0] != 0])
found = sum(word in chosen for word in vocabulary[signal])
print(f"at C={Cs[-1]:.2g}: {len(chosen)} terms used, {found} of the 20 signal words")

# %%
# With the strongest penalties every coefficient is zero and the model
# predicts the majority class. As ``C`` grows it takes in words, first the
# signal words (the only ones that carry information about the label), and
# the test accuracy rises with them; beyond a few dozen words it adds words
# that merely fit the noise of the training set, which the test accuracy
# does not reward.

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
left.semilogx(Cs, nonzero, "o-")
left.axhline(20, color="gray", ls=":", label="signal words")
left.set_xlabel("C")
left.set_ylabel("nonzero coefficients")
left.set_title("Words the model uses")
left.legend()
right.semilogx(Cs, accuracy, "o-", color="tab:green")
right.set_xlabel("C")
right.set_ylabel("test accuracy")
right.set_title("Accuracy on held-out documents")
fig.tight_layout()

plt.show()
