"""UKR, the estimator: fit latent points, project new samples, map back."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_array
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._base import ENGINE_CONSTRAINTS, GradientFitMixin, atomic, fit_history
from .._losses import loss_names
from ._fit import fit_latent_points
from ._kernels import KERNELS
from ._projection import map_back, project, projection_state

__all__ = ["UKR"]

_FLOAT_DTYPES = [np.float64, np.float32]


class UKR(ClassNamePrefixFeaturesOutMixin, TransformerMixin, GradientFitMixin,
          BaseEstimator):
    """Unsupervised kernel regression: nonlinear dimensionality reduction both ways.

    Read more in the :ref:`User Guide <ukr>`.

    Each sample ``x_i`` gets a latent point ``z_i``. The data are modelled by
    the Nadaraya-Watson estimate over the latent points,
    ``f(z) = sum_j K(z - z_j) x_j / sum_j K(z - z_j)``, with a kernel of unit
    bandwidth, and the latent points minimise the mean loss between each
    (standardised) sample and its reconstruction ``f(z_i)``. With leave-one-out
    the sample's own kernel term is left out of its reconstruction, which
    keeps the latent points from spreading until each point explains only
    itself; the bandwidth then sets the scale of the latent space.

    :meth:`transform` projects new samples onto the manifold (the latent
    point that reconstructs each best) and :meth:`inverse_transform` maps
    latent points back to data space.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space; at most n_features.
    kernel : {"gaussian", "quartic", "student"} or callable, default="gaussian"
        Kernel of unit bandwidth, as a function of the squared latent
        distance: ``exp(-d2 / 2)``, ``max(1 - d2, 0) ** 2`` (compact
        support) or ``1 / (1 + d2)``. A callable ``kernel(d2)`` must be
        written with ``jax.numpy``, non-negative and finite at 0.
    loss : {"squared_error", "huber", "epsilon_insensitive"} or callable, \
            default="squared_error"
        Loss between a sample and its reconstruction, summed over features
        (squared_error is half the squared error). A callable
        ``loss(x_true, x_pred)`` written with ``jax.numpy`` returns
        per-sample or elementwise losses of standardised data.
    loo : bool, default=True
        Leave each sample's own kernel term out of its reconstruction. Without
        it the objective is smallest when the latent points fly apart, so a
        positive `alpha` is then needed.
    alpha : "auto" or float, default="auto"
        Weight of the penalty ``mean ||z_i||^2`` on the latent points.
        "auto": half of ``E0 ** 2 / (B * P0)``, with ``E0`` the
        leave-one-out error and ``P0`` the mean squared norm of the start
        ``init="auto"`` makes (whatever `init` is), and ``B`` the error of
        reconstructing every sample by the mean: the penalty starts at half
        the error times the fraction ``E0 / B`` of the data the manifold
        leaves unexplained.
        Data that lie on a manifold (``E0 / B`` about 1 %) get next to no
        penalty; clustered data, which neighbours reconstruct only in part,
        get one that keeps the clusters compact (about 0.02 on digits and
        breast cancer). The value used is `alpha_`.
    epsilon : float, default=0.1
        Threshold of the huber and epsilon_insensitive losses, in
        standardised units.
    standardize : bool, default=True
        Fit standardised data (each feature centred and scaled to unit
        variance), so that features in different units count alike.
        :meth:`inverse_transform` returns the user's units either way.
    init : {"auto", "pca", "random"}, array-like or transformer, default="auto"
        Initial latent points. "pca": principal components, tried at several
        scales, keeping the one with the smallest leave-one-out error.
        "auto": the same for the principal components and for Isomap
        embeddings with 5, 10, 20 and 30 neighbours (ranked on landmark
        Isomap from 128 samples, the best then embedded from all; above 1,500
        samples computed on 1,500 evenly spaced ones), keeping the candidate
        with the smallest leave-one-out error: curved manifolds start
        unfolded. When
        the best start of the principal components and the best of the
        Isomap embeddings are within a factor 1.5 of each other by that
        error (clustered data, such as digits), each is fitted for 10
        iterations and the one with the lower objective (penalty included)
        is kept.
        "random": Gaussian with standard deviation 0.01, seeded by
        `random_state`. An array of shape (n_samples, n_components) is used
        as given. An unfitted transformer with an ``n_components`` parameter
        (such as ``Isomap()``) is cloned, given our `n_components`, fitted to
        the standardised data and its embedding scaled like "pca"'s.
    solver : {"gd", "momentum", "nesterov", "rmsprop", "adam", "lbfgs"}, \
            default="lbfgs"
        Optimiser of the latent points.
    learning_rate : float, default=0.1
        Step size of the first-order solvers (ignored by "lbfgs").
    %(ukr_learning_rate_schedule)s
    %(power_t)s
    %(warmup_fraction)s
    max_iter : int, default=1000
        Maximum number of iterations.
    tol : float, default=0.01
        Stop once no latent coordinate has a gradient of the summed loss
        (n_samples times the mean objective's) larger than `tol`, so that
        `tol` means the same at any n_samples.
    rtol : float, default=1e-3
        Also stop once the objective has fallen by at most `rtol` times its
        value per iteration, on average over the last 10 iterations. With
        many features the gradient test is out of reach: the latent points
        keep drifting apart for hundreds of iterations at a fraction of a
        percent of progress each, which lowers the reconstruction error
        slightly but makes neighbourhoods less faithful (digits: a
        trustworthiness of 0.969 after 100 iterations, 0.950 after 400).
        0 turns this test off.
    n_iter_no_change : int, default=5
        Iterations without an improvement of the objective by `tol` after
        which the "adaptive" schedule divides the learning rate; no other use.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init="random"`` and ``init`` transformers that take a seed.
    record_history : bool, default=False
        Keep the latent points of every iteration in `latent_history_`.
    %(verbose)s
    %(ukr_callbacks)s

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components)
        Latent points of the training samples.
    n_iter_ : int
        Number of iterations run.
    alpha_ : float
        The penalty weight used: `alpha`, or the one "auto" chose.
    loss_curve_ : ndarray of shape (`n_iter_`,)
        Objective before each step (standardised units).
    history_ : dict of str to ndarray
        One entry per iteration: "loss" (as `loss_curve_`),
        "validation_score" (NaN: UKR holds out no rows), "learning_rate"
        (NaN for "lbfgs") and "time" (seconds since the fit began, measured
        between compiled chunks). See :ref:`training_history`.
    latent_history_ : ndarray of shape (`n_iter_` + 1, n_samples, n_components)
        The initial latent points and those after each iteration; only with
        ``record_history=True``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, if X has string column names.

    See Also
    --------
    sklearn.decomposition.PCA : The linear counterpart, also invertible.
    sklearn.manifold.Isomap : Nonlinear embedding by geodesic distances.
    sklearn.manifold.LocallyLinearEmbedding : Nonlinear embedding by local fits.

    Notes
    -----
    The kernel matrix has n_samples ** 2 entries; it is computed in blocks
    of rows, each giving its part of the objective and of its gradient
    (written out by the chain rule) in one pass, so that memory grows
    linearly. :meth:`transform` starts each sample at the better (by its
    loss) of the training latent point whose reconstruction is nearest and
    the kernel-weighted mean of the latent points of its 10 nearest training
    samples in data space, and takes damped Gauss-Newton
    (Levenberg-Marquardt) steps in the latent space, each kept only if it
    lowers that sample's loss and projected back within reach of a training
    latent point (the distance from that point to its
    ``2 * n_components``-th nearest neighbour), where the manifold is
    defined by data (with
    ``loss="epsilon_insensitive"``, whose kinks stall such steps, a fixed
    number of Adam steps instead). Each sample is projected on its own, so
    that its projection does not depend on the others transformed with it.
    :meth:`fit_transform` returns that projection of the training data,
    which lies near `embedding_`.

    References
    ----------
    .. [1] P. Meinicke, S. Klanke, R. Memisevic and H. Ritter, "Principal
       surfaces from unsupervised kernel regression", IEEE Transactions on
       Pattern Analysis and Machine Intelligence, 27(9), 1379-1391, 2005.
    .. [2] S. Klanke and H. Ritter, "Variants of unsupervised kernel
       regression: General cost functions", Neurocomputing, 70(7-9),
       1289-1303, 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from gradest import UKR
    >>> t = np.linspace(0, 3, 40)
    >>> X = np.c_[np.cos(t), np.sin(t), t]
    >>> ukr = UKR(n_components=1).fit(X)
    >>> ukr.embedding_.shape
    (40, 1)
    >>> X_back = ukr.inverse_transform(ukr.transform(X))
    >>> bool(np.abs(X_back - X).max() < 0.1)
    True
    """

    _parameter_constraints: dict = {
        **ENGINE_CONSTRAINTS,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "kernel": [StrOptions(set(KERNELS)), callable],
        "loss": [StrOptions(loss_names("reconstruction")), callable],
        "loo": ["boolean"],
        "alpha": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "standardize": ["boolean"],
        "init": [StrOptions({"auto", "pca", "random"}), "array-like",
                 HasMethods(["fit_transform"])],
        "rtol": [Interval(Real, 0, None, closed="left")],
        "record_history": ["boolean"],
    }

    def __init__(self, n_components=2, *, kernel="gaussian", loss="squared_error",
                 loo=True, alpha="auto", epsilon=0.1, standardize=True, init="auto",
                 solver="lbfgs", learning_rate=0.1,
                 learning_rate_schedule="constant", power_t=0.25,
                 warmup_fraction=0.1, max_iter=1000, tol=0.01, rtol=1e-3,
                 n_iter_no_change=5, random_state=None, record_history=False,
                 verbose=0, callbacks=None):
        self.n_components = n_components
        self.kernel = kernel
        self.loss = loss
        self.loo = loo
        self.alpha = alpha
        self.epsilon = epsilon
        self.standardize = standardize
        self.init = init
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.power_t = power_t
        self.warmup_fraction = warmup_fraction
        self.n_iter_no_change = n_iter_no_change
        self.max_iter = max_iter
        self.tol = tol
        self.rtol = rtol
        self.random_state = random_state
        self.record_history = record_history
        self.verbose = verbose
        self.callbacks = callbacks

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def fit(self, X, y=None):
        """Fit the latent points to the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, ensure_min_samples=2)
        n_samples, n_features = X.shape
        if self.n_components > n_features:
            raise ValueError(
                f"n_components={self.n_components} must be at most the number of "
                f"features, but X has n_features={n_features}.")
        result, alpha, stats, X_std = fit_latent_points(self, X)

        self.embedding_ = np.asarray(result.params[:n_samples], dtype=X.dtype)
        self.n_iter_ = result.n_iter
        self.alpha_ = alpha
        self.loss_curve_ = np.asarray(result.loss_curve)
        self.history_ = fit_history(result, X.dtype)
        if self.record_history:
            self.latent_history_ = np.asarray(result.history[:, :n_samples],
                                              dtype=X.dtype)
        else:
            # A refit without record_history drops the old fit's snapshots.
            self.__dict__.pop("latent_history_", None)
        self._n_features_out = self.n_components
        self._stats = stats
        self._X_fit = X_std
        self._reach, self._reconstructions, self._neighbors = projection_state(
            self, X_std)
        return self

    def transform(self, X):
        """Project samples onto the manifold: the latent points that reconstruct them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            Latent points.
        """
        check_is_fitted(self)
        return project(self, validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False))

    def fit_transform(self, X, y=None):
        """Fit the model and project the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Not used, present for API consistency by convention.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            ``fit(X).transform(X)``, which lies near `embedding_`.
        """
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """Map latent points to data space, in the units of the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent points.

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_)
            The Nadaraya-Watson reconstruction of each latent point.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=_FLOAT_DTYPES)
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but {type(self).__name__} has "
                f"n_components={self.n_components} latent dimensions.")
        return map_back(self, Z)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error, in standardised units.

        Each sample goes through :meth:`transform` and
        :meth:`inverse_transform`; the squared errors are averaged over
        samples and features after dividing each feature by its training
        standard deviation (when ``standardize=True``), so that higher is
        better and features in different units count alike.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : None
            Not used, present for API consistency by convention.

        Returns
        -------
        float
            Minus the mean squared reconstruction error per standardised
            feature: higher is better, 0 is a perfect reconstruction.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        # The validated array, not X: transform would check its feature
        # names again, and an array has none.
        X_back = self.inverse_transform(project(self, X))
        return -float(np.mean(np.square((X - X_back) / self._stats.scale)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
