"""JAX's persistent compilation cache, on the user's request."""

import os

import jax

__all__ = ["set_compilation_cache"]


def set_compilation_cache(path: str | os.PathLike | None) -> None:
    """Keep compiled code on disk, so that a new process does not compile again.

    gradest compiles its optimisation loop once per problem shape, objective
    and solver, which costs a new process from a fraction of a second to a
    few seconds per problem. With a cache directory, JAX writes each compiled
    program there and a later process loads it instead of compiling.

    Parameters
    ----------
    path : str, path-like or None
        Directory of the cache, created if missing. None switches the cache
        off for programs compiled from now on.

    Notes
    -----
    This is JAX's persistent compilation cache: it applies to every JAX
    computation of the process, not only gradest's, which is why gradest
    never switches it on by itself. It keeps every program, however quick to
    compile (JAX's default keeps only those over one second). Worker
    processes, such as those of ``GridSearchCV(n_jobs=...)``, do not inherit
    a call to this function; set the environment variables
    ``JAX_COMPILATION_CACHE_DIR`` (the directory),
    ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0`` and
    ``JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1`` before starting them
    instead. Whoever can write to the directory can run code in the processes
    that read it: do not share it with users you do not trust.

    Examples
    --------
    >>> import tempfile
    >>> from gradest import set_compilation_cache
    >>> set_compilation_cache(tempfile.mkdtemp())
    >>> set_compilation_cache(None)
    """
    from jax.experimental.compilation_cache import compilation_cache

    if path is not None:
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    # JAX decides once per process whether a cache is in use; start over so
    # that a call after the first compilation takes effect.
    compilation_cache.reset_cache()
