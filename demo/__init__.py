"""The gradest demo: ``python -m demo`` from the repository's root (``make demo``).

Not part of the library: it compares gradest's estimators with scikit-learn's
on the project's starting examples and draws figures with matplotlib.
"""
