"""What GradLinearRegression's loss makes of its targets between fits.

Whether the targets are standardised along with X (see its
`standardize_targets`), and the concomitant scale a refit starts from.
"""

import numpy as np

from .._losses import is_equivariant, scales_targets

__all__ = ["RegressionTargetsMixin"]


class RegressionTargetsMixin:
    """The targets' standardisation and scale (uses `loss`, `standardize_targets`)."""

    def _scales_targets(self) -> bool:
        """Whether the targets are standardised along with X."""
        if not scales_targets(self.loss):
            if self.standardize_targets != "auto" and self.standardize_targets:
                raise ValueError(
                    f"standardize_targets=True does not apply to loss={self.loss!r}: "
                    "its targets are in the units of its distribution (a log "
                    "link models their mean) and are never centred or scaled. "
                    "Use standardize_targets='auto' or False.")
            return False
        if self.standardize_targets == "auto":
            return is_equivariant(self.loss)
        return bool(self.standardize_targets)

    def _with_scale(self, previous, objective):
        """`previous` with the fitted scale appended, to start the scale from.

        Drops a stale ``scale_`` when the loss has no scale.
        """
        if not objective.estimates_scale:
            self.__dict__.pop("scale_", None)
            return previous
        if previous is None or not hasattr(self, "scale_"):
            return previous
        scale = np.atleast_1d(self.scale_).astype(previous[0].dtype)
        if scale.shape != previous[1].shape:
            return previous
        return (*previous[:2], scale)
