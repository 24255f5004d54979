"""Row-wise minimisation: one small, independent problem per row of a query.

Some estimators minimise, for each query row ``x_i``, its own loss
``loss(x_i, model(z_i))`` over a few parameters ``z_i`` (UKR's projection of
new samples onto its manifold). The rows are independent: ``model`` maps row
``i`` of its input to row ``i`` of its output. :func:`minimize_rows` solves all
of them in compiled code, in one of two ways:

- ``"lm"``: damped Gauss-Newton (Levenberg-Marquardt) steps per row, for
  smooth losses. A queue of rows keeps a fixed block of slots busy, so the
  work follows the steps each row needs;
- ``"adam"``: a fixed number of Adam steps on all rows at once, through
  :func:`~gradest._engine.minimize.minimize`, for losses with kinks where
  Gauss-Newton steps stall.

Either way every evaluation has the same shapes, so a row's result does not
depend on which rows come with it, and the loop ends with an
:class:`~gradest._engine.outcome.Outcome` like every other loop.
"""

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._losses import sample_losses
from .blocks import map_row_blocks
from .data import (
    PAD_QUADRATIC_ROWS,
    bucket_rows,
    float_dtype,
    pad,
    padded_weights,
    precision,
)
from .minimize import minimize
from .outcome import Outcome, Status, settle
from .placement import place_whole
from .problem import Problem, Settings
from .rowproblem import RowProblem, ridge_terms, traced_hyper

__all__ = ["minimize_rows"]

# Levenberg-Marquardt iterations per row, at most. UKR's latent points lie a
# few bandwidths apart, so that its model is nearly flat around each of them
# and steep between them: rows typically travel a few bandwidths from their
# start and take 10 to 40 iterations. Rows held against the border of the
# embedding (see RowProblem.project) crawl along it and stop here: 30 of
# 1,000 rows of an S-curve, 7 of 500 new points on the saddle. A cap of 300
# halves those counts but costs 1.6 times the time of every transform.
_LM_MAX_ITER = 100
# The longest step along any parameter axis: beyond about one unit (a UKR
# bandwidth) the Gauss-Newton model says little, and where the model is flat
# its step is huge.
_MAX_STEP = 1.0
# Damping of the first step, in units of the mean curvature of the row's
# Gauss-Newton matrix, its factors after a step that lowers the loss and
# after one that does not, and its bounds: a row whose damping passes the
# upper bound can no longer lower its loss in the working precision.
_DAMPING_START = 1e-3
_DAMPING_DOWN = 0.25
_DAMPING_UP = 8.0
_DAMPING_MIN = 1e-6
_DAMPING_MAX = 1e8
# Relative decrease of a row's loss below which its step counts as converged
# (scipy.optimize.least_squares' default ftol); at least 100 eps in float32.
_LOSS_TOL = 1e-8
# Adam steps of the "adam" method, and their size.
_ADAM_STEPS = 200
_ADAM_LEARNING_RATE = 0.1
# Elements of one block of the model's evaluation (rows in progress times
# model rows: 1 MB in float64), and rows queued per compiled call (a power of
# two, so a multiple of the block).
_BLOCK_ELEMENTS = 2**17
_ROWS_PER_CALL = 4096


class _Slots(NamedTuple):
    """The rows in progress, one per slot, and the results so far."""

    rows: jax.Array
    Zq: jax.Array
    losses: jax.Array
    gradient: jax.Array
    gauss_newton: jax.Array
    damping: jax.Array
    n_iter: jax.Array
    fresh: jax.Array
    active: jax.Array
    next: jax.Array
    out: jax.Array
    n_capped: jax.Array
    most_iter: jax.Array


def _value_and_row_jacobian(model, Zq, fitted):
    """``model(Zq)`` and its Jacobian with respect to each row's own parameters.

    Row i of the model depends on row i of Zq only, so moving every row along
    axis k at once gives each row's own derivative: n_components forward
    passes rather than one per row and axis. A loop, not vmap: batched
    products are several times slower on CPU.

    Returns
    -------
    F : jax.Array of shape (n_queries, n_outputs)
    J : jax.Array of shape (n_queries, n_outputs, n_components)
    """
    F, pushforward = jax.linearize(lambda Zq_: model(Zq_, fitted), Zq)
    columns = [pushforward(jnp.zeros_like(Zq).at[:, k].set(1))
               for k in range(Zq.shape[1])]
    return F, jnp.stack(columns, axis=2)


