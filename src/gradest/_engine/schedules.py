"""Learning-rate schedules: the rate of each step, inside the compiled loop.

The estimators take the schedule as a string (``learning_rate_schedule``) and
its numbers as plain parameters. The kind is a static choice of the compiled
loop; the numbers (the initial rate, ``power_t``, ``warmup_fraction``, the
number of steps) are traced, so a search over them compiles once per kind.

The rate at step ``t`` (0-based: the number of steps taken before it) of a
run of ``T`` steps (``max_iter`` iterations, times the mini-batches of an
epoch), with initial rate ``eta0``:

- "constant": ``eta0``;
- "invscaling": ``eta0 / (t + 1) ** power_t``, scikit-learn's ``SGDRegressor``
  rule (its step counter starts at 1);
- "adaptive": ``eta0`` divided by 5 each time the objective (or, with early
  stopping, the validation score) has not improved by ``tol`` for
  ``n_iter_no_change`` iterations in a row, as in scikit-learn's SGD; the
  loop carries the divisor and stops once the rate would fall below 1e-6;
- "cosine": optax's cosine decay from ``eta0`` to 0 over the ``T`` steps,
  ``0.5 * eta0 * (1 + cos(pi * t / T))``;
- "warmup_cosine": optax's warmup-cosine schedule, a linear rise from 0 to
  ``eta0`` over the first ``W = warmup_fraction * T`` steps, then the cosine
  decay to 0 over the remaining ``T - W``.

optax's schedules take their step counts as Python numbers (they check them
when built), so the cosine schedules are evaluated at the fraction of the
run done, ``t / T``, with one unit of steps: the same values, with ``T`` and
``W`` traced.
"""

import jax.numpy as jnp

__all__ = ["ADAPTIVE_FACTOR", "ADAPTIVE_MIN_RATE", "SCHEDULES", "scheduled_rate"]

SCHEDULES: tuple[str, ...] = ("constant", "invscaling", "adaptive", "cosine",
                              "warmup_cosine")
# scikit-learn's SGD "adaptive": the rate is divided by 5, and the fit ends
# once it is at most 1e-6.
ADAPTIVE_FACTOR = 5.0
ADAPTIVE_MIN_RATE = 1e-6


def scheduled_rate(kind: str, step, total, learning_rate, power_t,
                   warmup_fraction):
    """The rate of step `step` of `total` under schedule `kind`.

    Parameters
    ----------
    kind : str
        A name from :data:`SCHEDULES`; static.
    step : jax.Array
        Steps taken before this one (0-based), traced.
    total : jax.Array
        Steps of the whole run, traced.
    learning_rate : jax.Array
        The initial rate ``eta0``, traced.
    power_t : jax.Array
        Exponent of "invscaling", traced.
    warmup_fraction : jax.Array
        Fraction of the run spent warming up in "warmup_cosine", traced.

    Returns
    -------
    jax.Array
        The rate, in the dtype of `learning_rate`. "constant" and
        "adaptive" return `learning_rate` itself (the loop applies the
        adaptive divisor).
    """
    if kind in ("constant", "adaptive"):
        return learning_rate
    dtype = jnp.result_type(learning_rate)
    if kind == "invscaling":
        return learning_rate / (step + 1).astype(dtype) ** power_t
    import optax  # imported on first use: see solvers.py

    progress = step.astype(dtype) / jnp.maximum(total, 1).astype(dtype)
    cosine = optax.cosine_decay_schedule(learning_rate, decay_steps=1)
    if kind == "cosine":
        return cosine(progress)
    if kind == "warmup_cosine":
        rise = optax.linear_schedule(jnp.zeros_like(learning_rate), learning_rate,
                                     transition_steps=1)
        # A zero-length warmup divides by zero in the branch not taken.
        warmup = jnp.asarray(warmup_fraction, dtype)
        schedule = optax.join_schedules(
            [lambda p: rise(p / warmup),
             lambda p: cosine(p / (1 - warmup))], [warmup])
        return jnp.asarray(schedule(progress), dtype)
    raise ValueError(f"Unknown learning_rate_schedule {kind!r}; expected one of "
                     f"{SCHEDULES}.")
