"""Data parallelism: rows of the data spread over every device JAX sees.

When JAX sees more than one device (several GPUs, or CPU devices made with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``), the engine places the
per-sample arrays with their rows split evenly across the devices and
replicates the parameters. Under `jax.jit`, XLA then computes each device's
share of the objective and gradient where its rows live and sums the shares,
so one fit uses every device with the same result as on one device, up to
the order of floating-point additions. Nothing changes on a single device.
"""

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["device_count", "place", "place_whole", "row_blocks"]


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