def _lm_step(state: _Slots):
    """The damped Gauss-Newton step of every slot, at most `_MAX_STEP` long."""
    dtype, n_components = state.Zq.dtype, state.Zq.shape[1]
    curvature = jnp.trace(state.gauss_newton, axis1=1, axis2=2) / n_components
    tiny = jnp.finfo(dtype).tiny
    # The floor keeps the system regular where the model is flat (J = 0, so
    # that the gradient and the step are 0 as well).
    shift = state.damping * curvature + tiny
    eye = jnp.eye(n_components, dtype=dtype)
    step = -jnp.linalg.solve(state.gauss_newton + shift[:, None, None] * eye,
                             state.gradient[..., None])[..., 0]
    longest = jnp.max(jnp.abs(step), axis=1)
    scale = jnp.minimum(1, _MAX_STEP / jnp.maximum(longest, tiny))
    return step * scale[:, None], longest


def _empty_slots(block, n_rows, n_components, n_queries, dtype) -> _Slots:
    """Slots before the first iteration: the first `block` rows, each fresh."""
    slots = jnp.arange(block, dtype=jnp.int32)
    return _Slots(
        rows=slots, Zq=jnp.zeros((block, n_components), dtype),
        losses=jnp.zeros(block, dtype),
        gradient=jnp.zeros((block, n_components), dtype),
        gauss_newton=jnp.zeros((block, n_components, n_components), dtype),
        damping=jnp.zeros(block, dtype), n_iter=jnp.zeros(block, jnp.int32),
        fresh=slots < n_queries, active=slots < n_queries,
        next=jnp.asarray(block, jnp.int32),
        out=jnp.zeros((n_rows, n_components), dtype),
        n_capped=jnp.zeros((), jnp.int32), most_iter=jnp.zeros((), jnp.int32))


