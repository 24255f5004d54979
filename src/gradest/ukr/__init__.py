"""Unsupervised kernel regression: a nonlinear manifold that maps both ways.

The latent points are the parameters. Each data point is reconstructed by the
Nadaraya-Watson estimate over the latent points of all the others, and the
latent points move, by gradients of that leave-one-out reconstruction error,
until they explain the data. New data are projected by minimising their own
reconstruction error, and any latent point maps back to data space.

- :mod:`._kernels`: kernels and Nadaraya-Watson weights;
- :mod:`._reconstruction`: reconstructions, the objective, one-off passes;
- :mod:`._init`: initial latent points and their reach;
- :mod:`._fit`: fitting the latent points (standardisation, rival starts);
- :mod:`._projection`: projection starts, projecting samples and mapping
  latent points back;
- :mod:`._estimator`: the estimator.
"""

from ._estimator import UKR
from ._kernels import KERNELS, nadaraya_watson_weights, squared_distances
from ._reconstruction import reconstruct, reconstruction_losses

__all__ = ["UKR", "KERNELS", "nadaraya_watson_weights", "reconstruct",
           "reconstruction_losses", "squared_distances"]
