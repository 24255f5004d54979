"""
=====================================
A saddle surface learned by UKR
=====================================

Unsupervised kernel regression (UKR) gives every sample a point in a
low-dimensional latent space and models the data as a kernel-weighted mean
over those points. Its objective is differentiable in all latent points at
once, which once made it a favourite first exercise with JAX: a student
fitted 200 points on the saddle ``x3 = x1**2 - x2**2`` by writing the
objective and calling ``jax.grad``. :class:`~gradest.UKR` does the same
with the shared training engine. We look at the learned surface, at the
latent space, and at how the latent points moved during the fit.
"""

# %%
# The data
# --------
# As in the original: 200 points drawn uniformly on the square
# :math:`[-1, 1]^2` and lifted onto the saddle, by
# :func:`~gradest.datasets.make_saddle`, which also returns the points on the
# square as the true coordinates.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.tri import Triangulation
from scipy.spatial import Delaunay
from sklearn.exceptions import ConvergenceWarning
from sklearn.manifold import trustworthiness

from gradest import UKR
from gradest.datasets import make_saddle

rng = np.random.default_rng(1)
X, z_true = make_saddle(200, random_state=rng)

# %%
# Fitting the original way
# ------------------------
# The original worked on the raw coordinates, started from tiny random latent
# points and took plain gradient-descent steps for a fixed budget. Here
# ``standardize=False`` keeps the raw coordinates (the saddle's three
# coordinates are already in one unit), and ``init="random"`` draws latent
# points with a standard deviation of 0.01, far inside one kernel bandwidth:
# every reconstruction starts near the mean of the data, and nothing about
# the shape is imposed. At such a start the gradient is tiny (all points
# look alike), so the gradient test that normally ends a fit is switched off
# with ``tol=0`` and the fit runs its ``max_iter`` steps; reaching it then
# raises a ``ConvergenceWarning`` that we expect and silence.
#
# Two latent dimensions, the default Gaussian kernel and leave-one-out
# reconstruction: each sample is reconstructed from the *other* samples, so
# the latent points cannot spread out until each one explains only itself.
# ``record_history=True`` keeps the latent points of every iteration.

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    ukr = UKR(n_components=2, standardize=False, init="random", solver="gd",
              learning_rate=10.0, max_iter=1000, tol=0, record_history=True,
              random_state=0).fit(X)
print(f"{ukr.n_iter_} steps of gradient descent; objective {ukr.loss_curve_[0]:.4f}"
      f" at the start, {ukr.loss_curve_[-1]:.4f} at the last step")
print(f"score (negative mean squared reconstruction error): {ukr.score(X):.5f}")
print(f"trustworthiness of the embedding (10 neighbours):"
      f" {trustworthiness(X, ukr.embedding_, n_neighbors=10):.4f}")

# %%
# The learned surface
# -------------------
# :meth:`~gradest.UKR.inverse_transform` maps any latent point to data space.
# Mapping a fine grid of latent points, restricted to the region that the
# training points cover, draws the surface that UKR learned. Inside, the data
# lie on it; towards the edges the surface falls short of the data, a known
# trait of kernel regression: the reconstruction is a weighted mean, and near
# a border every neighbour lies on the inner side, so the mean is pulled
# inwards.

E = ukr.embedding_
grid = np.stack(np.meshgrid(np.linspace(E[:, 0].min(), E[:, 0].max(), 50),
                            np.linspace(E[:, 1].min(), E[:, 1].max(), 50)),
                axis=-1).reshape(-1, 2)
grid = grid[Delaunay(E).find_simplex(grid) >= 0]
surface = ukr.inverse_transform(grid)
mesh = Triangulation(grid[:, 0], grid[:, 1])

fig = plt.figure(figsize=(7, 5.5))
ax = fig.add_subplot(projection="3d")
ax.plot_trisurf(surface[:, 0], surface[:, 1], surface[:, 2],
                triangles=mesh.triangles, cmap="viridis",
                alpha=0.55, linewidth=0)
ax.scatter(*X.T, color="black", s=6, depthshade=False, label="data")
ax.set_xlabel("x1")
ax.set_ylabel("x2")
ax.set_zlabel("x3")
ax.view_init(elev=25, azim=-60)
ax.set_title("UKR surface f(z) over the saddle data")
ax.legend(loc="upper left")
fig.tight_layout()