# Longer than most functions: one compiled program whose loop body closes
# over the fitted arrays and the static model and loss, so that the queue's
# bookkeeping (slots, refills, results) stays in one place.
@partial(jax.jit, static_argnames=("model", "loss", "project", "block"))
def _lm_rows(Xq, starts, n_queries, fitted, hyper, *, model, loss, project, block):
    """Levenberg-Marquardt per row, a queue of rows over `block` slots.

    Each row starts at its given point. With `project`, every trial point is
    projected onto the row's feasible set and the stopping test measures the
    move that is left: a row pressed against the border of its set, whose
    steps point out of it, has then converged. The Gauss-Newton matrix ``J^T J`` of
    the model preconditions the gradient of the loss: the exact Gauss-Newton
    step for squared_error and a descent direction for any other smooth loss.
    A step is taken only if it lowers the row's loss, so that the result is
    at least as good as the start. A slot whose row has finished takes the
    next waiting row. Every quantity is per row (the damping and the stopping
    test included) and every evaluation has `block` rows.

    Returns the parameters of shape (n_rows, n_components), zeros in the rows
    of padding, the number of rows that reached the cap, and the most
    iterations any row took.
    """
    dtype = Xq.dtype
    n_rows, n_components = starts.shape

    def evaluate(Xb, Zq):
        F, J = _value_and_row_jacobian(model, Zq, fitted)
        losses, pullback = jax.vjp(lambda F_: sample_losses(loss, Xb, F_, hyper), F)
        (slope,) = pullback(jnp.ones_like(losses))
        gradient = jnp.sum(J * slope[:, :, None], axis=1)
        gauss_newton = jnp.sum(J[:, :, :, None] * J[:, :, None, :], axis=1)
        # The penalty's Hessian is exact: 2 * ridge on the diagonal.
        penalty, penalty_gradient, curvature = ridge_terms(Zq, hyper)
        eye = jnp.eye(n_components, dtype=dtype)
        return (losses + penalty, gradient + penalty_gradient,
                gauss_newton + curvature * eye)

    # Steps this small change the model by about the rounding error of its terms.
    step_tol = float(np.sqrt(np.finfo(dtype).eps))
    loss_tol = max(_LOSS_TOL, 100 * float(np.finfo(dtype).eps))

    def iterate(state: _Slots) -> _Slots:
        step, longest = _lm_step(state)
        moved = state.Zq + step
        free = jnp.ones(moved.shape[0], bool)
        if project is not None:
            projected = project(moved, fitted)
            free = jnp.all(projected == moved, axis=1)
            moved = projected
            longest = jnp.max(jnp.abs(moved - state.Zq), axis=1)
        # A slot that has just taken a row evaluates its start instead.
        trial = jnp.where(state.fresh[:, None], starts[state.rows], moved)
        new_losses, new_gradient, new_gauss_newton = evaluate(Xq[state.rows], trial)
        accept = state.fresh | (new_losses < state.losses)
        damping = jnp.where(
            state.fresh, _DAMPING_START,
            jnp.where(accept, jnp.maximum(state.damping * _DAMPING_DOWN, _DAMPING_MIN),
                      state.damping * _DAMPING_UP))
        n_iter = jnp.where(state.fresh, 0, state.n_iter + 1)
        small = ~state.fresh & (
            longest <= step_tol * (1 + jnp.max(jnp.abs(state.Zq), axis=1)))
        # An accepted free step (one the feasible set did not cut short) that
        # lowers the loss by less than `loss_tol` of it ends the row, as
        # scipy's least_squares does with its ftol: rows that crawl across a
        # flat region otherwise spend their iterations on gains far below
        # anything the projection can show. A cut step may still be far from
        # the constrained optimum however little the loss falls.
        small |= ~state.fresh & accept & free & (
            state.losses - new_losses <= loss_tol * state.losses)
        Zq = jnp.where(accept[:, None], trial, state.Zq)
        stalled = damping > _DAMPING_MAX
        capped = state.active & (n_iter >= _LM_MAX_ITER) & ~small & ~stalled
        finished = state.active & (small | stalled | capped)
        out = state.out.at[jnp.where(finished, state.rows, n_rows)].set(
            Zq, mode="drop")
        # Finished slots take the next waiting rows, in slot order.
        waiting = state.next + jnp.cumsum(finished) - 1
        refill = finished & (waiting < n_queries)
        return _Slots(
            rows=jnp.where(refill, waiting, state.rows).astype(state.rows.dtype),
            Zq=Zq,
            losses=jnp.where(accept, new_losses, state.losses),
            gradient=jnp.where(accept[:, None], new_gradient, state.gradient),
            gauss_newton=jnp.where(accept[:, None, None], new_gauss_newton,
                                   state.gauss_newton),
            damping=damping, n_iter=n_iter, fresh=refill,
            active=jnp.where(finished, refill, state.active),
            next=state.next + jnp.sum(finished, dtype=state.rows.dtype), out=out,
            n_capped=state.n_capped + jnp.sum(capped, dtype=jnp.int32),
            most_iter=jnp.maximum(state.most_iter,
                                  jnp.max(jnp.where(finished, n_iter, 0))))

    state = _empty_slots(block, n_rows, n_components, n_queries, dtype)
    state = jax.lax.while_loop(lambda s: jnp.any(s.active), iterate, state)
    return state.out, state.n_capped, state.most_iter


