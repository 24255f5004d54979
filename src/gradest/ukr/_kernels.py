"""UKR's kernels and Nadaraya-Watson weights over latent points."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["KERNELS", "kernel_terms", "nadaraya_watson", "nadaraya_watson_weights",
           "squared_distances"]

# A row of kernel weights summing to less than this is treated as underflow:
# the quotient rule then squares the sum, which must stay finite.
_UNDERFLOW = {np.dtype(np.float32): 1e-15, np.dtype(np.float64): 1e-150}


def gaussian_kernel(d2):
    """Gaussian kernel of unit bandwidth, as a function of the squared distance."""
    return jnp.exp(-0.5 * d2)


def quartic_kernel(d2):
    """Quartic (biweight) kernel: zero beyond unit distance."""
    return jnp.square(jnp.maximum(1.0 - d2, 0.0))


def student_kernel(d2):
    """Student-t kernel with one degree of freedom: heavy, polynomial tails."""
    return 1.0 / (1.0 + d2)


KERNELS: dict[str, Callable] = {
    "gaussian": gaussian_kernel,
    "quartic": quartic_kernel,
    "student": student_kernel,
}


def squared_distances(A, B):
    """Squared Euclidean distances between the rows of `A` and of `B`.

    Summed coordinate by coordinate: with a few latent dimensions this is
    cheaper than a third broadcast axis, and unlike ``|a|^2 + |b|^2 - 2 a.b``
    it is exact for near points, whose weights matter most.
    """
    return sum(jnp.square(A[:, k, None] - B[None, :, k]) for k in range(A.shape[1]))


def nadaraya_watson_weights(Zq, Z, weights, kernel, exclude=None):
    """Kernel weights of the training latents `Z` at the query latents `Zq`.

    Parameters
    ----------
    Zq : jax.Array of shape (n_queries, n_components)
        Latent points at which to reconstruct.
    Z : jax.Array of shape (n_samples, n_components)
        Latent points of the training data.
    weights : jax.Array of shape (n_samples,)
        Weights of the training points; a zero weight leaves a point out.
    kernel : str or callable
        A name from :data:`KERNELS` or a function of the squared distance.
    exclude : jax.Array of bool of shape (n_queries, n_samples), default=None
        Pairs to leave out, such as each point with itself.

    Returns
    -------
    jax.Array of shape (n_queries, n_samples)
        Non-negative weights that sum to 1 along each row. A row whose kernel
        weights all underflow (far from every point, or outside a compact
        support) puts its weight on its nearest points instead.
    """
    k, total = kernel_terms(Zq, Z, weights, kernel, exclude)
    return k / total


def kernel_terms(Zq, Z, weights, kernel, exclude=None):
    """Kernel terms and their row sums, whose quotient is the weights.

    Dividing the product ``k @ X`` by the row sums rather than `k` itself
    saves a division per pair, and in the derivative several: computing a
    reconstruction and its Jacobian this way is several times faster.

    Returns
    -------
    k : jax.Array of shape (n_queries, n_samples)
    total : jax.Array of shape (n_queries, 1)
        Positive; ``k / total`` is :func:`nadaraya_watson_weights`.
    """
    d2 = squared_distances(Zq, Z)
    usable = weights[None, :] > 0
    if exclude is not None:
        usable = usable & ~exclude
    masked = jnp.where(usable, d2, jnp.inf)
    nearest_d2 = jnp.min(masked, axis=1, keepdims=True)
    nearest_d2 = jax.lax.stop_gradient(
        jnp.where(jnp.isfinite(nearest_d2), nearest_d2, 0.0))
    if isinstance(kernel, str) and kernel == "gaussian":
        # exp(-(d2 - c) / 2) is proportional to exp(-d2 / 2): measured from
        # the nearest point the weights are unchanged, but the largest is 1,
        # so that the row sum never underflows.
        k = weights * jnp.exp(-0.5 * (masked - nearest_d2))
        total = jnp.sum(k, axis=1, keepdims=True)
        return k, jnp.where(total > 0, total, 1.0)
    kernel_fn = KERNELS[kernel] if isinstance(kernel, str) else kernel
    # Left-out pairs are evaluated at distance 0, where any kernel is finite,
    # so that no NaN reaches the gradient through the discarded branch.
    k = jnp.where(usable, weights * kernel_fn(jnp.where(usable, d2, 0.0)), 0.0)
    total = jnp.sum(k, axis=1, keepdims=True)
    resolved = total > _UNDERFLOW[np.dtype(d2.dtype)]
    nearest = (usable & (masked <= nearest_d2)).astype(d2.dtype)
    n_nearest = jnp.maximum(jnp.sum(nearest, axis=1, keepdims=True), 1.0)
    return (jnp.where(resolved, k, nearest),
            jnp.where(resolved, total, n_nearest))


def nadaraya_watson(Zq, Z, X, weights, kernel, exclude=None):
    """``nadaraya_watson_weights(Zq, ...) @ X``, as a product then a quotient."""
    k, total = kernel_terms(Zq, Z, weights, kernel, exclude)
    return (k @ X) / total