# %%
# The latent space
# ----------------
# The latent points, coloured by the true coordinates :math:`z_1` and
# :math:`z_2` of the square they were drawn from. Smooth colour gradients
# mean that UKR recovered the square up to a smooth deformation: latent
# coordinates are only defined up to such reparametrisations, so they need
# not line up with :math:`z_1` and :math:`z_2` themselves.

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
for k, ax in enumerate(axes):
    points = ax.scatter(E[:, 0], E[:, 1], c=z_true[:, k], cmap="coolwarm", s=14)
    fig.colorbar(points, ax=ax, label=f"true $z_{k + 1}$")
    ax.set_xlabel("latent 1")
    ax.set_aspect("equal")
axes[0].set_ylabel("latent 2")
fig.suptitle("UKR embedding_, coloured by the true coordinates")
fig.tight_layout()

# %%
# The optimisation path
# ---------------------
# ``latent_history_`` holds the latent points before the first step and after each
# iteration. For a long while the tiny cloud hardly moves: at the start every
# reconstruction is close to the mean of the data, and the gradient is small.
# Then the cloud grows exponentially, as gradient descent leaves the
# neighbourhood of a saddle point of the objective, and orders itself while
# it grows; the last hundreds of steps mostly spread the points out. The
# snapshots are taken when the size of the cloud (the root mean square
# distance of the points from the origin) reaches six levels spaced evenly
# on a log scale, each panel on its own scale.

spread = np.sqrt(np.mean(np.sum(ukr.latent_history_**2, axis=2), axis=1))
levels = np.geomspace(spread[0], spread[-1], 6)
steps = np.unique([np.argmax(spread >= level * (1 - 1e-6)) for level in levels])
fig, axes = plt.subplots(2, 3, figsize=(9, 6))
for ax, step in zip(axes.flat, steps, strict=False):
    Z = ukr.latent_history_[step]
    ax.scatter(Z[:, 0], Z[:, 1], c=z_true[:, 0], cmap="coolwarm", s=8)
    ax.set_title(f"iteration {step}, size {spread[step]:.2g}")
for ax in axes.flat[len(steps):]:
    ax.set_visible(False)
fig.suptitle("latent_history_: latent points during the fit (colour: true $z_1$)")
fig.tight_layout()

# %%
# And the objective along the way:

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(ukr.loss_curve_, marker=".")
ax.set_xlabel("iteration")
ax.set_ylabel("leave-one-out objective")
ax.set_title("loss_curve_")
fig.tight_layout()

# %%
# New points
# ----------
# :meth:`~gradest.UKR.transform` projects new samples onto the surface: it
# looks for the latent point whose reconstruction is nearest to each sample.
# Sent through ``transform`` and ``inverse_transform``, new points drawn
# from the same saddle move little: by the error of the learned surface
# where they lie, largest where the data are sparse. Points 0.5 above the
# saddle land on the surface, a little less than 0.5 away, since on a slope
# the nearest point of the surface is not straight below.

z_new = rng.uniform(-0.9, 0.9, size=(5, 2))
on_surface = np.c_[z_new, z_new[:, 0] ** 2 - z_new[:, 1] ** 2]
off_surface = on_surface + np.array([0.0, 0.0, 0.5])
for name, points in [("on the saddle", on_surface), ("0.5 above it", off_surface)]:
    back = ukr.inverse_transform(ukr.transform(points))
    print(f"{name:>14}: moved by", np.linalg.norm(back - points, axis=1).round(3))

# %%
# The default fit
# ---------------
# By default UKR standardises the features, starts from the principal
# components, tried at several scales (keeping the one with the smallest
# leave-one-out error), and runs L-BFGS until the gradient is small. On the
# raw saddle the principal plane is the square itself, since :math:`x_3` has
# the smallest variance, and L-BFGS needs only a few iterations. After
# standardisation, all three coordinates have unit variance and are
# uncorrelated: the principal plane is whichever plane the sampling noise
# favours, and L-BFGS, a local method, only refines that tilted start. The
# objective of UKR is not convex, and the start matters.

for standardize in [False, True]:
    default = UKR(n_components=2, standardize=standardize).fit(X)
    trust = trustworthiness(X, default.embedding_, n_neighbors=10)
    print(f"UKR(standardize={standardize}): {default.n_iter_:3d} iterations of"
          f" L-BFGS, trustworthiness {trust:.4f}")

plt.show()