def _block(n_model_rows: int) -> int:
    """Rows in progress: a power of two from 16 to 1024."""
    rows = max(_BLOCK_ELEMENTS // n_model_rows, 1)
    return min(max(1 << (rows.bit_length() - 1), 16), 1024)


def _by_levenberg_marquardt(problem: RowProblem, Xq, starts, dtype):
    """Every call has the same shapes, however many rows: a row's arithmetic is
    then the same whichever rows come with it. That matters more than usual,
    because a step is taken or not by comparing two losses, and a difference
    in the last bit can send a row elsewhere.
    """
    n_queries = Xq.shape[0]
    block = _block(problem.fitted[0].shape[0])
    per_call = max(_ROWS_PER_CALL, block)
    n_padded = -(-n_queries // per_call) * per_call
    queries, starts = pad(Xq, n_padded, dtype=dtype), pad(starts, n_padded, dtype=dtype)
    with precision(dtype):
        # Moved to the device once for all calls.
        fitted, hyper = place_whole((problem.fitted, traced_hyper(problem, dtype)))
        # Dispatched all at once: JAX queues the calls and NumPy waits below.
        parts = [_lm_rows(queries[first:first + per_call],
                          starts[first:first + per_call],
                          np.int32(min(per_call, n_queries - first)), fitted, hyper,
                          model=problem.model, loss=problem.loss,
                          project=problem.project, block=block)
                 for first in range(0, n_padded, per_call)]
        parts = jax.device_get(parts)
    Z = np.concatenate([part[0] for part in parts])[:n_queries]
    n_capped = sum(int(part[1]) for part in parts)
    most = max((int(part[2]) for part in parts), default=0)
    status = Status.MAX_ITER if n_capped else Status.CONVERGED
    return Z, Outcome(status=status, n_iter=most, value=float("nan"),
                      grad_max=float("nan"), tol=0.0, solver="levenberg-marquardt",
                      max_iter=_LM_MAX_ITER, n_rows_at_cap=n_capped,
                      n_rows=n_queries)


@dataclass(frozen=True)
class _SummedRowLoss:
    """Summed loss of the query rows: each row's gradient is then its own.

    Only the first data array has a row per query; the fitted arrays ride
    along in `data` because the loop is full-batch.
    """

    model: Any
    loss: Any

    def __call__(self, Zq, data, weights, hyper):
        Xq, *fitted = data
        F = self.model(Zq, tuple(fitted))
        losses = sample_losses(self.loss, Xq, F, hyper) + ridge_terms(Zq, hyper)[0]
        return jnp.sum(weights * losses)


def _by_adam(problem: RowProblem, Xq, starts, dtype, name):
    """Fixed Adam steps on all rows at once: Adam moves each coordinate by its
    own gradient history and the objective is a sum over rows, so with a fixed
    number of steps each row follows the path it would follow alone.
    """
    n_queries = Xq.shape[0]
    n_rows = bucket_rows(n_queries, **PAD_QUADRATIC_ROWS)
    result = minimize(
        Problem(_SummedRowLoss(problem.model, problem.loss), pad(starts, n_rows),
                (pad(Xq, n_rows), *problem.fitted),
                padded_weights(n_queries, n_rows, dtype),
                traced_hyper(problem, dtype)),
        Settings(solver="adam", learning_rate=_ADAM_LEARNING_RATE,
                 max_iter=_ADAM_STEPS, fixed_steps=True, name=name))
    Z = result.params
    if problem.project is not None:
        # The loop's steps are not projected one by one: its end point is.
        with precision(dtype):
            Z = _project_rows(*place_whole((Z, problem.fitted)),
                              project=problem.project)
    return np.asarray(Z[:n_queries]), result.outcome


@partial(jax.jit, static_argnames=("project",))
def _project_rows(Zq, fitted, *, project):
    """``project(Zq, fitted)``, a block of rows at a time."""
    return map_row_blocks(lambda rows: project(Zq[rows], fitted), Zq.shape[0])


def minimize_rows(problem: RowProblem, Xq: np.ndarray, starts: np.ndarray, *,
                  method: str = "lm", name: str = "estimator") -> np.ndarray:
    """Minimise each row's loss from its own start; return the parameters.

    Parameters
    ----------
    problem : RowProblem
        Model, loss and fitted arrays.
    Xq : ndarray of shape (n_queries, n_outputs)
        Query rows (padded to the model's output columns).
    starts : ndarray of shape (n_queries, n_components)
        Starting parameters of each row.
    method : {"lm", "adam"}
        Levenberg-Marquardt per row, or fixed Adam steps.
    name : str
        Estimator name for messages.

    Returns
    -------
    ndarray of shape (n_queries, n_components)
        In the precision of `starts`. Rows that reached the iteration cap
        keep their best point and are reported by a ConvergenceWarning.
    """
    dtype = float_dtype(starts.dtype)
    if method == "lm":
        Z, outcome = _by_levenberg_marquardt(problem, Xq, starts, dtype)
    else:
        Z, outcome = _by_adam(problem, Xq, starts, dtype, name)
    settle(outcome, name)
    return Z
