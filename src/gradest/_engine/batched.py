"""Batched fits: many members (folds x candidates) minimised in one compiled loop.

A member is one :class:`~.problem.Problem` with its
:class:`~.problem.Settings`, exactly what a separate :func:`~.minimize.minimize`
would be given. Members whose static choices (objective, solver, penalty,
shapes) agree are stacked along a leading member axis (their start, data,
weights, hyperparameters, learning rate, tolerances) and run as ``jax.vmap``
of the one chunk of :mod:`.loop`: the same iterations, the same stopping
tests. A member that has stopped keeps its state while the others go on (a
``while_loop`` under ``vmap`` only updates the members whose condition
holds), so each member ends where its separate fit would, to the rounding of
the batched sums. Members are run in groups small enough for
:data:`MEMBER_BYTES` of device memory.
"""

import time

import jax
import numpy as np

from .data import float_dtype, precision
from .interrupts import raise_if_interrupted
from .loop import _STATIC, COMPILER_OPTIONS, SMALL_PROBLEM, _chunk
from .minimize import _FIRST_CHUNK, _collection_paused, _next_limit, _prepare, finish
from .problem import HISTORY_KEYS, Problem, Settings
from .solvers import resolve_solver, solver_spec

__all__ = ["MEMBER_BYTES", "minimize_batched"]

# Device memory one group of members may take for its stacked data, weights
# and loop state; larger batches are run in several groups.
MEMBER_BYTES = 512 * 2**20
# The settings that decide the compiled code (or the driver): members that
# differ in them cannot share a batch.
_SHARED_SETTINGS = ("solver", "batch_size", "chunk_size", "record_history",
                    "schedule", "shuffle")


def _members_chunk(state, data, weights, hyper, learning_rate, tol, rtol,
                   max_iter, min_iter, fresh, limit, controls, validation,
                   **static):
    """:func:`~.loop._chunk` mapped over a leading member axis of every
    argument but `fresh` and `limit`."""
    def one(state, data, weights, hyper, learning_rate, tol, rtol, max_iter,
            min_iter, controls, validation):
        return _chunk(state, data, weights, hyper, learning_rate, tol, rtol,
                      max_iter, min_iter, fresh, limit, controls, validation,
                      **static)

    return jax.vmap(one)(state, data, weights, hyper, learning_rate, tol, rtol,
                         max_iter, min_iter, controls, validation)


run_members_chunk = jax.jit(_members_chunk, static_argnames=_STATIC,
                            compiler_options=COMPILER_OPTIONS)
# As loop.run_small_chunk: small batches compile faster than they run.
run_small_members_chunk = jax.jit(
    _members_chunk, static_argnames=_STATIC,
    compiler_options={**COMPILER_OPTIONS, "xla_backend_optimization_level": 0})


def minimize_batched(problems: list[Problem], settings: list[Settings],
                     lanes: list | None = None) -> list:
    """Minimise every member, batching those that can share a compiled loop.

    Parameters
    ----------
    problems : list of Problem
        One per member.
    settings : list of Settings
        One per member; callbacks and progress reports are not run in a batch.

    Returns
    -------
    list of MinimizeResult or ValueError
        One per member, in order: its result, or the error its separate fit
        would have raised (a divergence), so that one failing candidate does
        not end a search.
    """
    if len(problems) != len(settings):
        raise ValueError(f"{len(problems)} problems but {len(settings)} settings.")
    settings = [s.with_options(solver=resolve_solver(
        s.solver, smooth=p.smooth, full_batch=s.batch_size is None,
        curvature=p.curvature, differentiable=p.differentiable))
        for p, s in zip(problems, settings, strict=True)]
    lanes = [None] * len(problems) if lanes is None else list(lanes)
    groups: dict = {}
    for index, (problem, member) in enumerate(zip(problems, settings, strict=True)):
        groups.setdefault((_group_key(problem, member), lanes[index]), []).append(index)
    results: list = [None] * len(problems)
    for indices in groups.values():
        for part in _by_memory(indices, problems):
            members = [(problems[i], settings[i]) for i in part]
            for i, result in zip(part, _run_group(members), strict=True):
                results[i] = result
    return results


