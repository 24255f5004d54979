"""Data parallelism: rows of the data spread over every device JAX sees.

When JAX sees more than one device (several GPUs, or CPU devices made with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``), the engine places the
per-sample arrays with their rows split evenly across the devices and
replicates the parameters. Under `jax.jit`, XLA then computes each device's
share of the objective and gradient where its rows live and sums the shares,
so one fit uses every device with the same result as on one device, up to
the order of floating-point additions. Nothing changes on a single device.
"""

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["device_count", "follow_thread_limit", "place", "place_whole", "row_blocks"]

# XLA's switch for its CPU thread pool (Eigen's), in XLA_FLAGS.
_XLA_THREADS_FLAG = "xla_cpu_multi_thread_eigen"


def follow_thread_limit(environ=os.environ) -> bool:
    """Keep XLA's CPU code on one thread where the process is told to use one.

    joblib's process workers (``GridSearchCV(n_jobs=...)``, ``cross_validate``)
    get ``OMP_NUM_THREADS`` set to the cores per worker, so that the BLAS of
    each worker leaves the others their cores; XLA ignores it and runs a
    thread pool as large as the machine in every worker. With two workers on
    two cores that oversubscription cost a 5 x 5 grid over breast cancer
    6.9-7.4 s instead of 5.4 s. So where ``OMP_NUM_THREADS`` is 1 and
    ``XLA_FLAGS`` does not already name the switch, this adds
    ``--xla_cpu_multi_thread_eigen=false`` to ``XLA_FLAGS``; XLA reads it
    when JAX first computes in the process, so a process that already has
    leaves it alone. Set the switch in ``XLA_FLAGS`` yourself to decide
    otherwise.

    Returns
    -------
    bool
        Whether the flag was added.
    """
    flags = environ.get("XLA_FLAGS", "")
    if environ.get("OMP_NUM_THREADS", "").strip() != "1" or _XLA_THREADS_FLAG in flags:
        return False
    environ["XLA_FLAGS"] = f"{flags} --{_XLA_THREADS_FLAG}=false".strip()
    return True


def device_count() -> int:
    """Number of devices the rows would be spread over."""
    return jax.device_count()


def row_blocks(n_rows: int) -> int:
    """Blocks the rows are cut into by :func:`place`: one a device, or one.

    A data structure that must be built in blocks (a sparse design, whose
    entries per row vary) asks here before :func:`place` splits it.
    """
    n_devices = jax.device_count()
    return n_devices if n_devices > 1 and n_rows % n_devices == 0 else 1


def place(rows: Any, replicated: Any, n_rows: int, *, shard: bool | None = None):
    """Put arrays on the devices: `rows` split by rows, `replicated` whole on each.

    Parameters
    ----------
    rows : pytree of array
        Per-sample arrays: those whose leading axis has `n_rows` rows are
        split; any other leaf (such as a fitted model riding along with the
        data) is replicated. A node with ``place_blocks(put_split, put_whole)``
        method (a sparse design built in :func:`row_blocks` blocks) places
        its own parts.
    replicated : pytree of array
        Arrays every device needs whole (parameters, solver state).
    n_rows : int
        Number of rows.
    shard : bool or None, default=None
        None shards when there is more than one device and the rows divide
        evenly among them; False never shards; True insists (ValueError if
        the rows do not divide evenly).

    Returns
    -------
    rows, replicated : pytrees of jax.Array
    """
    n_devices = jax.device_count()
    if shard is None:
        shard = n_devices > 1 and n_rows % n_devices == 0
    if not shard or n_devices == 1:
        # Committed to one device, as the results of a jitted call are.
        device = jax.devices()[0]
        return jax.device_put(rows, device), jax.device_put(replicated, device)
    if n_rows % n_devices:
        raise ValueError(
            f"Cannot split {n_rows} rows evenly over {n_devices} devices.")
    mesh = Mesh(np.array(jax.devices()), ("rows",))
    by_rows = NamedSharding(mesh, PartitionSpec("rows"))
    whole = NamedSharding(mesh, PartitionSpec())

    def put(leaf):
        if hasattr(leaf, "place_blocks"):
            # A blocked structure (a sparse design): one block a device.
            return leaf.place_blocks(lambda a: jax.device_put(a, by_rows),
                              lambda a: jax.device_put(a, whole))
        split = np.ndim(leaf) >= 1 and np.shape(leaf)[0] == n_rows
        return jax.device_put(leaf, by_rows if split else whole)

    return (jax.tree.map(put, rows, is_leaf=lambda leaf: hasattr(leaf, "place_blocks")),
            jax.device_put(replicated, whole))


def place_whole(tree: Any) -> Any:
    """Put every array of `tree` whole on the first device, committed.

    For one-off passes over small arrays (a model and a few queries): the
    results of a jitted call are committed to a device, and committed inputs
    make every call match one entry of the compiled function's cache.
    """
    return jax.device_put(tree, jax.devices()[0])
