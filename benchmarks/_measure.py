"""Measuring helpers: interleaved medians, compile counts, memory, the lower bound,
the table's rows and fresh-process calls.

The case modules import this one and nothing of each other; ``run.py``
imports the cases (the import graph is a tree).

Every case compares gradest with its anchors in one process, so that they
share the machine's state; timings are repeated in turn (A B A B ...) and
reported as medians.
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import sklearn
from sklearn.exceptions import ConvergenceWarning

from gradest._engine import make_optimizer

__all__ = [
    "FIXED_MMAP_THRESHOLD",
    "CompileCounter",
    "call_in_subprocess",
    "interleaved_medians",
    "machine_description",
    "pass_pair_seconds",
    "peak_rss_mb",
    "quietly",
    "row",
    "seed_style_seconds",
    "timed",
    "WarmFitMemory",
]

RUN_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run.py")
_BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall-clock seconds of one call, and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved_medians(fns: dict[str, Callable[[], object]],
                        repeats: int) -> dict[str, float]:
    """Median seconds of each function, the functions called in turn each round.

    Interleaving spreads a change in machine load over every contender
    instead of penalising whichever ran during it.
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(timed(fn)[0])
    return {name: statistics.median(values) for name, values in samples.items()}


def time_to_objective(fits: dict[str, Callable[[float], object]],
                      objective: Callable[[str, object], float], tols: list[float],
                      repeats: int, relative_gap: float = 1e-6) -> dict:
    """Each contender's time to the same objective, not to its own idea of
    convergence.

    Every contender is fitted at every tolerance in `tols` (loosest first);
    the best objective any fit reaches is the target, and each contender is
    timed (interleaved medians over `repeats`) at its loosest tolerance
    within `relative_gap` of it. ``objective(name, model)`` is the common
    objective at a fitted model.

    Returns
    -------
    dict
        ``seconds`` and ``tol`` per contender that reached the target,
        ``models`` (the fit at the chosen tol), ``gaps`` (each contender's
        best relative gap), ``best`` and ``first_s`` (each one's first,
        compiling, fit).
    """
    values: dict[str, dict[float, float]] = {}
    first_s: dict[str, float] = {}
    for name, fit in fits.items():
        values[name] = {}
        for tol in tols:
            seconds, model = timed(lambda fit=fit, tol=tol: fit(tol))
            first_s.setdefault(name, seconds)
            values[name][tol] = objective(name, model)
    best = min(min(each.values()) for each in values.values())
    chosen = {}
    for name, each in values.items():
        good = [tol for tol in tols if each[tol] <= best + relative_gap * abs(best)]
        if good:
            chosen[name] = good[0]
    calls = {name: (lambda fit=fits[name], tol=tol: fit(tol))
             for name, tol in chosen.items()}
    return {"seconds": interleaved_medians(calls, repeats), "tol": chosen,
            "models": {name: call() for name, call in calls.items()},
            "gaps": {name: (min(each.values()) - best) / abs(best)
                     for name, each in values.items()},
            "best": best, "first_s": first_s}


class CompileCounter:
    """Counts XLA compilations while active; loads from the disk cache do not count.

    JAX reports a compile event for every program it needs, whether compiled
    or read from the persistent cache, and a cache-hit event for the latter.
    """

    _active: list["CompileCounter"] = []
    _registered = False

    def __init__(self):
        self.requests = 0
        self.cache_hits = 0

    @property
    def count(self) -> int:
        return self.requests - self.cache_hits

    @classmethod
    def _on_duration(cls, event: str, duration: float, **kwargs) -> None:
        if event == _BACKEND_COMPILE_EVENT:
            for counter in cls._active:
                counter.requests += 1

    @classmethod
    def _on_event(cls, event: str, **kwargs) -> None:
        if event == _CACHE_HIT_EVENT:
            for counter in cls._active:
                counter.cache_hits += 1

    def __enter__(self) -> "CompileCounter":
        if not CompileCounter._registered:
            jax.monitoring.register_event_duration_secs_listener(
                CompileCounter._on_duration)
            jax.monitoring.register_event_listener(CompileCounter._on_event)
            CompileCounter._registered = True
        CompileCounter._active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        CompileCounter._active.remove(self)