def _group_key(problem: Problem, settings: Settings):
    """What members of one batch must share: dtype, shapes and static choices."""
    shapes = jax.tree.map(lambda leaf: (np.shape(leaf), np.asarray(leaf).dtype.str),
                          (problem.params, problem.data, problem.weights,
                           problem.validation, sorted(problem.hyper)))
    return (problem.objective, problem.penalty, tuple(problem.penalized),
            problem.score if problem.validation is not None else None,
            str(jax.tree.structure(shapes)), tuple(jax.tree.leaves(shapes)),
            tuple(getattr(settings, name) for name in _SHARED_SETTINGS))


def _by_memory(indices: list[int], problems: list[Problem]) -> list[list[int]]:
    """`indices` in groups whose stacked arrays fit :data:`MEMBER_BYTES`."""
    problem = problems[indices[0]]
    leaves = jax.tree.leaves((problem.params, problem.data, problem.weights))
    # The loop state holds a few copies of the parameters (solver moments,
    # best iterate, gradient); the data dominates anyway.
    size = sum(getattr(leaf, "nbytes", np.asarray(leaf).nbytes) for leaf in leaves)
    per_group = max(1, int(MEMBER_BYTES // max(size, 1)))
    return [indices[i:i + per_group] for i in range(0, len(indices), per_group)]


def _stack(trees: list):
    """The leaves of identically shaped pytrees stacked along a new first axis."""
    return jax.tree.map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]),
                        *trees)


def _run_group(members: list[tuple[Problem, Settings]]) -> list:
    """One batched loop over members that share their static choices."""
    first_problem, first_settings = members[0]
    dtype = float_dtype(first_problem.weights.dtype)
    with precision(dtype):
        runs = [_prepare(problem, member, None) for problem, member in members]
        # Stacked on the host, then moved to the device once, committed, as
        # minimize places a single member.
        state, arrays, scalars, controls = jax.device_put(
            _stack([jax.device_get((run.state, run.arrays, run.scalars, run.controls))
                    for run in runs]), jax.devices()[0])
        static = runs[0].static
        spec = solver_spec(first_settings.solver)
        n_rows = first_problem.weights.shape[0]
        small = (len(members) * n_rows * np.size(runs[0].state.params)
                 * spec.typical_iterations) <= SMALL_PROBLEM
        chunk = run_small_members_chunk if small else run_members_chunk
        records = {key: [[] for _ in members] for key in HISTORY_KEYS}
        histories = [[np.asarray(run.state.params)[None]] for run in runs]
        started = time.perf_counter()
        fresh, limit, running = True, _FIRST_CHUNK, True
        while running:
            chunk_start = time.perf_counter()
            with _collection_paused():
                state, n_done, chunk_records, chunk_history = chunk(
                    state, *arrays, *scalars, np.bool_(fresh), np.int32(limit),
                    *controls, **static)
            fresh = False
            raise_if_interrupted()
            n_done, status = np.asarray(n_done), np.asarray(state.status)
            running = bool(np.any(status == 0))
            now = time.perf_counter()
            limit = _next_limit(now - chunk_start, int(n_done.max(initial=0)),
                                first_settings.chunk_size)
            losses, scores, rates = (np.asarray(r) for r in chunk_records)
            if not spec.uses_learning_rate:
                rates = np.full_like(rates, np.nan)
            for k, done in enumerate(n_done.tolist()):
                records["loss"][k].append(losses[k, :done])
                records["validation_score"][k].append(scores[k, :done])
                records["learning_rate"][k].append(rates[k, :done])
                records["time"][k].append(
                    (chunk_start - started)
                    + (now - chunk_start) * np.arange(1, done + 1) / max(done, 1))
                if first_settings.record_history:
                    histories[k].append(np.asarray(chunk_history)[k, :done])
        state = jax.device_get(state)
    results: list = []
    for k, ((problem, member), run) in enumerate(zip(members, runs, strict=True)):
        own = jax.tree.map(lambda leaf, k=k: leaf[k], state)
        own_records = {key: np.concatenate(records[key][k]).astype(
            np.float64 if key == "time" else np.asarray(own.value).dtype)
            for key in HISTORY_KEYS}
        try:
            results.append(finish(problem, member, run, own, own_records,
                                  histories[k]))
        except ValueError as error:
            results.append(error)
    return results

