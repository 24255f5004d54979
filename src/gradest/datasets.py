"""Small synthetic data sets for examples, tests and benchmarks."""

from numbers import Integral, Real

import numpy as np

__all__ = ["make_saddle"]


def make_saddle(
    n_samples: int = 100,
    *,
    noise: float = 0.0,
    random_state: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate points on the saddle surface ``x3 = x1**2 - x2**2``.

    The latent coordinates ``z`` are drawn uniformly on the square
    :math:`[-1, 1]^2` and lifted onto the saddle,
    ``X = (z1, z2, z1**2 - z2**2)``: a two-dimensional manifold in three
    dimensions, curved up along one axis and down along the other. This is
    the data set of the UKR example the project started from.

    Parameters
    ----------
    n_samples : int, default=100
        The number of sample points on the saddle.

    noise : float, default=0.0
        The standard deviation of the Gaussian noise added to every
        coordinate of ``X``. With ``noise=0`` no noise is drawn, so that the
        random generator advances only by the draw of ``z``.

    random_state : int, numpy.random.Generator or None, default=None
        The source of the random draws. An int seeds a new
        :func:`numpy.random.default_rng`, so that
        ``make_saddle(n, random_state=seed)`` draws
        ``np.random.default_rng(seed).uniform(-1, 1, size=(n, 2))`` as ``z``;
        a :class:`numpy.random.Generator` is used as it is (and advanced);
        None draws from a freshly seeded generator, different on every call.

    Returns
    -------
    X : ndarray of shape (n_samples, 3)
        The points, ``(z1, z2, z1**2 - z2**2)`` plus any noise.

    z : ndarray of shape (n_samples, 2)
        The true two-dimensional coordinates of each point on the saddle,
        as :func:`sklearn.datasets.make_s_curve` returns its ``t``.

    See Also
    --------
    sklearn.datasets.make_s_curve : Points on an S-shaped surface.
    sklearn.datasets.make_swiss_roll : Points on a rolled-up sheet.

    Examples
    --------
    >>> import numpy as np
    >>> from gradest.datasets import make_saddle
    >>> X, z = make_saddle(200, random_state=0)
    >>> X.shape, z.shape
    ((200, 3), (200, 2))
    >>> bool(np.array_equal(X[:, :2], z))
    True
    >>> bool(np.allclose(X[:, 2], z[:, 0] ** 2 - z[:, 1] ** 2))
    True
    >>> X[:2].round(3)
    array([[ 0.274, -0.46 , -0.137],
           [-0.918, -0.967, -0.092]])
    """
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool):
        raise TypeError(f"n_samples must be an int, got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
    if not isinstance(noise, Real) or isinstance(noise, bool) or not noise >= 0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}.")
    rng = np.random.default_rng(random_state)
    z = rng.uniform(-1, 1, size=(n_samples, 2))
    X = np.c_[z, z[:, 0] ** 2 - z[:, 1] ** 2]
    if noise > 0:
        X += noise * rng.standard_normal(size=X.shape)
    return X, z
