"""What ``import gradest`` loads: not optax, which the first fit imports."""

import subprocess
import sys


def test_import_gradest_leaves_optax_for_the_first_fit():
    script = ("import sys, gradest; print('optax' in sys.modules); "
              "import numpy as np; gradest.GradLinearRegression(max_iter=3)"
              ".fit(np.arange(8.0)[:, None], np.arange(8.0)); "
              "print('optax' in sys.modules)")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == ["False", "True"]
