"""``partial_fit``: the linear models learning from a stream of chunks.

Each call merges the chunk's column moments into the running ones, maps the
current model into the updated units, takes one epoch of steps on the chunk
with the solver state kept from the call before, and records the stream's
state (optionally averaging the iterates).
"""

from typing import Any, NamedTuple

import numpy as np

from .._engine import solver_spec
from .._scaling import Moments
from ._statistics import use_statistics

__all__ = ["StreamingMixin"]


class _Stream(NamedTuple):
    """What `partial_fit` carries from one call to the next.

    `iterate` is the solver's current model in user units; with averaging,
    `coef_` and `intercept_` show `average`, the mean of the iterates after
    averaging began (`n_averaged` of them). `reference` is the objective
    level of the first call, against which every later call's objective is
    tested for divergence: one call takes too few steps to see it alone.
    """

    x_moments: Moments | None
    y_moments: Moments | None
    total_weight: float
    opt_state: Any
    n_seen: int = 0
    iterate: tuple | None = None
    average: tuple | None = None
    n_averaged: int = 0
    reference: float = float("nan")


class StreamingMixin:
    """``partial_fit``'s bookkeeping around the shared fit path."""

    def _update_stream(self, X, Y, sample_weight, *, objective, scale_targets,
                       penalty_strength, hyper, previous):
        """One epoch on a new chunk; returns the coef and intercept to show."""
        if solver_spec(self.solver).full_batch_only:
            raise ValueError(
                f"partial_fit needs a first-order solver; solver={self.solver!r} "
                "works on the full objective only. Use solver='adam' or 'gd'.")
        stream = getattr(self, "_stream_", None)
        total_weight = (stream.total_weight if stream else 0.0) + sample_weight.sum()
        # The penalty is relative to the weight of the whole data set:
        # `stream_size` when known, so that every pass targets the objective
        # of `fit`; else the weight seen so far.
        data_weight = self.stream_size if self.stream_size is not None else total_weight
        # The first call sets the divergence level (the engine's reference,
        # NaN until an objective was seen); later calls are judged by it.
        carried = ({"reference": stream.reference}
                   if stream and np.isfinite(stream.reference) else {})
        out = self._standardized_fit(
            X, Y, sample_weight, objective=objective, scale_targets=scale_targets,
            hyper={**hyper, "penalty": penalty_strength / data_weight},
            previous=previous,
            prior=(stream.x_moments, stream.y_moments) if stream else (None, None),
            opt_state=stream.opt_state if stream else None,
            max_iter=1, fixed_steps=True,
            # Squared error steps on the chunk's sufficient statistics, as fit
            # does on the whole data's, so that calls on the whole data take
            # exactly fit's steps (see _statistics.py).
            statistics=use_statistics(objective.loss, self.batch_size, *X.shape),
            **carried)
        new = _Stream(out.x_moments, out.y_moments, total_weight,
                      out.result.opt_state, reference=out.result.reference)
        return self._record_stream(out.result, new, out.coef, out.intercept,
                                   X.shape[0])

    def _previous_iterate(self):
        """Where the next `partial_fit` call starts: the solver's own iterate."""
        stream = getattr(self, "_stream_", None)
        return stream.iterate if stream is not None else self._current_model()

    def _record_stream(self, result, stream, coef, intercept, n_samples):
        """Store the stream's state; return the model to show (maybe averaged)."""
        previous = getattr(self, "_stream_", None)
        self.n_iter_ = (self.n_iter_ if previous else 0) + result.n_iter
        # In the precision of the model (statistics are fitted in float64).
        dtype = coef.dtype
        curve = result.loss_curve.astype(dtype)
        self.loss_curve_ = (np.concatenate([self.loss_curve_, curve])
                            if previous else curve)
        n_seen = (previous.n_seen if previous else 0) + n_samples
        average, n_averaged = (previous.average, previous.n_averaged) if previous \
            else (None, 0)
        start = 0 if self.average is True else self.average
        if self.average is not False and n_seen >= start:
            n_averaged += 1
            # Averaging linear models in user units averages their predictions.
            average = (coef, intercept) if average is None else tuple(
                mean + (new - mean) / n_averaged
                for mean, new in zip(average, (coef, intercept), strict=True))
        self._stream_ = stream._replace(
            n_seen=n_seen, iterate=(coef, intercept), average=average,
            n_averaged=n_averaged)
        return average if average is not None else (coef, intercept)
