"""The engine: everything between an estimator's NumPy arrays and compiled code.

An estimator validates its input, standardises it, states its objective and
starting point as a :class:`Problem`, calls :func:`minimize` (or
:func:`minimize_rows` for independent per-row problems) and maps the result
back. The modules:

- :mod:`.data`: precision, the padding policy, aligned buffers, one-off
  compiled passes (:func:`run_pass`);
- :mod:`.placement`: rows split over every device JAX sees;
- :mod:`.solvers`: the table of solvers and what each needs;
- :mod:`.sparse`: sparse designs (CSR with implicit centring) and the
  products every linear objective uses;
- :mod:`.host`: those products computed by SciPy, called from compiled code;
- :mod:`.gram`: the weighted Gram of a few columns (a Hessian block);
- :mod:`.fista`: accelerated proximal gradient steps, for nonsmooth penalties;
- :mod:`.schedules`: learning-rate schedules, evaluated in the loop;
- :mod:`.blocks`: row-blocked evaluation for objectives quadratic in the rows;
- :mod:`.iterations`: one iteration (full batch or mini-batch epoch) and the
  tests that end the loop;
- :mod:`.loop`: the compiled loop, chunks of those iterations;
- :mod:`.problem`: the problem, the settings and the result of a minimisation;
- :mod:`.minimize`: the front end that drives the loop;
- :mod:`.batched`: many members (folds x candidates) in one vmapped loop;
- :mod:`.rowproblem`: the statement of a per-row problem (RowProblem);
- :mod:`.rowwise`: per-row minimisation (Levenberg-Marquardt, fixed Adam steps);
- :mod:`.outcome`: how every loop ends, and the warnings and errors it raises;
- :mod:`.cache`: JAX's persistent compilation cache, on request;
- :mod:`.interrupts`: Ctrl-C kept where other code would swallow it.
"""

from .batched import MEMBER_BYTES, minimize_batched
from .blocks import map_row_blocks
from .cache import set_compilation_cache
from .data import (
    PAD_CHEAP_ROWS,
    PAD_QUADRATIC_ROWS,
    aligned_zeros,
    bucket_columns,
    bucket_rows,
    float_dtype,
    pad,
    padded_weights,
    run_pass,
)
from .gram import weighted_gram
from .minimize import minimize
from .outcome import Outcome, Status, caller_stacklevel, settle
from .problem import HISTORY_KEYS, MinimizeResult, Problem, Settings
from .rowproblem import RowProblem
from .rowwise import minimize_rows
from .schedules import SCHEDULES
from .solvers import (
    AUTO,
    SOLVERS,
    SolverSpec,
    make_optimizer,
    resolve_solver,
    solver_spec,
)
from .sparse import (
    SparseDesign,
    is_sparse,
    matvec,
    rmatvec,
    sparse_design,
    take_rows,
)

__all__ = [
    "AUTO", "HISTORY_KEYS", "MEMBER_BYTES", "PAD_CHEAP_ROWS", "PAD_QUADRATIC_ROWS",
    "SCHEDULES",
    "SOLVERS", "MinimizeResult", "Outcome", "Problem", "RowProblem", "Settings",
    "SolverSpec", "SparseDesign", "Status", "aligned_zeros", "bucket_columns",
    "caller_stacklevel",
    "bucket_rows", "float_dtype", "is_sparse", "make_optimizer", "map_row_blocks",
    "matvec", "minimize", "minimize_batched", "minimize_rows", "pad", "padded_weights",
    "resolve_solver", "rmatvec", "run_pass", "set_compilation_cache", "settle",
    "solver_spec", "sparse_design", "take_rows", "weighted_gram",
]