# The high-water mark before the last reset by WarmFitMemory.
_peak_before_reset_mb = 0.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux's VmHWM where there is one: ``getrusage``'s ``ru_maxrss`` survives
    ``exec``, so a process started by a big one would report its parent's
    peak.
    """
    try:
        return max(_peak_before_reset_mb, _high_water_mb())
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _high_water_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status")


class WarmFitMemory:
    """Extra peak memory of what runs inside the block, in MB.

    Linux lets a process reset its own high-water mark (``clear_refs`` 5), so
    the peak of one warm fit can be told apart from earlier ones and from the
    compiler's. `extra_mb` is None where that is not possible.
    """

    def __enter__(self) -> "WarmFitMemory":
        global _peak_before_reset_mb
        self.extra_mb = self._baseline = None
        try:
            _peak_before_reset_mb = peak_rss_mb()
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            self._baseline = _current_rss_mb()
        except OSError:
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self._baseline is not None:
            self.extra_mb = _high_water_mb() - self._baseline


def _matmul_pair(X, v):
    u = X @ v
    return (u.T @ X).T


def _vector_pair(X, v):
    # One output as vectors: XLA's CPU backend reads X faster for u @ X with
    # a vector u than with a one-column matrix.
    return (X @ v[:, 0] @ X)[:, None]


def _elementwise_pair(X, v):
    # The same products as multiply-and-sum, which XLA fuses into one loop:
    # cheaper than a matrix-product call when X is small.
    u = jnp.sum(X[:, :, None] * v[None, :, :], axis=1)
    return jnp.sum(X[:, :, None] * u[:, None, :], axis=0)


@partial(jax.jit, static_argnames=("pair", "n_pairs"))
def _pass_pairs(X, v, pair, n_pairs):
    # Each pair depends on the last, so that nothing can be skipped or
    # overlapped; the scaling keeps the values finite.
    def body(_, v):
        return pair(X, v) * (1.0 / X.shape[0])

    return jax.lax.fori_loop(0, n_pairs, body, v)


def pass_pair_seconds(X: np.ndarray, n_outputs: int = 1, repeats: int = 5) -> float:
    """Seconds for one forward and one backward pass over `X`, jitted.

    The time of one value and gradient of a linear model when nothing but
    reading X costs anything: the lower bound's unit. Pairs are looped inside
    one compiled call, so that no dispatch is counted; for small X, where a
    matrix-product call costs more than the arithmetic, the faster of that
    and a fused multiply-and-sum.
    """
    small = X.size <= 100_000
    n_pairs = 50 if small else 10
    forms = [_matmul_pair] + ([_vector_pair] if n_outputs == 1 else [])
    forms += [_elementwise_pair] if small else []
    best = np.inf
    with jax.enable_x64(X.dtype == np.float64):
        X_device = jax.device_put(X)
        v = jnp.ones((X.shape[1], n_outputs), X.dtype)
        for pair in forms:
            def run(pair=pair):
                return _pass_pairs(X_device, v, pair, n_pairs).block_until_ready()

            run()
            best = min(best, statistics.median(timed(run)[0] for _ in range(repeats)))
    return best / n_pairs


def seed_style_seconds(loss: Callable, params, solver: str, learning_rate: float,
                       n_steps: int, max_steps: int) -> tuple[float, int]:
    """Seconds the seeds' loop would take for `n_steps` steps, and steps timed.

    The seeds' style: a Python loop that calls ``jax.value_and_grad`` on the
    loss at every step and applies the same optax update outside `jax.jit`.
    One untimed step first (the seeds pay it once too); at most `max_steps`
    are timed and the time per step is multiplied out to `n_steps`.
    """
    optimizer = make_optimizer(solver, learning_rate)
    state = optimizer.init(params)

    def step(params, state):
        value, grad = jax.value_and_grad(loss)(params)
        updates, state = optimizer.update(grad, state, params, value=value,
                                          grad=grad, value_fn=loss)
        return optax.apply_updates(params, updates), state

    params, state = step(params, state)
    n_timed = max(1, min(n_steps, max_steps))
    start = time.perf_counter()
    for _ in range(n_timed):
        params, state = step(params, state)
    jax.block_until_ready(params)
    return (time.perf_counter() - start) / n_timed * max(n_steps, 1), n_timed


def machine_description() -> str:
    """CPU, cores, memory and library versions, for the results' header."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {memory_gb:.0f} GB RAM, "
            f"{jax.default_backend().upper()}; Python {platform.python_version()}, "
            f"JAX {jax.__version__}, scikit-learn {sklearn.__version__}, "
            f"NumPy {np.__version__}")


def row(case, what, gradest_s, *, seed_s=None, sklearn_s=None, sklearn_name="",
        bound_s=None, target="", met=None, note="", rss_mb=None, unit="s"):
    """One line of the results table.

    Times in seconds, None where not measured; `unit` is "copies" for a row
    whose gradest value counts copies of X instead.
    """
    return {"case": case, "what": what, "gradest_s": gradest_s, "seed_s": seed_s,
            "sklearn_s": sklearn_s, "sklearn_name": sklearn_name,
            "bound_s": bound_s, "target": target, "met": met, "note": note,
            "rss_mb": peak_rss_mb() if rss_mb is None else rss_mb, "unit": unit}


# glibc raises its threshold for serving large allocations from fresh pages
# after big ones are freed, after which a process reuses memory it already
# holds and a second fit shows no peak of its own. A fixed threshold returns
# every large buffer to the system, so that each fit's peak can be measured.
FIXED_MMAP_THRESHOLD = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


def call_in_subprocess(name: str, timeout: float = 1800, env=None, **kwargs):
    """Run the call `name` (of run.py's registry) in a fresh Python process.

    Returns its result, which carries ``peak_rss_mb``, the peak memory of that process.
    `env` adds environment variables.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        subprocess.run([sys.executable, RUN_PY, "--call", name, "--kwargs",
                        json.dumps(kwargs), "--json", out],
                       check=True, timeout=timeout, env={**os.environ, **(env or {})})
        with open(out) as result:
            return json.load(result)


def quietly(fn):
    """`fn()`, with scikit-learn's ConvergenceWarning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn()
