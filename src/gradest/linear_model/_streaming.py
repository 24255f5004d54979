"""``partial_fit``: the linear models learning from a stream of chunks.

Two meanings, chosen by the loss:

- Squared error (exact streaming least squares): each call merges the
  chunk's sufficient statistics into those of the chunks before and solves
  the least-squares problem of all the rows seen so far with the chosen
  solver, starting from the model so far. One pass over the data, in any
  chunking, ends where ``fit`` on all of it does.
- Every other loss (stochastic steps): each call merges the chunk's column
  moments into the running ones, maps the current model into the updated
  units, takes one epoch of steps on the chunk with the solver state kept
  from the call before, and records the stream's state (optionally
  averaging the iterates).
"""

import warnings
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from .._base import fit_history
from .._engine import caller_stacklevel, solver_spec
from .._moments import Moments
from ._fit import moderate
from ._statistics import RowMoments, streams_exactly, use_statistics

__all__ = ["StreamingMixin"]


class _Stream(NamedTuple):
    """What `partial_fit` carries from one call to the next.

    `iterate` is the solver's current model in user units; with averaging,
    `coef_` and `intercept_` show `average`, the mean of the iterates after
    averaging began (`n_averaged` of them). `reference` is the objective
    level of the first call, against which every later call's objective is
    tested for divergence: one call takes too few steps to see it alone.
    `rows` are the sufficient statistics of every row seen, when streaming
    least squares exactly (then there is no solver state or reference to
    carry: each call solves its own problem).
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
    rows: RowMoments | None = None


class StreamingMixin:
    """``partial_fit``'s bookkeeping around the shared fit path."""

    def _update_stream(self, X, Y, sample_weight, *, objective, scale_targets,
                       penalty, hyper, previous):
        """Learn from a new chunk; returns the coef and intercept to show."""
        stream = getattr(self, "_stream_", None)
        if stream is None and streams_exactly(objective.loss, X.shape[1]):
            stream = self._stream_after_fit(X.shape[1] + Y.shape[1])
        total_weight = (stream.total_weight if stream else 0.0) + sample_weight.sum()
        # The penalty is relative to the weight of the whole data set:
        # `stream_size` when known, so that every pass targets the objective
        # of `fit`; else the weight seen so far.
        data_weight = self.stream_size if self.stream_size is not None else total_weight
        common = {"objective": objective, "scale_targets": scale_targets,
                  "hyper": hyper, "penalty": penalty, "penalty_weight": data_weight,
                  "previous": previous}
        if streams_exactly(objective.loss, X.shape[1]):
            return self._solve_stream(X, Y, sample_weight, stream, total_weight,
                                      common)
        # The first call sets the divergence level (the engine's reference,
        # NaN until an objective was seen); later calls are judged by it.
        carried = ({"reference": stream.reference}
                   if stream and np.isfinite(stream.reference) else {})
        out = self._standardized_fit(
            X, Y, sample_weight, **common,
            prior=(stream.x_moments, stream.y_moments) if stream else (None, None),
            opt_state=stream.opt_state if stream else None,
            # Steps on one chunk at a time: "auto" means a first-order solver.
            stochastic=True,
            check_solver=partial(self._check_stream_solver, objective.loss),
            # One epoch a call: a schedule over max_iter=1 would restart at
            # every call, so the steps stay at learning_rate.
            max_iter=1, fixed_steps=True, schedule="constant",
            # Chunks large against the features step on their statistics, as
            # fit does (see _statistics.py): the same step up to rounding.
            statistics=use_statistics(objective.loss, self.batch_size, *X.shape),
            **carried)
        new = _Stream(out.x_moments, out.y_moments, total_weight,
                      out.result.opt_state, reference=out.result.reference)
        return self._record_stream(out.result, new, out.coef, out.intercept,
                                   X.shape[0])

    def _stream_after_fit(self, n_columns: int):
        """The exact stream that continues an earlier ``fit``, or None.

        ``fit`` keeps the least-squares statistics of its rows when they are
        small and cheap (see ``kept_for_streaming``); the stream then starts
        from them, and ``partial_fit`` solves fit's rows and the new ones
        together. A fitted model without them (too many columns, held-out
        rows, a fit too large to pass over again) is continued from its
        coefficients on the new rows alone, with a warning.
        """
        if not hasattr(self, "n_iter_") or (
                self._current_model() is None):
            return None
        rows = getattr(self, "_fit_rows_", None)
        if rows is not None and rows.mean.shape[0] != n_columns:
            # Another shape of data: a new problem, as the first call of a
            # stream on a fresh estimator.
            return None
        if rows is None:
            warnings.warn(
                f"{type(self).__name__}.partial_fit after fit: fit kept no "
                "statistics of its rows (more than 1,022 features and targets, "
                "early_stopping, or a sparse or large fit), so this stream "
                "starts from fit's coefficients but solves the least-squares "
                "problem of the partial_fit rows alone. Pass every chunk to "
                "partial_fit to fit them all.", UserWarning,
                stacklevel=caller_stacklevel())
            return None
        stream = _Stream(None, None, rows.weight, None, rows=rows)
        self._stream_ = stream._replace(n_seen=rows.count,
                                        iterate=self._current_model())
        return self._stream_

    def _check_stream_solver(self, loss, solver):
        """Refuse a full-batch `solver` (the one that runs) for stochastic steps."""
        if solver_spec(solver).full_batch_only:
            raise ValueError(
                f"partial_fit needs a first-order solver for loss={loss!r}; "
                f"solver={self.solver!r} works on the full objective only. Use "
                "solver='adam' or 'gd' (squared error streams with any solver).")

    def _solve_stream(self, X, Y, sample_weight, stream, total_weight, common):
        """Exact streaming least squares: solve on the statistics of all rows so far."""
        if not (moderate(X) and moderate(Y)):
            raise ValueError(
                "partial_fit with squared error accumulates the cross-products of "
                "the columns, and this chunk has a column with magnitudes beyond "
                "1e-100 to 1e100, whose squares leave float64's range. Rescale "
                "the data, or use fit.")
        # A new problem each call: the solver starts afresh from the model so
        # far (its state belongs to the previous problem), on the full batch.
        out = self._standardized_fit(
            X, Y, sample_weight, **common, statistics=True,
            prior_rows=stream.rows if stream else None, batch_size=None)
        new = _Stream(None, None, total_weight, None, rows=out.rows)
        return self._record_stream(out.result, new, out.coef, out.intercept,
                                   X.shape[0], averaging=False)

    def _previous_iterate(self):
        """Where the next `partial_fit` call starts: the solver's own iterate."""
        stream = getattr(self, "_stream_", None)
        return stream.iterate if stream is not None else self._current_model()

    def _record_stream(self, result, stream, coef, intercept, n_samples, *,
                       averaging=True):
        """Store the stream's state; return the model to show (maybe averaged).

        Without `averaging` (exact streams, whose every model is already the
        solution of the rows so far) the model is shown as it is.
        """
        previous = getattr(self, "_stream_", None)
        self.n_iter_ = (self.n_iter_ if previous else 0) + result.n_iter
        # In the precision of the model (statistics are fitted in float64).
        dtype = coef.dtype
        curve = result.loss_curve.astype(dtype)
        self.loss_curve_ = (np.concatenate([self.loss_curve_, curve])
                            if previous else curve)
        self.history_ = fit_history(result, dtype,
                                    self.history_ if previous else None)
        n_seen = (previous.n_seen if previous else 0) + n_samples
        average, n_averaged = (previous.average, previous.n_averaged) if previous \
            else (None, 0)
        start = 0 if self.average is True else self.average
        if averaging and self.average is not False and n_seen >= start:
            n_averaged += 1
            # Averaging linear models in user units averages their predictions.
            average = (coef, intercept) if average is None else tuple(
                mean + (new - mean) / n_averaged
                for mean, new in zip(average, (coef, intercept), strict=True))
        self._stream_ = stream._replace(
            n_seen=n_seen, iterate=(coef, intercept), average=average,
            n_averaged=n_averaged)
        return average if average is not None else (coef, intercept)
