import os

# scikit-learn's array-API common check runs only when SciPy's array-API
# support is switched on before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")


import jax
import pytest


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    The suite compiles thousands of programs in one process; each holds
    memory mappings of its machine code, and together they approached the
    kernel's limit of 65,530 mappings a process (vm.max_map_count), past
    which XLA's compiler crashed in a late module. No test counts
    compilations across modules.
    """
    yield
    jax.clear_caches()
