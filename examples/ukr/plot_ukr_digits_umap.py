"""
==============================================
UKR beside UMAP on handwritten digits
==============================================

The 8x8 images of :func:`sklearn.datasets.load_digits` (64 features) embedded
in two dimensions by :class:`~gradest.UKR` with its defaults and by UMAP
(``umap-learn``, with its defaults). 80 % of the images are fitted; the other
20 % are placed by each method's ``transform`` and mapped back to images by
its ``inverse_transform``. We compare the embeddings by eye and by three
numbers: the trustworthiness (10 neighbours) of the held-out placements, the
accuracy of a 10-nearest-neighbour classifier trained on the fitted
embedding and scored on the held-out one, and the held-out reconstruction
error relative to PCA's.

UMAP is an optional dependency, installed with gradest's ``benchmark`` or
``docs`` extra.
"""

# %%
# Fitting both
# ------------

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import umap
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from gradest import UKR

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
S_train, S_test = scaler.transform(X_train), scaler.transform(X_test)

pca = PCA(n_components=2).fit(S_train)
pca_error = np.mean((pca.inverse_transform(pca.transform(S_test)) - S_test) ** 2)

results = {}
for name, model, train, test in [
        # UKR standardises the data itself, with the same statistics.
        ("UKR", UKR(random_state=0), X_train, X_test),
        ("UMAP", umap.UMAP(random_state=0), S_train, S_test)]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        # UMAP warns that a seed turns off its parallelism.
        warnings.simplefilter("ignore", UserWarning)
        model.fit(train)
        Z_test = model.transform(test)
        back = model.inverse_transform(Z_test)
    seconds = time.perf_counter() - start
    if name == "UKR":
        back = scaler.transform(back)
    results[name] = dict(
        train=model.embedding_, test=Z_test, back=back, seconds=seconds,
        trust=trustworthiness(S_test, Z_test, n_neighbors=10),
        accuracy=KNeighborsClassifier(10).fit(model.embedding_, y_train).score(
            Z_test, y_test),
        error=np.mean((back - S_test) ** 2) / pca_error)
    print(f"{name}: held-out trustworthiness {results[name]['trust']:.3f}, "
          f"kNN accuracy {results[name]['accuracy']:.3f}, reconstruction "
          f"{results[name]['error']:.2f} x PCA's, {seconds:.1f} s")

# %%
# The embeddings
# --------------
# Dots: the fitted images, coloured by digit; black-edged triangles: the
# held-out images where ``transform`` put them. UMAP pulls the digits apart
# into islands; UKR lays them out as touching regions, with the 1s, 5s, 8s
# and 9s overlapping in the middle, since its latent space must also map back
# to images: its neighbourhoods are as trustworthy on the fitted images
# (0.974 for both), less so for the held-out ones.

fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
for ax, (name, r) in zip(axes, results.items(), strict=True):
    ax.scatter(*r["train"].T, c=y_train, cmap="tab10", s=4, vmin=0, vmax=9)
    ax.scatter(*r["test"].T, c=y_test, cmap="tab10", s=18, marker="^",
               edgecolor="black", linewidth=0.4, vmin=0, vmax=9)
    for digit in range(10):
        centre = np.median(r["train"][y_train == digit], axis=0)
        ax.annotate(str(digit), centre, fontsize=13, weight="bold",
                    ha="center", va="center")
    ax.set_title(f"{name}: held-out trust. {r['trust']:.3f}, "
                 f"kNN {r['accuracy']:.3f},\nreconstruction {r['error']:.2f} x PCA's",
                 fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# Reconstructions
# ---------------
# Held-out images (top), UKR's reconstructions from their two latent
# coordinates (middle) and UMAP's (bottom). UKR's map back is a kernel
# regression on the training images, a weighted mean of the images whose
# latent points are near; over all held-out images its error is about 0.3 of
# PCA's, UMAP's about 0.8.

fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
for column in range(10):
    index = np.flatnonzero(y_test == column)[0]
    images = [S_test[index], results["UKR"]["back"][index],
              results["UMAP"]["back"][index]]
    for ax, image in zip(axes[:, column], images, strict=True):
        ax.imshow(scaler.inverse_transform(image[None])[0].reshape(8, 8),
                  cmap="gray_r", vmin=0, vmax=16)
        ax.set_xticks([])
        ax.set_yticks([])
for ax, label in zip(axes[:, 0], ["held out", "UKR", "UMAP"], strict=True):
    ax.set_ylabel(label, fontsize="small")
fig.tight_layout()
plt.show()
